"""``smtplab explain``: real replies (table-driven), a real lab conversation, the command line end
to end, and an attacker's input (escapes, 10 MB)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smtplab
from smtplab.advice.explainer import MAX_INPUT, SIDES, ExplainError, explain, explain_transcript

# (reply as people paste it, code, enhanced, side, provider, words in the advice, a source)
REAL = [
    (
        "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
        535,
        "5.7.139",
        "your login",
        "Outlook.com",
        "OAuth 2.0",
        "RFC 4954 §6",
    ),
    (
        "534-5.7.9 Application-specific password required. Learn more at\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2-20 - gsmtp",
        534,
        "5.7.9",
        "your login",
        "Gmail",
        "app password",
        "RFC 3463 §2",
    ),
    (
        "smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted. "
        "Learn more at\\n5.7.8  https://support.google.com/mail/?p=BadCredentials "
        "b11sm4936857pgr.20 - gsmtp')",
        535,
        "5.7.8",
        "your login",
        "Gmail",
        "app password",
        "RFC 4954 §6",
    ),
    (
        "Error: Invalid login: 535-5.7.8 Username and Password not accepted. Learn more at\n"
        "535 5.7.8 https://support.google.com/mail/?p=BadCredentials c4-c35345.73 - gsmtp",
        535,
        "5.7.8",
        "your login",
        "Gmail",
        "Gmail address",
        "RFC 4954 §6",
    ),
    (
        "550 5.7.30 Basic authentication is not supported for Client Submission.",
        550,
        "5.7.30",
        "your login",
        "Microsoft 365 (Exchange Online)",
        "OAuth 2.0",
        "RFC 5321 §4.2.2",
    ),
    (
        "javax.mail.MessagingException: 530 5.7.0 Must issue a STARTTLS command first. "
        "f3sm9277120nfh.74",
        530,
        "5.7.0",
        "your client's settings",
        None,
        "STARTTLS on port 587",
        "RFC 3207 §4",
    ),
    (
        "421 4.7.0 Try again later, closing connection. (EHLO) - gsmtp",
        421,
        "4.7.0",
        "the server",
        None,
        "Try again later",
        "RFC 5321 §4.2.2",
    ),
    (
        "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <bob@example.org>: "
        "Relay access denied",
        554,
        "5.7.1",
        "your client's settings",
        None,
        "587 or 465, not 25",
        "RFC 5321 §3.6.2",
    ),
    (
        "host mx.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: Recipient address "
        "rejected: User unknown in local recipient table (in reply to RCPT TO command)",
        550,
        "5.1.1",
        "the recipient",
        None,
        "spelling",
        "RFC 3463 §3.2",
    ),
    (
        "550-5.7.1 [59.177.124.28] The IP you're using to send mail is not authorized to\n"
        "550-5.7.1 send email directly to our servers. Please use the SMTP relay at your\n"
        "550 5.7.1 service provider instead.",
        550,
        "5.7.1",
        "the network",
        None,
        "smarthost",
        "RFC 5321 §3.6.2",
    ),
    (
        "530 5.7.0 Authentication required",
        530,
        "5.7.0",
        "your client's settings",
        None,
        "requires authentication",
        "RFC 4954 §6",
    ),
    (
        "454 4.7.0 TLS not available due to local problem",
        454,
        "4.7.0",
        "the server",
        None,
        "try again",
        "RFC 3207 §4",
    ),
    (
        "552 5.3.4 Message size exceeds fixed limit",
        552,
        "5.3.4",
        "your message",
        None,
        "smaller",
        "RFC 3463 §3.4",
    ),
    (
        "250 2.0.0 OK 1700000000 queued",
        250,
        "2.0.0",
        "nobody: it worked",
        None,
        "Nothing to fix",
        "RFC 5321 §4.2.1",
    ),
    (
        "Error: Invalid login: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication "
        "is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more "
        "information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]",
        535,
        "5.7.139",
        "your login",
        "Microsoft 365 (Exchange Online)",
        "administrator to turn on SMTP AUTH",
        "RFC 4954 §6",
    ),
    (
        "The server responded: 5.7.139 Authentication unsuccessful, basic authentication is "
        "disabled",
        None,
        "5.7.139",
        "your login",
        "Outlook.com",
        "OAuth 2.0",
        "RFC 3463 §2",
    ),
]


@pytest.mark.parametrize(("reply", "code", "enhanced", "side", "provider", "todo", "source"), REAL)
def test_real_replies(
    reply: str,
    code: int | None,
    enhanced: str,
    side: str,
    provider: str | None,
    todo: str,
    source: str,
) -> None:
    e = explain(reply)
    assert (e.code, e.enhanced, e.side) == (code, enhanced, side)
    assert e.side in SIDES
    assert e.provider == provider
    assert any(todo.lower() in step.lower() for step in e.todo), e.todo
    assert source in e.sources
    if provider:
        assert e.provider_source and e.provider_text  # the knowledge base's row, with its source
    assert e.basic and e.basic_source.startswith("RFC")
    assert json.loads(json.dumps(e.to_dict()))["side"] == side


def test_the_named_provider_tailors_the_login_advice() -> None:
    ses = explain("535 Authentication Credentials Invalid", provider="aws")
    assert ses.provider == "Amazon SES"
    assert any("made for that region" in step for step in ses.todo)
    resend = explain("535 5.7.8 Authentication failed", provider="resend")
    assert any("user name resend" in step for step in resend.todo)
    with pytest.raises(ValueError, match="unknown provider"):
        explain("535 x", provider="carrier pigeon")


def test_a_refusal_in_a_real_lab_conversation_reads_the_same() -> None:
    with smtplab.Lab("open-internet") as lab:
        user, _ = lab.credentials
        result = smtplab.probe(
            "smtp.lab.example", 587, lab=lab, auth=(user, "not-the-password-4711")
        )
    explained = explain_transcript(result.transcript)
    assert [e.code for e in explained] == [535], [t.text for t in result.transcript]
    assert explained[0].side == "your login"
    assert "not-the-password-4711" not in json.dumps([e.to_dict() for e in explained])


# --------------------------------------------------------------------------- an attacker's input


def test_control_characters_are_shown_escaped() -> None:
    e = explain("550 5.7.1 \x1b]0;pwned\x07\x1b[2J\u202erelay access denied\x00")
    assert "\x1b" not in e.reply and "\u202e" not in e.reply and "\x00" not in e.reply
    assert "\\x1b]0;pwned\\x07" in e.reply and "\\u202e" in e.reply
    assert e.side == "your client's settings"


def test_ten_megabytes_are_refused_quickly_with_one_line() -> None:
    started = time.monotonic()
    with pytest.raises(ExplainError) as caught:
        explain("535 " + "A" * 10_000_000)
    assert time.monotonic() - started < 1.0
    assert "\n" not in str(caught.value) and f"{MAX_INPUT:,}" in str(caught.value)


@pytest.mark.parametrize("text", ["", "hello", "the server said no", "12345 999 1.2.3.4"])
def test_text_without_a_reply_is_one_clear_error(text: str) -> None:
    with pytest.raises(ExplainError, match="no SMTP reply found"):
        explain(text)


def test_a_line_just_under_the_limit_is_explained_fast() -> None:
    text = "535 5.7.8 " + "x" * (MAX_INPUT - 20)
    started = time.monotonic()
    assert explain(text).code == 535
    assert time.monotonic() - started < 1.0


# --------------------------------------------------------------------------- the command line


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "smtplab", "explain", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def test_cli_explains_a_reply() -> None:
    p = run("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.")
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    assert "Whose side: your login." in out and "OAuth 2.0" in out and "Sources:" in out
    assert p.stderr == b""


def test_cli_json_and_stdin_and_provider() -> None:
    reply = b"534-5.7.9 Application-specific password required. Learn more at\r\n534 5.7.9 x\r\n"
    p = run("--json", "--provider", "gmail", "-", stdin=reply)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["code"] == 534 and data["enhanced"] == "5.7.9" and data["provider"] == "Gmail"
    assert data["side"] == "your login" and data["sources"]


def test_cli_hostile_input_is_escaped_and_bounded() -> None:
    p = run("550 5.7.1 \x1b]0;pwned\x07 relay access denied")
    assert p.returncode == 0 and b"\x1b" not in p.stdout and b"\\x1b]0;pwned" in p.stdout
    big = run("-", stdin=b"535 " + b"A" * 10_000_000)
    assert big.returncode == 2 and big.stdout == b""
    assert big.stderr.decode().count("\n") == 1 and "paste at most" in big.stderr.decode()
    none = run("just words")
    assert none.returncode == 2 and none.stderr.startswith(b"smtplab: no SMTP reply found")
    bad = run("--provider", "nosuch", "535 no")
    assert bad.returncode == 2 and bad.stderr.count(b"\n") == 1
    binary = run("-", stdin=b"535 \xff\xfe\x00 5.7.8 bad")
    assert binary.returncode in (0, 2) and b"Traceback" not in binary.stderr


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.text(max_size=400)
    | st.builds(
        lambda code, enhanced, words: f"{code} {enhanced} {words}",
        st.integers(100, 699),
        st.from_regex(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True),
        st.text(max_size=200),
    )
)
def test_any_text_gives_an_explanation_or_one_line_of_error(text: str) -> None:
    try:
        e = explain(text)
    except ExplainError as exc:
        assert "\n" not in str(exc)
        return
    assert e.side in SIDES and e.todo and e.sources
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", e.reply)


def test_cli_reads_unquoted_words_as_one_reply() -> None:
    p = run("535", "5.7.8", "Username", "and", "Password", "not", "accepted.")
    assert p.returncode == 0
    assert b"Reply: 535 5.7.8 Username and Password not accepted." in p.stdout
