"""The probe against a real Postfix (Debian's package) on loopback, cross-checked with smtplib.

One Postfix instance serves the whole session (see ``tests/postfix.py``): a 25-style relay with
STARTTLS, 587- and 2525-style submission that require STARTTLS and offer AUTH only inside TLS,
and a 465-style implicit-TLS service. Its certificate is self-signed, so every TLS probe must
report an encrypted but unauthenticated connection — and a verified one once we trust it.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest
from fresh_python import probe_in_a_fresh_python
from mta import auth_of, codes, features, probe_cli_json, running, unverified
from postfix import HOSTNAME, Postfix, skip_reason

import smtplab
from smtplab import schema

pytestmark = pytest.mark.postfix

STARTTLS_SERVICES = ("smtp", "submission", "alt")
SUBMISSION_AUTH = ("PLAIN", "LOGIN")


@pytest.fixture(scope="session")
def postfix() -> Iterator[Postfix]:
    yield from running(skip_reason(), lambda: Postfix().start())


def expected_auth(pf: Postfix, service: str) -> tuple[str, ...]:
    return SUBMISSION_AUTH if pf.sasl and service != "smtp" else ()


def test_the_config_passes_postfix_check(postfix: Postfix) -> None:
    text = postfix.check()
    assert "fatal" not in text and "error" not in text.lower(), text


@pytest.mark.parametrize("service", STARTTLS_SERVICES)
def test_starttls_services(postfix: Postfix, service: str) -> None:
    r = smtplab.probe("127.0.0.1", postfix.ports[service], timeout=3)
    assert r.outcome == "open", (r.error, r.transcript)
    assert r.banner_code == 220 and HOSTNAME in (r.banner or "")
    assert r.tls_mode == "starttls" and r.starttls_offered is True
    assert r.tls_version in ("TLSv1.2", "TLSv1.3") and r.tls_cipher
    # AUTH only inside TLS on the submission services (smtpd_tls_auth_only), never on the relay
    assert r.auth_before_tls == ()
    assert r.auth_after_tls == expected_auth(postfix, service)
    if postfix.sasl:
        assert r.role == ("relay" if service == "smtp" else "submission-starttls")
    # the self-signed certificate: encrypted, not authenticated — said as a finding
    assert r.cert_verified is False and "self-signed" in (r.cert_error or "")
    assert HOSTNAME in (r.cert_subject or "") and "127.0.0.1" in r.cert_san
    assert "cert_self_signed" in codes(r)
    assert r.top_finding is not None and r.top_finding.code == "cert_self_signed"


def test_implicit_tls_service(postfix: Postfix) -> None:
    port = postfix.ports["submissions"]
    r = smtplab.probe("127.0.0.1", port, mode="tls", timeout=3)
    assert r.outcome == "open", (r.error, r.transcript)
    assert r.tls_mode == "implicit" and r.banner_code == 220
    assert r.auth_before_tls is None and r.auth_after_tls == expected_auth(postfix, "submissions")
    if postfix.sasl:
        assert r.role == "submission-implicit"
    assert r.cert_verified is False and "cert_self_signed" in codes(r)


def test_trusting_the_certificate_makes_it_verified(postfix: Postfix) -> None:
    for service, mode in (("submission", "auto"), ("submissions", "tls")):
        r = smtplab.probe(
            "127.0.0.1", postfix.ports[service], mode=mode, timeout=3, cafile=str(postfix.cert_file)
        )
        assert r.cert_verified is True and r.cert_error is None, (service, r.cert_error)
        assert not codes(r) & {"cert_self_signed", "cert_untrusted", "cert_name_mismatch"}


@pytest.mark.parametrize("service", STARTTLS_SERVICES)
def test_capabilities_equal_smtplib_before_and_after_starttls(
    postfix: Postfix, service: str
) -> None:
    port = postfix.ports[service]
    before = smtplab.probe("127.0.0.1", port, mode="plain", timeout=3)
    after = smtplab.probe("127.0.0.1", port, mode="starttls", timeout=3)
    with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
        s.ehlo()
        assert set(before.extension_keywords) == features(s)
        assert before.auth_before_tls == auth_of(s) == ()
        assert "STARTTLS" in features(s)
        s.starttls(context=unverified())
        s.ehlo()
        assert set(after.extension_keywords) == features(s)
        assert after.auth_after_tls == auth_of(s) == expected_auth(postfix, service)
        assert "STARTTLS" not in features(s)
    assert before.tls_mode == "none" and after.tls_mode == "starttls"


def test_capabilities_equal_smtplib_on_implicit_tls(postfix: Postfix) -> None:
    port = postfix.ports["submissions"]
    r = smtplab.probe("127.0.0.1", port, mode="tls", timeout=3)
    with smtplib.SMTP_SSL("127.0.0.1", port, timeout=3, context=unverified()) as s:
        s.ehlo()
        assert set(r.extension_keywords) == features(s)
        assert r.auth_after_tls == auth_of(s)


def test_submission_really_requires_tls(postfix: Postfix) -> None:
    """The fixture's claim, checked with smtplib: MAIL before STARTTLS gets 530 on 587-style."""
    for service in ("submission", "alt"):
        with smtplib.SMTP("127.0.0.1", postfix.ports[service], timeout=3) as s:
            s.ehlo()
            code, _ = s.mail("learner@lab.example")
            assert code == 530, service
    with smtplib.SMTP("127.0.0.1", postfix.ports["smtp"], timeout=3) as s:
        s.ehlo()
        assert s.mail("learner@lab.example")[0] == 250  # the relay accepts cleartext MAIL


def test_mixing_up_tls_modes_is_named(postfix: Postfix) -> None:
    # implicit TLS towards a STARTTLS port: the commonest user error (WRONG_VERSION_NUMBER)
    wrong = smtplab.probe("127.0.0.1", postfix.ports["submission"], mode="tls", timeout=2)
    assert wrong.outcome != "open" and "wrong_tls_mode" in codes(wrong), wrong.transcript
    # auto mode on an implicit-TLS port that is not numbered 465: silent, then TLS works
    auto = smtplab.probe("127.0.0.1", postfix.ports["submissions"], timeout=0.5)
    assert auto.outcome == "open" and auto.tls_mode == "implicit"
    assert "implicit_tls_detected" in codes(auto)


def test_cli_json_one_record_per_port(postfix: Postfix) -> None:
    ports = [postfix.ports[s] for s in ("smtp", "submissions", "submission", "alt")]
    records = probe_cli_json(ports)
    assert [r["port"] for r in records] == ports
    assert all(list(r) == list(schema.FIELD_NAMES) for r in records)
    assert [r["outcome"] for r in records] == ["open"] * 4
    assert [r["tls_mode"] for r in records] == ["starttls", "implicit", "starttls", "starttls"]
    assert all(r["cert_verified"] is False for r in records)


def _probe_in_a_fresh_python(pf: Postfix, **env: str) -> tuple[list[dict[str, object]], bool]:
    """The four services probed in a new interpreter: its records, and whether it imported
    cryptography."""
    ports = [pf.ports[s] for s in ("smtp", "submissions", "submission", "alt")]
    return probe_in_a_fresh_python(ports, **env)


def test_a_verified_certificate_and_its_chain_on_a_real_postfix(postfix: Postfix) -> None:
    """In a fresh interpreter: a trusted certificate is verified with its facts and chain (the
    certificate card's data) and without cryptography (OpenSSL judged it, issue 25 item 9);
    an untrusted one gets its problems named, read with cryptography."""
    records, loaded = _probe_in_a_fresh_python(postfix, SSL_CERT_FILE=str(postfix.cert_file))
    assert not loaded
    assert len(records) == 4
    for r in records:
        assert r["outcome"] == "open" and r["tls_version"], r
        assert r["cert_verified"] is True and r["cert_problems"] == [], r
        assert f"CN={HOSTNAME}" in str(r["cert_subject"]), r
        assert r["cert_chain"] == [r["cert_subject"]], r
        assert r["cert_not_after"] and HOSTNAME in (r["cert_san"] or [])

    untrusted, loaded = _probe_in_a_fresh_python(postfix)
    for r in untrusted:
        assert r["cert_verified"] is False and r["cert_problems"] == ["self_signed"], r
    assert loaded  # the problems of a certificate that fails are read with cryptography
