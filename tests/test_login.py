"""``smtplab doctor HOST --login USER`` (issue 24, items 5 and 7): the login tried on the port the
advice chose, only over TLS verified for the name dialled, against the real lab, a real
STARTTLS-stripping middlebox that injects a fake AUTH line in a network namespace, and generated
evidence that must never lead a secret anywhere unsafe.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netns import NAME, namespace
from ptyio import read_available

import smtplab
from smtplab.advice import PURPOSES, Advice, advise, as_records
from smtplab.engine import probe_many
from smtplab.lab import Lab
from smtplab.lab.folder import LabFolder
from smtplab.lab.middlebox import mask_server_line
from smtplab.login_check import check_login
from smtplab.redaction import secret_forms
from smtplab.schema import OUTCOMES, empty_record

ROOT = Path(__file__).resolve().parents[1]
LAB_PORTS = (25, 465, 587, 2525)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("open-internet") as running:
        yield running


def advice_for(lab: Lab, host: str) -> Advice:
    targets = [(host, p) for p in LAB_PORTS]
    return advise(as_records(probe_many(targets, lab=lab, timeout=3, progress=False)), host=host)


# --------------------------------------------------------------------------- the core, on the lab


def test_the_lab_login_succeeds_over_verified_tls(lab: Lab) -> None:
    lab.clear_outbox()
    user, password = lab.credentials
    report = check_login(advice_for(lab, "smtp.lab.example"), user, password, lab=lab)
    assert report.status == "ok", report
    assert report.secret_sent and "auth_ok" in report.findings and "tls_ok" in report.findings
    assert report.port == 465 and report.mechanism == "password"
    assert "logged in with a password over verified TLS" in report.line()
    assert report.test_sent is None and lab.outbox == []  # no message unless asked
    assert password not in repr(report)


def test_a_wrong_password_is_the_535_explained(lab: Lab) -> None:
    user, password = lab.credentials
    report = check_login(advice_for(lab, "smtp.lab.example"), user, password + "x", lab=lab)
    assert report.status == "refused" and report.explanation is not None
    assert report.explanation.code == 535 and report.explanation.side == "your login"
    assert "535 5.7.8" in report.message and "the server refused a password" in report.message


@pytest.mark.parametrize("host", ["selfsigned.lab.example", "expired.lab.example"])
def test_no_login_is_even_tried_where_the_certificate_does_not_verify(lab: Lab, host: str) -> None:
    advice = advice_for(lab, host)
    calls: list[Any] = []
    report = check_login(advice, *lab.credentials, lab=lab, probe=calls.append)
    assert calls == [] and report.status == "not_tried" and not report.secret_sent
    assert report.line() == (
        f"Login check on {host}: not tried: no port is safe to send a password or token to from "
        "here (see the port verdicts above)."
    )


def test_a_certificate_that_stops_verifying_after_the_advice_gets_no_password(lab: Lab) -> None:
    """The second guard: the advice said smtp.lab.example 465 works, but the name dialled for
    the login has a self-signed certificate; the engine itself refuses to send the password."""
    advice = advice_for(lab, "smtp.lab.example")
    assert advice.recommended is not None
    moved = dataclasses.replace(advice.recommended, host="selfsigned.lab.example")
    report = check_login(dataclasses.replace(advice, recommended=moved), *lab.credentials, lab=lab)
    assert report.status == "not_tried" and "auth_skipped_unverified" in report.findings
    assert "did not send the password" in report.message and not report.secret_sent


def test_an_oauth_only_server_gets_the_secret_as_an_xoauth2_token(lab: Lab) -> None:
    advice = advice_for(lab, "oauth.lab.example")
    report = check_login(advice, "student", "ya29.not-a-real-token", lab=lab)
    assert report.mechanism == "XOAUTH2" and report.status == "refused", report
    assert report.explanation is not None and report.explanation.code == 535
    assert "an OAuth token (XOAUTH2)" in report.message


def test_a_real_lab_token_logs_in_with_xoauth2(lab: Lab) -> None:
    """A token from the lab's authorization server (the device flow, as a notebook runs it)
    signs in on the OAuth-only server; the token appears nowhere in the report."""
    from test_lab_oauth import device_token

    token = device_token(lab)
    advice = advice_for(lab, "oauth.lab.example")
    report = check_login(advice, "student", token, method="token", lab=lab)
    assert report.mechanism == "XOAUTH2" and report.status == "ok", report
    assert token not in repr(report) and token[:12] not in json.dumps(
        dataclasses.asdict(report), default=str
    )


@pytest.mark.parametrize("length", [600, 2500])
def test_a_token_as_long_as_microsofts_logs_in(lab: Lab, length: int) -> None:
    """Microsoft's access tokens are JWTs of one to two and a half thousand characters: past
    SMTP's 512-octet command line, they go after the server's empty 334 (RFC 4954 §4), not on
    the AUTH line, and never into the transcript. (It was refused as "too long" before.)"""
    from test_lab_oauth import device_token

    lab.oauth.token_length = length
    try:
        token = device_token(lab)
    finally:
        lab.oauth.token_length = 0
    assert len(token) == length
    seen: list[Any] = []

    def probe(opts: Any) -> Any:
        seen.append(smtplab.probe(opts))
        return seen[-1]

    advice = advice_for(lab, "oauth.lab.example")
    report = check_login(advice, "student", token, method="token", lab=lab, probe=probe)
    assert report.mechanism == "XOAUTH2" and report.status == "ok", report
    (r,) = seen
    sent = [x.text for x in r.transcript if x.dir == "client"]
    assert "AUTH XOAUTH2" in sent and "[redacted]" in sent, sent
    text = json.dumps(r.to_record(), default=str)
    assert not any(token[i : i + 16] in text for i in range(0, length - 16, 8))


def test_a_token_where_only_passwords_are_offered_is_not_sent(lab: Lab) -> None:
    advice = advice_for(lab, "smtp.lab.example")
    report = check_login(advice, "student", "ya29.token", method="token", lab=lab)
    assert report.status == "not_tried" and "auth_unavailable" in report.findings
    assert "does not offer XOAUTH2" in report.message


def test_send_test_delivers_one_message_to_that_address_only(lab: Lab) -> None:
    lab.clear_outbox()
    advice = advice_for(lab, "smtp.lab.example")
    report = check_login(advice, *lab.credentials, lab=lab, send_test="learner@lab.example")
    assert report.status == "ok" and report.test_sent is True, report
    [msg] = lab.outbox
    assert msg.rcpt_tos == ("learner@lab.example",) and msg.tls and msg.auth_user == "student"
    assert msg.subject == "smtplab test message"
    # a refused login sends nothing
    lab.clear_outbox()
    bad = check_login(advice, "student", "wrong-password", lab=lab, send_test="x@lab.example")
    assert bad.status == "refused" and lab.outbox == []
    with pytest.raises(ValueError, match="one plain e-mail address"):
        check_login(advice, "student", "pw", lab=lab, send_test="a@b.example>\r\nRCPT TO:<c@d")


# --------------------------------------------------------------------------- the real command


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPLAB_")}
    env.update(PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"), **extra)
    return env


def _lab_password(tmp_path: Path) -> str:
    """The password the lab folder keeps (``doctor --lab`` starts its lab with that folder)."""
    return LabFolder(tmp_path / "cache" / "smtplab" / "lab").password()


DOCTOR = [sys.executable, "-m", "smtplab", "doctor", "smtp.lab.example", "--lab", "open-internet"]


def _every_file(tmp_path: Path, keeper: Path) -> Iterator[tuple[Path, bytes]]:
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != keeper:  # the lab folder's password file keeps it, by design
            yield path, path.read_bytes()


def test_the_command_logs_in_and_the_secret_is_in_no_output_and_no_file(tmp_path: Path) -> None:
    password = _lab_password(tmp_path)
    keeper = tmp_path / "cache" / "smtplab" / "lab" / "password"
    assert keeper.read_text().strip() == password
    outputs = []
    for extra in (["--json"], []):
        done = subprocess.run(
            [
                *DOCTOR,
                "--login",
                "student",
                "--send-test",
                "me@lab.example",
                "--timeout",
                "3",
                *extra,
            ],
            env=_env(tmp_path, SMTPLAB_PASSWORD=password),
            capture_output=True,
            check=False,
            timeout=120,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr]
    login = json.loads(outputs[0])["login"]
    assert login["status"] == "ok" and login["secret_sent"] and login["test_sent"] is True
    assert login["port"] == 465 and login["mechanism"] == "password"
    text = outputs[2].decode()
    assert (
        "Login check on smtp.lab.example port 465: logged in with a password over verified "
        "TLS. The test message was accepted." in text
    )
    forms = [f.encode() for f in secret_forms("student", password) if len(f) >= 6]
    files = list(_every_file(tmp_path, keeper))
    for blob in [*outputs, *(b for _, b in files)]:
        assert not any(f in blob for f in forms)


def test_the_command_explains_a_wrong_password_and_exits_1(tmp_path: Path) -> None:
    _lab_password(tmp_path)
    secret = "Wrong-Pass-4242"
    done = subprocess.run(
        [*DOCTOR, "--login", "student", "--password-env", "MY_SMTP_SECRET", "--timeout", "3"],
        env=_env(tmp_path, MY_SMTP_SECRET=secret),
        capture_output=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout.decode()
    assert done.returncode == 1, done.stderr
    assert "the server refused a password: 535 5.7.8 Authentication credentials invalid" in out
    assert "What it means: The server read the user name and password and refused them." in out
    assert secret.encode() not in done.stdout + done.stderr


def test_the_command_says_clearly_it_did_not_try_an_unverified_host(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *DOCTOR[:4],
            "expired.lab.example",
            "--lab",
            "open-internet",
            "--login",
            "student",
            "--timeout",
            "3",
        ],
        env=_env(tmp_path, SMTPLAB_PASSWORD="never-sent-1"),
        capture_output=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stderr
    assert (
        "Login check on expired.lab.example: not tried: no port is safe to send a password or "
        "token to from here" in done.stdout.decode()
    )


def test_no_secret_and_no_terminal_is_one_line_not_a_hang(tmp_path: Path) -> None:
    done = subprocess.run(
        [*DOCTOR, "--login", "student", "--timeout", "3"],
        env=_env(tmp_path),
        capture_output=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert "not tried: no secret (no terminal to ask for it on: set SMTPLAB_PASSWORD" in (
        done.stdout.decode()
    )


def test_the_secret_is_never_an_argument(tmp_path: Path) -> None:
    """No option takes it, and an abbreviation cannot turn ``--pass SECRET`` into a variable
    name that an error message would print."""
    for args in (["--password", "hunter2"], ["--pass", "hunter2"], ["--password-env", "NOPE"]):
        done = subprocess.run(
            [*DOCTOR, "--login", "student", *args],
            env=_env(tmp_path),
            capture_output=True,
            check=False,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2
        assert b"hunter2" not in done.stdout and b"NOPE" not in done.stdout
    assert b"the variable named is not set" in done.stderr


def test_the_secret_typed_at_a_prompt_is_not_echoed(tmp_path: Path) -> None:
    """On a real terminal (a pty that is the command's controlling terminal, as getpass reads
    /dev/tty): the prompt names the port, the typed password is not shown, the login works."""
    password = _lab_password(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.execvpe(
            sys.executable, [*DOCTOR, "--login", "student", "--timeout", "3"], _env(tmp_path)
        )
    seen, deadline = b"", time.monotonic() + 90
    try:
        while b"(not shown): " not in seen and time.monotonic() < deadline:
            seen += read_available(fd, 0.5)
        assert b"Password for student at smtp.lab.example port 465 (not shown): " in seen, seen
        os.write(fd, password.encode() + b"\n")
        while time.monotonic() < deadline:
            chunk = read_available(fd, 0.5)
            seen += chunk
            if b"Login check on" in seen and not chunk:
                break
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "logged in with a password over verified TLS" in text
    assert password not in text


# --------------------------------------------------------------------------- item 7: real network


@pytest.mark.parametrize(
    ("line", "inject", "out"),
    [
        (b"250-STARTTLS\r\n", True, b"250-XXXXXXXA\r\n250-AUTH PLAIN LOGIN\r\n"),
        (b"250 STARTTLS\r\n", True, b"250-AUTH PLAIN LOGIN\r\n250 XXXXXXXA\r\n"),
        (b"250-STARTTLS\r\n", False, b"250-XXXXXXXA\r\n"),
        (b"250-SIZE 1000\r\n", True, b"250-SIZE 1000\r\n"),
    ],
)
def test_the_injected_auth_line_keeps_the_reply_well_formed(
    line: bytes, inject: bool, out: bytes
) -> None:
    assert mask_server_line(line, inject) == out


def doctor_login(ns: Any, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[bytes]:
    """``smtplab doctor NAME --login me`` inside the namespace, trusting its CA, no terminal."""
    cmd = [sys.executable, "-m", "smtplab", "doctor", NAME, "--timeout", "2", "--cafile"]
    return subprocess.run(
        ns.command([*cmd, ns.cafile, "--login", "me", *extra]),
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_injecting_middlebox_gets_no_recommendation_and_no_secret(tmp_path: Path) -> None:
    """A STARTTLS-stripping middlebox in front of 587 and 2525 that also injects
    ``250-AUTH PLAIN LOGIN`` into the cleartext EHLO reply; 465 is closed. The doctor must not
    recommend those ports, ``--login`` must send nothing, and the servers behind saw no AUTH."""
    log = tmp_path / "auth.log"
    log.touch()
    secret = "Sekrit-Behind-Box-77"
    with namespace({"587": "strip_inject", "2525": "strip_inject"}, tmp_path, log) as ns:
        env = {**ns.env, "SMTPLAB_PASSWORD": secret}
        done = doctor_login(ns, env, "--json")
        seen = ns.run([sys.executable, "-m", "smtplab", "probe", NAME, "-p", "587", "--json"])
    record = json.loads(seen.stdout.splitlines()[0])  # the box did inject the fake AUTH line
    assert record["auth_before_tls"] == ["PLAIN", "LOGIN"] and not record["starttls_offered"]
    assert "XXXXXXXA" in record["extensions"]
    d = json.loads(done.stdout)
    ports = {p["port"]: p for p in d["ports"]}
    assert ports[587]["outcome"] == "open" and ports[587]["verdict"] == "unsafe"
    assert "strips STARTTLS" in ports[587]["evidence"]
    assert d["recommended"] is None or d["recommended"]["port"] not in (587, 2525)
    assert d["login"]["status"] == "not_tried" and d["login"]["secret_sent"] is False
    assert log.read_text() == ""  # the servers behind the box never saw an AUTH command
    assert secret.encode() not in done.stdout + done.stderr
    assert done.returncode == 1


def test_beside_the_injecting_middlebox_the_login_goes_to_465_only(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.touch()
    with namespace({"465": "good", "587": "strip_inject"}, tmp_path, log) as ns:
        env = {**ns.env, "SMTPLAB_PASSWORD": "Another-Secret-88"}
        done = doctor_login(ns, env, "--json")
        # the same refusal, told for the provider named: its own login steps
        gmail = doctor_login(ns, env, "--provider", "gmail")
    d = json.loads(done.stdout)
    assert d["recommended"]["port"] == 465 and d["login"]["port"] == 465
    assert d["login"]["status"] == "refused"  # these servers refuse every login
    assert d["login"]["explanation"]["reply"].startswith("535")
    text = gmail.stdout.decode()
    assert "Login check on mail.test.example port 465: the server refused a password: 535" in text
    assert "Gmail: user name your full Gmail address; log in with an app password" in text
    # never 587 or the server behind its middlebox (20587)
    assert log.read_text().splitlines() == ["465 AUTH PLAIN tls"] * 2


# --------------------------------------------------------------------------- item 7: properties

HOST = "smtp.example.org"
PORTS = (25, 465, 587, 2525)


@st.composite
def port_record(draw: st.DrawFn, port: int) -> dict[str, Any]:
    outcome = draw(st.sampled_from(("open",) * len(OUTCOMES) + OUTCOMES))
    base: dict[str, Any] = dict(
        probe_id=f"p{port}",
        started_at="2026-01-01T00:00:00Z",
        vantage="here",
        host=HOST,
        port=port,
        outcome=outcome,
    )
    if outcome != "open":
        return empty_record(**base)
    tls_mode = draw(st.sampled_from(("none", "starttls", "implicit")))
    name = draw(st.sampled_from((HOST, "gw.hotel.example", "[10.0.0.1]")))
    verified = draw(st.sampled_from((True, True, False, None))) if tls_mode != "none" else None
    stripped = tls_mode == "none" and draw(st.booleans())
    exts = ["SIZE", *(["XXXXXXXA", "AUTH PLAIN LOGIN"] if stripped else [])]
    if tls_mode == "starttls":
        exts.append("STARTTLS")
    return empty_record(
        **base,
        banner=f"{name} ESMTP",
        banner_code=220,
        tls_mode=tls_mode,
        starttls_offered=tls_mode == "starttls",
        cert_verified=verified,
        extensions=exts,
        auth_before_tls=["PLAIN", "LOGIN"] if stripped else draw(st.sampled_from(([], None))),
        auth_after_tls=draw(st.sampled_from((["PLAIN"], ["XOAUTH2", "OAUTHBEARER"], None))),
        tls_version=draw(st.sampled_from((None, "TLSv1.3", "TLSv1.2", "TLSv1")))
        if tls_mode != "none"
        else None,
    )


def _safe(r: dict[str, Any]) -> bool:
    """Written apart from the engine: open, under TLS whose certificate verified (so nothing
    answered in the server's place), STARTTLS not masked, TLS 1.2 or newer when named."""
    return (
        r["outcome"] == "open"
        and r["tls_mode"] in ("implicit", "starttls")
        and r["cert_verified"] is True
        and "XXXXXXXA" not in (r["extensions"] or [])
        and r["tls_version"] in (None, "TLSv1.2", "TLSv1.3")
    )


class Connected(Exception):
    pass


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    records=st.lists(st.sampled_from(PORTS), unique=True).flatmap(
        lambda ports: st.tuples(*(port_record(p) for p in ports))
    ),
    purpose=st.sampled_from(PURPOSES),
    provider=st.sampled_from((None, "Gmail", "outlook", "SendGrid", "ses")),
    method=st.sampled_from(("auto", "password", "token")),
)
def test_no_advice_sends_a_secret_where_the_evidence_says_unsafe(
    records: tuple[dict[str, Any], ...], purpose: str, provider: str | None, method: str
) -> None:
    advice = advise(list(records), provider=provider, purpose=purpose, host=HOST)
    by_port = {r["port"]: r for r in records}

    def connect(opts: Any) -> Any:
        raise Connected(opts)

    try:
        report = check_login(advice, "me@example.org", "s3cret-pw", method=method, probe=connect)
    except Connected as c:
        opts = c.args[0]
        r = by_port[opts.port]
        assert _safe(r), r  # never blocked, intercepted, stripped, unverified or old TLS
        assert opts.host == HOST and opts.auth == ("me@example.org", "s3cret-pw")
        assert opts.mode == ("tls" if r["tls_mode"] == "implicit" else "starttls")
        assert opts.verify and not opts.allow_cleartext_auth and opts.send_test is None
        return
    assert report.status == "not_tried" and not report.secret_sent and report.port is None
