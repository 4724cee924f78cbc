"""A real MTA checks the lab's tokens: Debian's Postfix, with Dovecot SASL and Dovecot's ``oauth2``
passdb asking the lab's authorization server (token introspection, RFC 7662) on loopback.

The token comes from the lab by the device flow, as a learner gets it; the client is stdlib
``smtplib`` over STARTTLS, verifying Postfix's certificate.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import smtplib
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from dovecot import Dovecot, introspection_url
from dovecot import skip_reason as dovecot_skip
from postfix import HOSTNAME, Postfix
from postfix import skip_reason as postfix_skip

import smtplab
from smtplab.engine.options import ProbeOptions
from smtplab.lab import Lab
from smtplab.lab.oauth import SMTP_SCOPE, oauthbearer_string, xoauth2_string

pytestmark = [
    pytest.mark.postfix,
    pytest.mark.skipif(
        bool(postfix_skip() or dovecot_skip()), reason=str(postfix_skip() or dovecot_skip())
    ),
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _post(url: str, data: dict[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(url, urllib.parse.urlencode(data).encode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.load(e)


def device_token(lab: Lab, scope: str = SMTP_SCOPE) -> str:
    with urllib.request.urlopen(lab.oauth.metadata_url, timeout=5) as r:
        meta = json.load(r)
    _, dev = _post(
        meta["device_authorization_endpoint"], {"client_id": lab.oauth.client_id, "scope": scope}
    )
    assert lab.oauth.approve(dev["user_code"])
    poll = {"grant_type": DEVICE_GRANT, "device_code": dev["device_code"]}
    status, body = _post(meta["token_endpoint"], {**poll, "client_id": lab.oauth.client_id})
    assert status == 200, body
    token: str = body["access_token"]
    return token


@pytest.fixture(scope="module")
def mta() -> Iterator[tuple[Lab, Postfix]]:
    with Lab("open-internet") as lab:
        client_id, secret = lab.oauth.mail_server_credentials
        url = introspection_url(lab.oauth.introspection_url, client_id, secret)
        with Dovecot(url) as dovecot, Postfix(dovecot_socket=dovecot.socket) as pf:
            yield lab, pf


def _client(pf: Postfix) -> smtplib.SMTP:
    ctx = ssl.create_default_context(cafile=str(pf.cert_file))
    client = smtplib.SMTP("127.0.0.1", pf.ports["submission"], timeout=10)
    client._host = HOSTNAME  # type: ignore[attr-defined]  # verify the name on the certificate
    client.starttls(context=ctx)
    client.ehlo()
    return client


def _xoauth2(user: str, token: str) -> Any:
    def answer(challenge: bytes | None = None) -> str:
        return "" if challenge is not None else xoauth2_string(user, token)

    return answer


def test_postfix_offers_the_token_mechanisms_after_starttls(mta: tuple[Lab, Postfix]) -> None:
    _, pf = mta
    with smtplib.SMTP("127.0.0.1", pf.ports["submission"], timeout=10) as client:
        client.ehlo()
        assert "auth" not in client.esmtp_features  # smtpd_tls_auth_only
    with _client(pf) as client:
        assert set(client.esmtp_features["auth"].upper().split()) == {"XOAUTH2", "OAUTHBEARER"}


def test_a_lab_token_logs_in_to_postfix_with_xoauth2(mta: tuple[Lab, Postfix]) -> None:
    lab, pf = mta
    token = device_token(lab)
    with _client(pf) as client:
        assert client.auth("XOAUTH2", _xoauth2("student", token))[0] == 235
    raw = base64.b64encode(oauthbearer_string("student", token).encode()).decode()
    with _client(pf) as client:
        assert client.docmd("AUTH", "OAUTHBEARER " + raw)[0] == 235


@pytest.mark.parametrize("length", [2500])
def test_smtplab_logs_in_to_postfix_with_a_microsoft_length_token(
    mta: tuple[Lab, Postfix], length: int
) -> None:
    """A real MTA takes the long-token login as smtplab sends it (RFC 4954 §4: AUTH XOAUTH2
    alone, the token after Postfix's empty 334); Dovecot checks the token with the lab."""
    lab, pf = mta
    lab.oauth.token_length = length
    try:
        token = device_token(lab)
    finally:
        lab.oauth.token_length = 0
    opts = ProbeOptions.create(
        "127.0.0.1", pf.ports["submission"], mode="starttls", timeout=10,
        cafile=str(pf.cert_file), auth=("student", token),
    )  # fmt: skip
    r = smtplab.probe(dataclasses.replace(opts, auth_mechanism="XOAUTH2"))
    assert "auth_ok" in {f.code for f in r.findings}, (r.error, r.findings, r.transcript)
    sent = [x.text for x in r.transcript if x.dir == "client"]
    assert "AUTH XOAUTH2" in sent and token[:40] not in json.dumps(r.to_record(), default=str)


@pytest.mark.parametrize("case", ["made-up", "wrong-user", "wrong-scope", "revoked", "expired"])
def test_postfix_refuses_a_bad_token(mta: tuple[Lab, Postfix], case: str) -> None:
    lab, pf = mta
    user = "student"
    if case == "made-up":
        token = "lab-made-up-token"
    elif case == "wrong-user":
        token, user = device_token(lab), "someone-else"
    elif case == "wrong-scope":  # Dovecot checks no scope: the AS answers it "active": false
        token = device_token(lab, scope="profile")
    elif case == "revoked":
        token = device_token(lab)
        assert lab.oauth.revoke(token)
    else:
        lab.oauth.token_lifetime = 1
        try:
            token = device_token(lab)
        finally:
            lab.oauth.token_lifetime = 600
        time.sleep(1.5)
    with _client(pf) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.auth("XOAUTH2", _xoauth2(user, token))
        assert info.value.smtp_code == 535
        assert client.docmd("MAIL", "FROM:<student@lab.example>")[0] != 250 or (
            client.docmd("RCPT", "TO:<friend@example.org>")[0] == 554
        )
