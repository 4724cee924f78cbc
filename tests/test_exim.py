"""The probe against a real Exim (Debian's binary, unpacked) on loopback, checked with smtplib.

The second real MTA next to Postfix: Exim speaks GnuTLS where Postfix speaks OpenSSL, advertises
PIPECONNECT and CHUNKING, and keeps its own log of every connection and every AUTH attempt, which
the tests read to check what the probe did on the wire. One Exim serves the whole session (see
``tests/exim.py``): a 25-style relay with STARTTLS, 587- and 2525-style submission that refuse
MAIL before STARTTLS and offer AUTH only inside TLS, and a 465-style implicit-TLS service. Its
certificate is self-signed, so every TLS probe must report an encrypted but unauthenticated
connection — and a verified one once we trust it.
"""

from __future__ import annotations

import json
import re
import shutil
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator

import pytest
from exim import HOSTNAME, OLD_HOSTNAME, PASSWORD, USER, Exim, skip_reason
from mta import auth_of, codes, features, probe_cli_json, running, unverified

import smtplab
from smtplab import schema
from smtplab.records import validate_record
from smtplab.tls import HANDS_OVER_CHAIN

STARTTLS_SERVICES = ("smtp", "submission", "alt")
SUBMISSION_AUTH = ("PLAIN", "LOGIN")
TLS_SERVICES = ("smtp", "submissions", "submission", "alt", "expired")
#: ``openssl s_client``'s verify error numbers (X509_V_ERR_*) and the probe's finding for each.
OPENSSL_ERRORS = {
    9: "cert_not_yet_valid",
    10: "cert_expired",
    18: "cert_self_signed",
    19: "cert_self_signed",  # self-signed certificate in the chain
    20: "cert_untrusted",
    21: "cert_untrusted",
    62: "cert_name_mismatch",
    64: "cert_name_mismatch",
}
CERT_CODES = frozenset(OPENSSL_ERRORS.values()) | {"cert_weak_key", "cert_weak_signature"}
CONNECTION = re.compile(r"SMTP connection from \[127\.0\.0\.1\] \(TCP/IP connection count")


@pytest.fixture(scope="session")
def exim() -> Iterator[Exim]:
    yield from running(skip_reason(), lambda: Exim().start())


def expected_auth(service: str) -> tuple[str, ...]:
    return () if service == "smtp" else SUBMISSION_AUTH


def mainlog(ex: Exim) -> str:
    assert ex.dir is not None
    path = ex.dir / "log" / "mainlog"
    return path.read_text(errors="replace") if path.exists() else ""


def log_after(ex: Exim, mark: int, pattern: str, want: int, limit: float = 2.0) -> list[str]:
    """Lines of the main log past offset ``mark`` matching ``pattern``; waits (up to ``limit``)
    until there are ``want`` of them, since Exim's children log as they finish."""
    deadline = time.monotonic() + limit
    while True:
        lines = [ln for ln in mainlog(ex)[mark:].splitlines() if re.search(pattern, ln)]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_the_config_passes_exim_check(exim: Exim) -> None:
    text = exim.check()
    assert text.startswith("Exim version 4.") and "GnuTLS" in text, text
    # the options the services rely on, as Exim itself reads them
    out = exim.exim("-bP", "tls_on_connect_ports", "daemon_smtp_ports").stdout
    assert f"tls_on_connect_ports = {exim.ports['submissions']}" in out, out


@pytest.mark.parametrize("service", STARTTLS_SERVICES)
def test_starttls_services(exim: Exim, service: str) -> None:
    port = exim.ports[service]
    r = smtplab.probe("127.0.0.1", port, timeout=3)
    assert r.outcome == "open", (r.error, r.transcript)
    assert r.banner_code == 220 and (r.banner or "").startswith(f"{HOSTNAME} ESMTP Exim")
    assert r.tls_mode == "starttls" and r.starttls_offered is True
    # AUTH only inside TLS on the submission services, never on the relay
    assert r.auth_before_tls == ()
    assert r.auth_after_tls == expected_auth(service)
    assert r.role == ("relay" if service == "smtp" else "submission-starttls")
    # the self-signed certificate: encrypted, not authenticated — said as a finding
    assert r.cert_verified is False and "self-signed" in (r.cert_error or "")
    assert HOSTNAME in (r.cert_subject or "") and "127.0.0.1" in r.cert_san
    assert r.top_finding is not None and r.top_finding.code == "cert_self_signed"
    with smtplib.SMTP(timeout=3) as g:
        code, greeting = g.connect("127.0.0.1", port)
        assert (code, greeting.decode()) == (r.banner_code, r.banner)
    with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
        s.ehlo()
        s.starttls(context=unverified())
        assert isinstance(s.sock, ssl.SSLSocket)
        assert r.tls_version == s.sock.version() and r.tls_version in ("TLSv1.2", "TLSv1.3")
        assert r.tls_cipher == s.sock.cipher()[0]


def test_implicit_tls_service(exim: Exim) -> None:
    port = exim.ports["submissions"]
    r = smtplab.probe("127.0.0.1", port, mode="tls", timeout=3)
    assert r.outcome == "open", (r.error, r.transcript)
    assert r.tls_mode == "implicit" and r.banner_code == 220 and HOSTNAME in (r.banner or "")
    assert r.auth_before_tls is None and r.auth_after_tls == SUBMISSION_AUTH
    assert r.role == "submission-implicit"
    assert r.cert_verified is False and "cert_self_signed" in codes(r)
    with smtplib.SMTP_SSL("127.0.0.1", port, timeout=3, context=unverified()) as s:
        assert isinstance(s.sock, ssl.SSLSocket)
        assert r.tls_version == s.sock.version() and r.tls_cipher == s.sock.cipher()[0]
        s.ehlo()
        assert set(r.extension_keywords) == features(s)
        assert r.auth_after_tls == auth_of(s)
        assert "STARTTLS" not in features(s)


@pytest.mark.parametrize("service", STARTTLS_SERVICES)
def test_capabilities_equal_smtplib_before_and_after_starttls(exim: Exim, service: str) -> None:
    port = exim.ports[service]
    before = smtplab.probe("127.0.0.1", port, mode="plain", timeout=3)
    after = smtplab.probe("127.0.0.1", port, mode="starttls", timeout=3)
    with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
        s.ehlo()
        assert set(before.extension_keywords) == features(s)
        assert before.auth_before_tls == auth_of(s) == ()
        assert "STARTTLS" in features(s) and "PIPECONNECT" in features(s)
        assert before.size_limit == int(s.esmtp_features["size"])
        s.starttls(context=unverified())
        s.ehlo()
        assert set(after.extension_keywords) == features(s)
        assert after.auth_after_tls == auth_of(s) == expected_auth(service)
        assert "STARTTLS" not in features(s)
    assert before.tls_mode == "none" and after.tls_mode == "starttls"


def test_trusting_the_certificate_makes_it_verified(exim: Exim) -> None:
    cafile = str(exim.cert_file)
    for service, mode in (("submission", "auto"), ("submissions", "tls")):
        r = smtplab.probe("127.0.0.1", exim.ports[service], mode=mode, timeout=3, cafile=cafile)
        assert r.cert_verified is True and r.cert_error is None, (service, r.cert_error)
        assert not codes(r) & {"cert_self_signed", "cert_untrusted", "cert_name_mismatch"}
    # smtplib agrees both ways: the default trust store rejects the certificate as self-signed,
    # the same store plus our certificate accepts it for the address dialled
    with smtplib.SMTP("127.0.0.1", exim.ports["submission"], timeout=3) as s:
        s.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError, match="self-signed"):
            s.starttls(context=ssl.create_default_context())
    with smtplib.SMTP_SSL(
        "127.0.0.1",
        exim.ports["submissions"],
        timeout=3,
        context=ssl.create_default_context(cafile=cafile),
    ) as s:
        assert s.ehlo()[0] == 250


def test_mail_before_starttls(exim: Exim) -> None:
    """Submission refuses MAIL before STARTTLS with 530, the relay accepts it; the probe's
    --tls-required-check says the same, and smtplib sees the same codes."""
    for service in ("submission", "alt"):
        port = exim.ports[service]
        r = smtplab.probe("127.0.0.1", port, timeout=3, tls_required_check=True)
        assert "tls_required" in codes(r) and "mail_before_tls_accepted" not in codes(r)
        with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
            s.ehlo()
            assert s.mail("learner@lab.example")[0] == 530, service
            s.rset()
            s.starttls(context=unverified())
            s.ehlo()
            assert s.mail("learner@lab.example")[0] == 250  # inside TLS MAIL is fine
    r = smtplab.probe("127.0.0.1", exim.ports["smtp"], timeout=3, tls_required_check=True)
    assert "mail_before_tls_accepted" in codes(r) and "tls_required" not in codes(r)
    with smtplib.SMTP("127.0.0.1", exim.ports["smtp"], timeout=3) as s:
        s.ehlo()
        assert s.mail("learner@lab.example")[0] == 250


def test_login_first_refuses_mail_for_want_of_a_login(exim: Exim) -> None:
    """The fixture's Haraka-like 587, checked with smtplib: 550 before and after STARTTLS, 250
    once logged in; the probe's TLS-required check never goes past MAIL."""
    port = exim.ports["login_first"]
    with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
        s.ehlo()
        assert s.mail("learner@lab.example") == (550, b"5.7.1 Authentication required")
        s.rset()
        s.starttls(context=unverified())
        s.ehlo()
        assert s.mail("learner@lab.example")[0] == 550
        s.rset()
        assert s.login(USER, PASSWORD)[0] == 235
        assert s.mail("learner@lab.example")[0] == 250
    r = smtplab.probe("127.0.0.1", port, timeout=3, tls_required_check=True)
    sent = [line.text.split()[0] for line in r.transcript if line.dir == "client"]
    assert "MAIL" in sent and not {"RCPT", "DATA", "AUTH"} & set(sent), sent
    assert "mail_before_tls_accepted" not in codes(r)


def test_mail_refused_for_a_login_is_not_called_tls_required(exim: Exim) -> None:
    """Issue 15, point 3: ask again after STARTTLS (still no RCPT, no DATA) and name the true
    reason. Exim refuses MAIL on login_first with the same 550 on both sides of STARTTLS."""
    r = smtplab.probe("127.0.0.1", exim.ports["login_first"], timeout=3, tls_required_check=True)
    texts = [line.text for line in r.transcript]
    tls_at = next(i for i, t in enumerate(texts) if t.startswith("TLS established"))
    assert any(t.startswith("MAIL ") for t in texts[tls_at:]), texts
    assert "tls_required" not in codes(r), [f.message for f in r.findings]
    # and the 587/2525-style services that do insist on TLS keep their verdict
    for service in ("submission", "alt"):
        again = smtplab.probe("127.0.0.1", exim.ports[service], timeout=3, tls_required_check=True)
        assert "tls_required" in codes(again), service


def test_login_check_over_verified_tls(exim: Exim) -> None:
    cafile = str(exim.cert_file)
    for service, mode in (("submission", "auto"), ("submissions", "tls")):
        port = exim.ports[service]
        ok = smtplab.probe(
            "127.0.0.1", port, mode=mode, timeout=8, cafile=cafile, auth=(USER, PASSWORD)
        )
        assert "auth_ok" in codes(ok), (service, ok.transcript)
        mark = len(mainlog(exim))
        bad = smtplab.probe(
            "127.0.0.1", port, mode=mode, timeout=8, cafile=cafile, auth=(USER, "x")
        )
        assert "auth_failed" in codes(bad)
        # Exim's own log confirms the refused attempt (with the user name, not the password)
        assert log_after(exim, mark, rf"authenticator failed .*set_id={re.escape(USER)}", 1)
        for r in (ok, bad):
            text = json.dumps(r.to_record(), default=str)
            assert PASSWORD not in text and "AUTH PLAIN [redacted]" in text
    # smtplib logs in with the same user over the same verified TLS
    trusted = ssl.create_default_context(cafile=cafile)
    with smtplib.SMTP("127.0.0.1", exim.ports["submission"], timeout=10) as s:
        s.starttls(context=trusted)
        assert s.login(USER, PASSWORD)[0] == 235
    with smtplib.SMTP_SSL("127.0.0.1", exim.ports["submissions"], timeout=10, context=trusted) as s:
        assert s.login(USER, PASSWORD)[0] == 235


def test_no_credentials_over_unverified_tls(exim: Exim) -> None:
    """With a certificate nobody vouches for, the password must stay home: Exim's log shows
    whether an AUTH attempt arrived (a wrong password makes it log one)."""
    mark = len(mainlog(exim))
    r = smtplab.probe("127.0.0.1", exim.ports["submission"], timeout=8, auth=(USER, "wrong"))
    assert r.cert_verified is False
    assert not log_after(exim, mark, r"authenticator failed", 1, limit=0.5), r.transcript
    assert "auth_ok" not in codes(r) and "auth_failed" not in codes(r)


def test_connections_per_probe_match_the_transcript(exim: Exim) -> None:
    """Exim logs every connection; the probe must open exactly one per port, plus one more
    only where its transcript says it reconnected to read an unverified certificate."""
    cafile = str(exim.cert_file)
    for service, kwargs in (
        ("smtp", {}),
        ("submission", {"cafile": cafile}),
        ("submissions", {"mode": "tls"}),
        ("submissions", {"mode": "tls", "cafile": cafile}),
    ):
        mark = len(mainlog(exim))
        r = smtplab.probe("127.0.0.1", exim.ports[service], timeout=3, **kwargs)
        assert r.outcome == "open"
        reconnects = sum("reconnecting" in line.text for line in r.transcript)
        seen = log_after(exim, mark, CONNECTION.pattern, 1 + reconnects, limit=1.0)
        assert len(seen) == 1 + reconnects, (service, kwargs, seen, r.transcript)
        if "cafile" in kwargs:
            assert reconnects == 0  # a verified handshake never needs a second look


@pytest.mark.skipif(
    not HANDS_OVER_CHAIN,
    reason="this Python cannot hand over an unverified chain (3.10 to 3.13 can)",
)
def test_one_connection_per_tls_port_when_python_hands_over_the_chain(exim: Exim) -> None:
    """Issue 15, point 1: judge an unverified certificate from the one handshake. Exim's log
    counts the connections and the TLS errors a second, aborted handshake would leave."""
    for service, mode in (("smtp", "auto"), ("submission", "starttls"), ("submissions", "tls")):
        mark = len(mainlog(exim))
        r = smtplab.probe("127.0.0.1", exim.ports[service], mode=mode, timeout=3)
        assert r.outcome == "open" and r.cert_verified is False
        assert "cert_self_signed" in codes(r)
        assert not any("reconnecting" in line.text for line in r.transcript), r.transcript
        assert len(log_after(exim, mark, CONNECTION.pattern, 2, limit=0.5)) == 1, service
        assert not log_after(exim, mark, "TLS error", 1, limit=0.2), service


def test_a_python_that_cannot_hand_over_the_chain_reconnects_and_says_so(
    exim: Exim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the chain cannot be had from an unverified handshake (a Python without
    ``get_unverified_chain``), the certificate is read on a second connection, the transcript
    says why, and the problems found are the same as from the one look."""
    one_look = smtplab.probe("127.0.0.1", exim.ports["expired"], mode="starttls", timeout=3)
    monkeypatch.setattr(smtplab.tls, "HANDS_OVER_CHAIN", False)
    mark = len(mainlog(exim))
    r = smtplab.probe("127.0.0.1", exim.ports["expired"], mode="starttls", timeout=3)
    assert r.outcome == "open" and r.cert_verified is False, r.transcript
    said = [x.text for x in r.transcript if "reconnecting" in x.text]
    assert said == ["this Python cannot hand over the unverified chain: reconnecting to read "
                    "the certificate"]  # fmt: skip
    assert len(log_after(exim, mark, CONNECTION.pattern, 2, limit=1.0)) == 2
    assert r.cert_problems and set(r.cert_problems) == set(one_look.cert_problems or ())
    assert codes(r) & CERT_CODES == codes(one_look) & CERT_CODES


def s_client(
    port: int, implicit: bool, cafile: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``openssl s_client`` against the port, checking the certificate for 127.0.0.1 and going
    on past each verify error, so that it prints every one."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is missing (Debian: apt-get install openssl)")
    args = [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-verify_ip", "127.0.0.1"]
    args += ["-brief", *(() if implicit else ("-starttls", "smtp"))]
    args += ["-CAfile", cafile] if cafile else []
    return subprocess.run(
        args, input="QUIT\n", capture_output=True, text=True, timeout=15, check=False
    )


@pytest.mark.parametrize("service", TLS_SERVICES)
def test_every_certificate_problem_agrees_with_openssl(exim: Exim, service: str) -> None:
    """Issue 15, point 2: each problem its own finding, as ``openssl s_client`` lists them (it
    names self-signed first on the expired service, then the address, then the date)."""
    implicit = service == "submissions"
    r = smtplab.probe(
        "127.0.0.1", exim.ports[service], mode="tls" if implicit else "starttls", timeout=3
    )
    assert r.outcome == "open", (r.error, r.transcript)
    out = s_client(exim.ports[service], implicit)
    assert "CONNECTION ESTABLISHED" in out.stderr, out.stderr
    numbers = {int(n) for n in re.findall(r"verify error:num=(\d+):", out.stderr)}
    assert numbers and numbers <= set(OPENSSL_ERRORS), out.stderr
    assert codes(r) & CERT_CODES == {OPENSSL_ERRORS[n] for n in numbers}, (out.stderr, codes(r))
    assert r.cert_verified is False
    assert f"Protocol version: {r.tls_version}" in out.stderr
    assert f"Ciphersuite: {r.tls_cipher}" in out.stderr
    if service == "expired":
        assert numbers == {10, 18, 64}
        assert (r.cert_not_after or "").startswith("2020-01-01")
        assert r.cert_san == (OLD_HOSTNAME,) and OLD_HOSTNAME in (r.cert_subject or "")


def test_trusted_certificate_agrees_with_openssl(exim: Exim) -> None:
    cafile = str(exim.cert_file)
    for service, implicit in (("submission", False), ("submissions", True)):
        out = s_client(exim.ports[service], implicit, cafile)
        assert "verify error" not in out.stderr and "Verification: OK" in out.stderr, out.stderr
        r = smtplab.probe(
            "127.0.0.1",
            exim.ports[service],
            mode="tls" if implicit else "starttls",
            timeout=3,
            cafile=cafile,
        )
        assert r.cert_verified is True and not codes(r) & CERT_CODES
    # trusting the expired one does not make it valid: it is still expired, still for old.lab
    # (the probe and openssl agree again)
    old = str(exim.dir / "tls" / "old.pem") if exim.dir else ""
    out = s_client(exim.ports["expired"], False, old)
    numbers = {int(n) for n in re.findall(r"verify error:num=(\d+):", out.stderr)}
    r = smtplab.probe("127.0.0.1", exim.ports["expired"], mode="starttls", timeout=3, cafile=old)
    assert numbers == {10, 64}, out.stderr
    assert codes(r) & CERT_CODES == {"cert_expired", "cert_name_mismatch"}, codes(r)
    assert r.cert_verified is False


def test_mixing_up_tls_modes_is_named(exim: Exim) -> None:
    # implicit TLS towards a STARTTLS port: Exim answers the ClientHello with its greeting
    wrong = smtplab.probe("127.0.0.1", exim.ports["submission"], mode="tls", timeout=2)
    assert wrong.outcome != "open" and "wrong_tls_mode" in codes(wrong), wrong.transcript
    # auto mode on an implicit-TLS port that is not numbered 465: silent, then TLS works
    auto = smtplab.probe("127.0.0.1", exim.ports["submissions"], timeout=0.5)
    assert auto.outcome == "open" and auto.tls_mode == "implicit"
    assert "implicit_tls_detected" in codes(auto)


def test_probe_many_agrees_with_single_probes(exim: Exim) -> None:
    targets = [("127.0.0.1", exim.ports[s]) for s in ("smtp", "submissions", "submission", "alt")]
    many = smtplab.probe_many(targets, timeout=1)
    assert [r.port for r in many] == [p for _, p in targets]
    assert [r.outcome for r in many] == ["open"] * 4
    assert [r.tls_mode for r in many] == ["starttls", "implicit", "starttls", "starttls"]
    assert [r.auth_after_tls for r in many] == [
        (),
        SUBMISSION_AUTH,
        SUBMISSION_AUTH,
        SUBMISSION_AUTH,
    ]
    assert all(validate_record(r) == [] for r in many)


def test_cli_json_one_record_per_port(exim: Exim) -> None:
    ports = [exim.ports[s] for s in ("smtp", "submissions", "submission", "alt")]
    records = probe_cli_json(ports)
    assert [r["port"] for r in records] == ports
    assert all(list(r) == list(schema.FIELD_NAMES) for r in records)
    assert all(validate_record(r) == [] for r in records), [validate_record(r) for r in records]
    assert [r["outcome"] for r in records] == ["open"] * 4
    assert [r["tls_mode"] for r in records] == ["starttls", "implicit", "starttls", "starttls"]
    assert [r["role"] for r in records] == [
        "relay",
        "submission-implicit",
        "submission-starttls",
        "submission-starttls",
    ]
    assert all(r["cert_verified"] is False for r in records)
    assert all(r["banner"].startswith(f"{HOSTNAME} ESMTP Exim") for r in records)
