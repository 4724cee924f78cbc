"""The lab's OAuth-only submission profile: oauth.lab.example on 587, where a password cannot work.

Real servers on loopback: the probe, the stdlib client and raw commands against the lab.
"""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator

import pytest

import smtplab
from smtplab.lab import Lab, catalog

HOST, PORT = "oauth.lab.example", 587


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("open-internet") as running:
        yield running


def test_the_profile_is_planned_in_open_internet_only_on_587() -> None:
    plans = {(p.host, p.port): p for p in catalog.plan(catalog.SCENARIOS["open-internet"])}
    assert plans[HOST, PORT].profile == "submission-oauth"
    assert "password will not work" in plans[HOST, PORT].description
    assert {plans[HOST, p].behaviour for p in (25, 465, 2525)} == {"refused"}
    assert "submission-oauth" in catalog.PROFILES
    others = [name for name, sc in catalog.SCENARIOS.items() if HOST in sc.hosts]
    assert others == ["open-internet"]


def test_a_probe_sees_only_oauth_mechanisms_and_only_after_tls(lab: Lab) -> None:
    r = smtplab.probe(HOST, PORT, lab=lab, timeout=3)
    assert r.outcome == "open"
    assert r.tls_mode == "starttls" and r.cert_verified is True
    assert list(r.auth_before_tls or []) == []
    assert set(r.auth_after_tls or []) == {"XOAUTH2", "OAUTHBEARER"}


def test_a_password_will_not_work_here(lab: Lab) -> None:
    with lab.smtp(HOST, PORT) as client:
        client.starttls(context=lab.ssl_context())
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"XOAUTH2", "OAUTHBEARER"}
        with pytest.raises(smtplib.SMTPException, match="No suitable authentication method"):
            client.login(*lab.credentials)
        user, password = lab.credentials
        plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        code, _ = client.docmd("AUTH", "PLAIN " + plain)
        assert code == 504  # the mechanism is not offered at all
        code, _ = client.docmd("MAIL", "FROM:<student@lab.example>")
        assert code == 530  # still not logged in
    assert lab.outbox == [] or all(m.host != HOST for m in lab.outbox)


def test_tokens_are_read_inline_or_after_a_challenge_and_refused(lab: Lab) -> None:
    token = base64.b64encode(b"user=student\x01auth=Bearer made-up\x01\x01").decode()
    with lab.smtp(HOST, PORT) as client:
        client.starttls(context=lab.ssl_context())
        client.ehlo()
        code, text = client.docmd("AUTH", "XOAUTH2 " + token)
        assert code == 535 and b"no OAuth tokens" in text
        code, _ = client.docmd("AUTH", "OAUTHBEARER")
        assert code == 334  # the server asks for the token
        code, _ = client.docmd(base64.b64encode(b"n,,\x01auth=Bearer made-up\x01\x01").decode())
        assert code == 535


def test_oauth_is_not_offered_before_starttls(lab: Lab) -> None:
    with lab.smtp(HOST, PORT) as client:
        client.ehlo()
        assert "auth" not in client.esmtp_features
        code, _ = client.docmd("AUTH", "XOAUTH2 dG9rZW4=")
        assert code == 530  # STARTTLS first
