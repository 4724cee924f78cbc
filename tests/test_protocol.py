"""The sans-IO core: table-driven bytes -> replies, fed whole and byte by byte; a fuzz invariant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smtplab.protocol import (
    MAX_LINE,
    MAX_REPLY_LINES,
    REDACTED,
    CommandError,
    ProtocolError,
    Reply,
    ReplyParser,
    TranscriptLine,
    build_command,
    client_states,
    ehlo_keyword,
    explain_line,
    parse_ehlo,
    parse_ehlo_text,
    parse_replies,
    validate_ehlo_name,
)
from smtplab.redaction import Redactor, redact_transcript

LONG_EHLO = (
    b"250-mx.example\r\n"
    + b"".join(f"250-X-EXTENSION-{i} {'p' * 60}\r\n".encode() for i in range(40))
    + b"250 STARTTLS\r\n"
)

# (name, bytes on the wire, expected replies as (code, lines))
CASES = [
    ("greeting", b"220 mx.example ESMTP\r\n", [(220, ("mx.example ESMTP",))]),
    ("bare code", b"220\r\n", [(220, ("",))]),
    ("bare LF", b"220 hi\n", [(220, ("hi",))]),
    (
        "multi-line EHLO",
        b"250-mx.example\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n",
        [(250, ("mx.example", "SIZE 1000", "STARTTLS", "AUTH PLAIN LOGIN"))],
    ),
    (
        "two replies in one packet",
        b"250 OK\r\n220 2.0.0 Ready to start TLS\r\n",
        [(250, ("OK",)), (220, ("2.0.0 Ready to start TLS",))],
    ),
    (
        "long multi-line",
        LONG_EHLO,
        [
            (
                250,
                tuple(
                    ["mx.example"]
                    + [f"X-EXTENSION-{i} {'p' * 60}" for i in range(40)]
                    + ["STARTTLS"]
                ),
            )
        ],
    ),
    ("continuation with empty text", b"250-\r\n250 OK\r\n", [(250, ("", "OK"))]),
    ("utf-8 text", "220 mx ✉ ready\r\n".encode(), [(220, ("mx ✉ ready",))]),
    ("invalid utf-8 and NUL", b"220 a\xff\x00b\r\n", [(220, ("a\\xff\\x00b",))]),
    ("incomplete", b"250-mx.example\r\n250-SIZE", []),
]


def _collect(parser: ReplyParser) -> list[tuple[int, tuple[str, ...]]]:
    out = []
    while (r := parser.next_reply()) is not None:
        out.append((r.code, r.lines))
    return out


@pytest.mark.parametrize("name,data,expected", CASES, ids=[c[0] for c in CASES])
def test_framing_whole(name: str, data: bytes, expected: list[tuple[int, tuple[str, ...]]]) -> None:
    parser = ReplyParser()
    parser.feed(data)
    assert _collect(parser) == expected


@pytest.mark.parametrize("name,data,expected", CASES, ids=[c[0] for c in CASES])
def test_framing_byte_by_byte(
    name: str, data: bytes, expected: list[tuple[int, tuple[str, ...]]]
) -> None:
    parser = ReplyParser()
    got = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        got += _collect(parser)
    assert got == expected


@pytest.mark.parametrize("split", [1, 7, 16, 17, 100])
def test_long_reply_split_across_packets_is_one_reply(split: int) -> None:
    # nmap 7.93 read only the first line of a multi-line EHLO and then misread STARTTLS' answer
    data = LONG_EHLO + b"220 Ready to start TLS\r\n"
    parser = ReplyParser()
    got = []
    for i in range(0, len(data), split):
        parser.feed(data[i : i + split])
        got += _collect(parser)
    assert [c for c, _ in got] == [250, 220]
    assert len(got[0][1]) == 42


BAD = [
    ("http", b"HTTP/1.1 400 Bad Request\r\n", "not an SMTP reply line"),
    ("ssh", b"SSH-2.0-OpenSSH_9.2\r\n", "not an SMTP reply line"),
    ("two digits", b"22 hello\r\n", "not an SMTP reply line"),
    ("letters", b"2x0 hello\r\n", "not an SMTP reply line"),
    ("bad separator", b"220_hello\r\n", "not an SMTP reply line"),
    ("code out of range", b"999 hello\r\n", "outside"),
    ("mismatched codes", b"250-a\r\n251 b\r\n", "changed its code"),
    ("line never ends", b"220 " + b"x" * (MAX_LINE + 10), "without an end"),
    ("line too long", b"220 " + b"x" * (MAX_LINE + 10) + b"\r\n", "longer than"),
    (
        "too many lines",
        b"250-x\r\n" * (MAX_REPLY_LINES + 1) + b"250 end\r\n",
        "longer than 1000 lines",
    ),
]


@pytest.mark.parametrize("name,data,message", BAD, ids=[b[0] for b in BAD])
def test_protocol_errors(name: str, data: bytes, message: str) -> None:
    parser = ReplyParser()
    parser.feed(data)
    with pytest.raises(ProtocolError, match=message):
        _collect(parser)
    # once broken, it stays broken and stops buffering (memory stays bounded)
    parser.feed(b"250 OK\r\n" * 1000)
    assert parser.buffered < 10
    with pytest.raises(ProtocolError):
        parser.next_reply()


def test_hostile_ehlo_memory_is_bounded() -> None:
    parser = ReplyParser()
    chunk = b"250-X\r\n" * 10_000
    with pytest.raises(ProtocolError):
        for _ in range(20):  # 200,000 lines
            parser.feed(chunk)
            _collect(parser)
    assert parser.buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_fuzz_bytes_give_replies_or_protocol_error(data: bytes, chunk: int) -> None:
    parser = ReplyParser()
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            for code, lines in _collect(parser):
                assert 200 <= code < 600
                assert all(isinstance(x, str) for x in lines)
    except ProtocolError:
        pass


def test_enhanced_status_and_kind() -> None:
    (r,) = parse_replies(b"554 5.7.1 Relay access denied\r\n")
    assert r.enhanced == "5.7.1" and r.kind == "permanent"
    (r,) = parse_replies(b"250 OK\r\n")
    assert r.enhanced is None and r.kind == "positive"
    assert Reply(250, ("a", "b")).raw_lines() == ["250-a", "250 b"]


def test_parse_ehlo_capabilities() -> None:
    caps = parse_ehlo(
        [
            "mx.example at your service",
            "SIZE 35882577",
            "8BITMIME",
            "STARTTLS",
            "ENHANCEDSTATUSCODES",
            "PIPELINING",
            "CHUNKING",
            "SMTPUTF8",
            "DSN",
            "AUTH LOGIN PLAIN XOAUTH2",
            "AUTH=LOGIN CRAM-MD5",
            "X-WEIRD-THING yes please",
        ]
    )
    assert caps.size_limit == 35882577
    assert caps.starttls
    assert caps.auth == ("LOGIN", "PLAIN", "XOAUTH2", "CRAM-MD5")
    for kw in ("PIPELINING", "8BITMIME", "SMTPUTF8", "CHUNKING", "DSN", "ENHANCEDSTATUSCODES"):
        assert caps.has(kw)
    assert caps.has("X-WEIRD-THING") and caps.params["X-WEIRD-THING"] == "yes please"
    assert caps.extensions.count("AUTH") == 1
    assert parse_ehlo(["mx", "SIZE"]).size_limit is None
    assert parse_ehlo(["mx", "size 10"]).size_limit == 10
    assert not parse_ehlo([]).starttls


@pytest.mark.parametrize(
    "arg", ["a\r\nRCPT TO:<x@y>", "a\nb", "a\rb", "nul\x00", "esc\x1b[31m", "del\x7f", "tab\tx"]
)
def test_build_command_refuses_control_characters(arg: str) -> None:
    with pytest.raises(CommandError, match="control character"):
        build_command("MAIL", f"FROM:<{arg}>")


def test_build_command() -> None:
    assert build_command("EHLO", "client.example") == b"EHLO client.example\r\n"
    assert build_command("QUIT") == b"QUIT\r\n"
    with pytest.raises(CommandError, match="512"):
        build_command("MAIL", "FROM:<" + "a" * 600 + "@x>")


@pytest.mark.parametrize(
    "name,ok",
    [
        ("client.example", True),
        ("[127.0.0.1]", True),
        ("[IPv6:::1]", True),
        ("bücher.example", True),
        ("", False),
        ("a b", False),
        ("x\r\nMAIL FROM:<a>", False),
        ("[999.1.1.1]", False),
        ("-bad-.example", False),
        ("a" * 64 + ".example", False),
    ],
)
def test_validate_ehlo_name(name: str, ok: bool) -> None:
    if ok:
        assert validate_ehlo_name(name)
    else:
        with pytest.raises(CommandError):
            validate_ehlo_name(name)


def _redact(lines: list[tuple[str, str]]) -> list[str]:
    return [x.text for x in redact_transcript(TranscriptLine(0, d, t) for d, t in lines)]


def test_redaction_follows_the_auth_exchange() -> None:
    plain = _redact([("client", "AUTH PLAIN AGFsaWNlAHNlY3JldA=="), ("server", "235 2.7.0 OK")])
    assert plain == [f"AUTH PLAIN {REDACTED}", "235 2.7.0 OK"]
    login = _redact(
        [
            ("client", "AUTH LOGIN"),
            ("server", "334 VXNlcm5hbWU6"),
            ("client", "YWxpY2U="),
            ("server", "334 UGFzc3dvcmQ6"),
            ("client", "c2VjcmV0"),
            ("server", "235 OK"),
            ("client", "MAIL FROM:<alice@example.org>"),
        ]
    )
    assert login == [
        "AUTH LOGIN",
        "334 VXNlcm5hbWU6",
        REDACTED,
        "334 UGFzc3dvcmQ6",
        REDACTED,
        "235 OK",
        "MAIL FROM:<alice@example.org>",
    ]
    cram = _redact(
        [
            ("client", "AUTH CRAM-MD5"),
            ("server", "334 PDEyMzQ1QGV4YW1wbGU+"),
            ("client", "YWxpY2UgZGlnZXN0"),
            ("server", "535 5.7.8 failed"),
            ("client", "QUIT"),
        ]
    )
    assert cram[2] == REDACTED and cram[4] == "QUIT"
    xoauth = _redact(
        [
            ("client", "AUTH XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2tlbgEB"),
            ("server", "334 eyJzdGF0dXMiOiI0MDEifQ=="),
            ("client", ""),
            ("server", "535 no"),
        ]
    )
    assert xoauth == [
        f"AUTH XOAUTH2 {REDACTED}",
        "334 eyJzdGF0dXMiOiI0MDEifQ==",
        REDACTED,
        "535 no",
    ]
    assert "c2VjcmV0" not in " ".join(login) and "dXNlcj1" not in " ".join(xoauth)


def test_redactor_lowercase_verb() -> None:
    r = Redactor()
    assert r.client("auth plain secretpayload") == f"AUTH plain {REDACTED}"


def test_state_table_and_explanations() -> None:
    rows = client_states()
    assert ("SESSION", "STARTTLS", "STARTTLS-SENT") in rows
    states = {a for a, _, _ in rows} | {c for _, _, c in rows}
    assert {"GREETING", "READY", "TLS-HANDSHAKE", "CLOSED"} <= states
    assert "TLS" in explain_line("client", "STARTTLS")
    assert explain_line("server", "530 5.7.0 Must issue STARTTLS").startswith("530:")
    assert "temporary" in explain_line("server", "499 odd")


def test_one_ehlo_parser_keeps_extensions_as_sent() -> None:
    """Live probes, replay and importers read EHLO through this one parser; records keep each
    extension as sent, keywords and AUTH lists are derived from it."""
    caps = parse_ehlo_text(
        "250-mail.example Hello\r\n250-SIZE 35882577\r\n250-AUTH=LOGIN PLAIN\r\n"
        "250-auth LOGIN CRAM-MD5\r\n250 STARTTLS\r\n"
    )
    assert caps is not None
    assert caps.as_sent == ("SIZE 35882577", "AUTH=LOGIN PLAIN", "auth LOGIN CRAM-MD5", "STARTTLS")
    assert caps.extensions == ("SIZE", "AUTH", "STARTTLS") and caps.starttls
    assert caps.auth == ("LOGIN", "PLAIN", "CRAM-MD5") and caps.size_limit == 35882577
    assert [ehlo_keyword(e) for e in caps.as_sent] == ["SIZE", "AUTH", "AUTH", "STARTTLS"]
    assert parse_ehlo_text("554 go away\r\n") is None and parse_ehlo_text("") is None
    from smtplab.importers import parse_ehlo_reply

    assert parse_ehlo_reply("250-x\r\n250 SIZE 1000\r\n") == (["SIZE 1000"], [], 1000)
