"""The password never leaves a probe, in any form (issue 23 #3 and its low finding).

A real server on loopback (STARTTLS with a certificate the probe trusts, so the probe does log
in) answers AUTH with whatever a test tells it: the password echoed whole, cut short, escaped,
upper-cased, in hex, URL-encoded, split over two lines, in a line that is not SMTP at all. Each
test then looks for the secret, in every form, everywhere a result can show it: the record as
JSON, ``repr`` and ``str``, the HTML view, the transcript, and a file written by
``smtplab.save_records``.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hostile import has_stream_start_tls
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from leaks import answer_auth, assert_absent, shown_texts, starttls_server
from servers import Certs, ServerThread

import smtplab
from smtplab.engine import ProbeResult
from smtplab.engine.result import OWN_FIELDS, redact_result
from smtplab.protocol import REDACTED, TranscriptLine, printable
from smtplab.redaction import MIN_FRAGMENT, Scrubber

USER = "alice"


@dataclass
class Echo:
    """What the echo server answers to the AUTH command (set by each test), and what it got."""

    reply: bytes = b"535 5.7.8 no\r\n"
    got: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def echo() -> Echo:
    return Echo()


@pytest.fixture(scope="module")
def echo_port(servers: ServerThread, certs: Certs, echo: Echo) -> int:
    if not has_stream_start_tls():
        pytest.skip("StreamWriter.start_tls needs Python 3.11")

    answer = answer_auth(echo.got, lambda: echo.reply)
    return servers.raw(starttls_server(certs, b"echo.test", answer))


@pytest.fixture(scope="module")
def cafile(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("redaction-ca") / "ca.pem"
    path.write_text(certs.ca_pem)
    return str(path)


def probe_echo(port: int, cafile: str, password: str) -> ProbeResult:
    return smtplab.probe(
        "127.0.0.1", port, auth=(USER, password), cafile=cafile, timeout=2, deadline=6
    )


# --- issue 23 #3: a password in error text --------------------------------------------------

#: A long password lands past the 80 bytes the "not an SMTP reply line" error quotes: the error
#: kept its first characters. A password with a backslash and both quotes comes out of repr()
#: escaped (``\\``, ``\'``), so the plain text was not found in it.
BROKEN_ECHO_PASSWORDS = [
    "correct-horse-battery-staple-and-then-some-more-words",
    "back\\slash'and\"quotes",
]


@pytest.mark.parametrize("password", BROKEN_ECHO_PASSWORDS)
def test_a_password_echoed_in_a_line_that_is_not_smtp_stays_out_of_the_error(
    password: str, echo: Echo, echo_port: int, cafile: str, tmp_path: Path
) -> None:
    echo.reply = b"you said, and I quote it here at length to fill a line: " + password.encode()
    echo.reply += b"\r\n"
    r = probe_echo(echo_port, cafile, password)
    assert echo.got and echo.got[-1].startswith(b"AUTH PLAIN ")  # the secret went out
    assert r.outcome == "open" and r.cert_verified is True, (r.error, r.transcript)
    assert r.error and "not an SMTP reply line" in r.error, r.error
    assert "protocol_problem" in {f.code for f in r.findings}
    escaped = repr(password)[1:-1]
    fragments = {password[i : i + 8] for i in range(len(password) - 7)}
    fragments |= {escaped[i : i + 8] for i in range(len(escaped) - 7)}
    assert_absent(shown_texts(r, tmp_path / "r.jsonl"), fragments)
    assert "[redacted]" in r.error
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []  # the redacted record still replays to itself


# --- property: random secrets, random transformations, a real server echoing them ---------------

#: How a server may hand the secret back (the low finding of issue 23 named these). Written here
#: from the standard library, independently of what smtplab.redaction looks for.
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "as sent": lambda s: s,
    "upper-cased": str.upper,
    "lower-cased": str.lower,
    "hex": lambda s: s.encode().hex(),
    "HEX": lambda s: s.encode().hex().upper(),
    "URL-encoded": lambda s: quote(s, safe=""),
    "URL-encoded, + for space": quote_plus,
    "percent-encoded, every byte": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "repr()": lambda s: repr(s)[1:-1],
}

#: Where the server puts the echo: its greeting, its EHLO reply after TLS, its answer to AUTH,
#: or, in place of an answer to AUTH, a line that is not SMTP (the echo reaches the error).
WHERE = ("greeting", "ehlo", "auth reply", "not SMTP")

#: What the echo is made of: the secret whole, a cut piece of it, or split over two lines.
SHAPES = ("whole", "cut", "split")

PASSWORDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=40
)


def bases(password: str) -> dict[str, str]:
    """What the probe sends for a login, before any transformation."""
    b64 = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    return {
        "password": password,
        "AUTH PLAIN payload": b64(f"\0{USER}\0{password}"),
        "AUTH LOGIN password": b64(password),
        "AUTH LOGIN password, unpadded": b64(password).rstrip("="),
        "XOAUTH2 payload": b64(f"user={USER}\x01auth=Bearer {password}\x01\x01"),
        "OAUTHBEARER payload": b64(f"n,a={USER},\x01auth=Bearer {password}\x01\x01"),
    }


@dataclass(frozen=True)
class Injection:
    """One echo: which secret, transformed how, shaped how, sent where."""

    base: str
    transform: str
    shape: str
    where: str
    text: str  # the transformed secret
    pieces: tuple[str, ...]  # what goes on the wire: one piece, or two for a split

    def script(self) -> dict[str, bytes]:
        """What the server sends as its greeting, inside its EHLO reply after TLS, and in answer
        to AUTH."""
        one = self.pieces[0].encode()
        two = self.pieces[1].encode() if len(self.pieces) == 2 else None
        out = {"greeting": b"220 echo.test ESMTP\r\n", "ehlo": b"", "auth": b"535 5.7.8 no\r\n"}
        if self.where == "greeting":
            out["greeting"] = (
                b"220-echo.test " + one + b"\r\n220 " + two + b"\r\n"
                if two is not None
                else b"220 echo.test " + one + b"\r\n"
            )
        elif self.where == "ehlo":
            out["ehlo"] = b"250-X-ECHO " + one + b"\r\n"
            if two is not None:
                out["ehlo"] += b"250-" + two + b"\r\n"
        elif self.where == "auth reply":
            out["auth"] = (
                b"535-5.7.8 you said " + one + b"\r\n535 5.7.8 " + two + b"\r\n"
                if two is not None
                else b"535 5.7.8 you said " + one + b"\r\n"
            )
        else:
            out["auth"] = b"you said " + one + b"\r\n"
        return out

    def checked(self, password: str) -> set[str]:
        """The forms none of which may be seen: the secrets as sent, and what was echoed."""
        echoed = self.pieces[0] if self.shape == "cut" else self.text
        return {echoed, *bases(password).values()}


@st.composite
def injections(draw: st.DrawFn, passwords: st.SearchStrategy[str]) -> tuple[str, Injection]:
    password = draw(passwords)
    base = draw(st.sampled_from(sorted(bases(password))))
    transform = draw(st.sampled_from(sorted(TRANSFORMS)))
    text = TRANSFORMS[transform](bases(password)[base])
    where = draw(st.sampled_from(WHERE))
    shapes = [s for s in SHAPES if not (s == "split" and where == "not SMTP")]
    if len(text) <= MIN_FRAGMENT:
        shapes = [s for s in shapes if s != "cut"]
    if len(text) < 2:
        shapes = [s for s in shapes if s != "split"]
    shape = draw(st.sampled_from(shapes))
    pieces: tuple[str, ...] = (text,)
    if shape == "cut":  # a prefix ("its first 20 characters"), or a middle part, of 8 or more
        size = draw(st.integers(MIN_FRAGMENT, len(text) - 1))
        start = draw(st.integers(0, len(text) - size))
        pieces = (text[start : start + size],)
    elif shape == "split":  # any cut: the two pieces may both be short
        cut = draw(st.integers(1, len(text) - 1))
        pieces = (text[:cut], text[cut:])
    return password, Injection(base, transform, shape, where, text, pieces)


def shown_forms(form: str) -> set[str]:
    """How a text can look where a result shows it: as is, escaped for a terminal, quoted by
    repr() (with either quote), and as a JSON string holds it."""
    out = {form, printable(form.encode())}
    out |= {repr(x)[1:-1] for x in list(out)} | {ascii(x)[1:-1] for x in list(out)}
    out |= {x.replace("'", "\\'") for x in out} | {x.replace('"', '\\"') for x in out}
    out |= {json.dumps(x, ensure_ascii=a)[1:-1] for x in list(out) for a in (True, False)}
    return {x for x in out if x}


def leaks(secret_forms: set[str], texts: dict[str, str]) -> list[str]:
    """Where a form (whole; or any MIN_FRAGMENT characters of it) is seen in ``texts``, also
    with their line breaks taken out (a secret split over two lines joins up again there)."""
    found = []
    for where, text in texts.items():
        text = text.replace(REDACTED, "\0")
        views = {text, text.replace("\n", ""), text.replace("\\n", "")}
        for form in {y for x in secret_forms for y in shown_forms(x)}:
            windows = (
                {form}
                if len(form) < MIN_FRAGMENT
                else {form[i : i + MIN_FRAGMENT] for i in range(len(form) - MIN_FRAGMENT + 1)}
            )
            for w in windows:
                if any(w in v for v in views):
                    found.append(f"{w!r} (of {form!r}) in the {where}")
    return found


def server_lines_joined(r: ProbeResult) -> str:
    """The server's lines, reply codes taken off, run together: a secret split over two lines
    is whole again here."""
    head = re.compile(r"^[0-9]{3}[ -]?(?:[245]\.[0-9]{1,3}\.[0-9]{1,3} ?)?")
    return "".join(head.sub("", x.text) for x in r.transcript if x.dir == "server")


@dataclass
class Script:
    """What the scripted server says right now (each example sets it before probing)."""

    lines: dict[str, bytes] = field(default_factory=dict)
    got: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@pytest.fixture(scope="module")
def script_port(servers: ServerThread, certs: Certs, script: Script) -> int:
    """A server that greets, answers EHLO (STARTTLS, then after TLS AUTH PLAIN) and AUTH with
    what ``script`` holds."""
    if not has_stream_start_tls():
        pytest.skip("StreamWriter.start_tls needs Python 3.11")

    return servers.raw(
        starttls_server(
            certs,
            b"echo.test",
            answer_auth(script.got, lambda: script.lines.get("auth", b"535 5.7.8 no\r\n")),
            greeting=lambda: script.lines.get("greeting", b"220 echo.test ESMTP\r\n"),
            ehlo_lines=lambda: script.lines.get("ehlo", b""),
        )
    )


def run_injection(
    port: int, cafile: str, script: Script, password: str, case: Injection
) -> ProbeResult:
    script.lines = case.script()
    script.got.clear()
    r = probe_echo(port, cafile, password)
    # the login really happened, over verified TLS: the server had the secret to echo
    assert r.cert_verified is True and r.outcome == "open", (r.error, r.transcript)
    assert len(script.got) == 1 and script.got[0].startswith(b"AUTH PLAIN "), script.got
    return r


def own_text(r: ProbeResult) -> str:
    """Everything a result shows that is the probe's own (field names, outcome words, host,
    numbers), with every text from the server emptied: a secret seen only here is no echo."""
    emptied = {
        f.name: ("" if isinstance(getattr(r, f.name), str) else ())
        for f in dataclasses.fields(r)
        if f.name not in OWN_FIELDS and isinstance(getattr(r, f.name), (str, tuple))
    }
    bare = dataclasses.replace(r, **emptied)
    return "\n".join([repr(bare), str(bare), bare._repr_html_(), json.dumps(bare.to_record())])


LONG_PASSWORDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
    min_size=MIN_FRAGMENT,
    max_size=40,
)


@settings(
    max_examples=int(os.environ.get("SMTPLAB_REDACTION_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=injections(LONG_PASSWORDS))
def test_no_form_of_the_secret_survives_a_real_server(
    case: tuple[str, Injection], script_port: int, script: Script, cafile: str, tmp_path: Path
) -> None:
    """A random password (8 to 40 characters, any Unicode but controls), one of the secrets a
    login sends, transformed at random, whole, cut or split over two lines, echoed by a real
    server in its greeting, its EHLO reply, its answer to AUTH or a line that is not SMTP: no
    form of it, nor 8 characters of one, is in the record, repr, str, HTML view, transcript,
    error, findings or saved file."""
    password, inj = case
    r = run_injection(script_port, cafile, script, password, inj)
    forms = inj.checked(password)
    assume(not leaks(forms, {"own": own_text(r)}))  # a secret like "127.0.0.1" is no echo
    texts = shown_texts(r, tmp_path / f"{uuid.uuid4().hex}.jsonl")
    texts["server lines run together"] = server_lines_joined(r)
    assert not leaks(forms, texts), (inj, leaks(forms, texts)[:5])


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [x for x in value if isinstance(x, str)] if isinstance(value, tuple) else []


SHORT_PASSWORDS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=MIN_FRAGMENT - 1,
)


@settings(
    max_examples=int(os.environ.get("SMTPLAB_REDACTION_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=injections(SHORT_PASSWORDS))
def test_a_short_password_is_still_found_whole(
    case: tuple[str, Injection], script_port: int, script: Script, cafile: str
) -> None:
    """Under 8 characters a password is found where it appears whole (and its base64 forms,
    which are longer, as above): in every text the server could have put it into."""
    password, inj = case
    r = run_injection(script_port, cafile, script, password, inj)
    texts = {  # the text fields (numbers are the probe's own measurements)
        f"{f.name} {i}": x
        for f in dataclasses.fields(r)
        if f.name not in OWN_FIELDS | {"findings", "transcript"}
        for i, x in enumerate(_strings(getattr(r, f.name)))
    }
    texts |= {f"finding {i}": f.message for i, f in enumerate(r.findings)}
    texts |= {f"transcript line {i}": x.text for i, x in enumerate(r.transcript)}
    assert not leaks(inj.checked(password), texts), (inj, leaks(inj.checked(password), texts)[:5])
    if inj.shape == "split":  # the two pieces are never both left, where they join up
        pieces = [printable(x.encode()) for x in inj.pieces]
        server = [x.text for x in r.transcript if x.dir == "server"]
        for a, b in itertools.pairwise(server):
            head = re.compile(r"^[0-9]{3}[ -]?(?:[245]\.[0-9]{1,3}\.[0-9]{1,3} ?)?")
            assert not (a.endswith(pieces[0]) and head.sub("", b).startswith(pieces[1])), (a, b)


# --- the scrubber itself: many more cases, no network ------------------------------------------

FILLER = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(case=injections(LONG_PASSWORDS), before=FILLER, after=FILLER)
def test_the_scrubber_finds_every_injected_form(
    case: tuple[str, Injection], before: str, after: str
) -> None:
    """The same injections as above, between random text, straight into the scrubber: none is
    left, a second pass changes nothing, and a scrubber without secrets changes nothing."""
    password, inj = case
    scrubber = Scrubber.for_login(USER, password)
    if len(inj.pieces) == 2:
        lines = [before + inj.pieces[0], "535 5.7.8 " + inj.pieces[1] + after]
    else:
        lines = [before + inj.pieces[0] + after]
    forms = inj.checked(password)
    assume(not leaks(forms, {"filler": before + "\0" + after}))
    out = scrubber.scrub_lines(lines)
    texts = {"lines": "\n".join(out), "printable": printable("\n".join(out).encode())}
    assert not leaks(forms, texts), (lines, out)
    assert scrubber.scrub_lines(out) == out
    assert scrubber.scrub("\n".join(lines)) == "\n".join(out)
    assert Scrubber().scrub_lines(lines) == lines


def test_redaction_reaches_every_field_but_the_probes_own() -> None:
    """Deny by default: every field of a result that is not in OWN_FIELDS is redacted, whatever
    its name, so a field added later cannot escape; the own fields hold only the probe's words."""
    secret = "s3cret-Passw0rd"
    rec: dict[str, object] = {}
    for f in dataclasses.fields(ProbeResult):
        if f.name == "findings":
            rec[f.name] = [{"code": "auth_failed", "severity": "medium", "message": secret}]
        elif f.name == "transcript":
            rec[f.name] = [{"t": 1.0, "dir": d, "text": secret} for d in ("server", "event")]
        elif f.name in OWN_FIELDS:
            continue
        elif f.type in ("str | None", "str"):
            rec[f.name] = secret
        elif "tuple[str, ...]" in str(f.type):
            rec[f.name] = [secret, "ok"]
    r = ProbeResult.from_record({"host": "mail.example", "port": 587, **rec})
    out = redact_result(r, Scrubber.for_login(USER, secret))
    assert secret in repr(r)  # the test really put it in
    for f in dataclasses.fields(out):
        assert secret not in repr(getattr(out, f.name)), f.name
    assert out.findings[0].code == "auth_failed" and out.transcript[0].dir == "server"
    own = {f.name for f in dataclasses.fields(ProbeResult)} & OWN_FIELDS
    assert own == OWN_FIELDS  # every own field exists, spelt right
    assert not {"banner", "error", "extensions", "cert_subject", "cert_error"} & OWN_FIELDS
    assert redact_result(r, Scrubber()) is r  # no login: nothing to do, nothing done


def test_a_short_password_is_replaced_only_whole() -> None:
    s = Scrubber.for_login(USER, "hunter")
    assert s.scrub("535 hunter? HUNTER! hunte") == "535 [redacted]? [redacted]! hunte"
    assert s.scrub_lines(["535-you said hun", "535 ter"]) == [
        "535-you said [redacted]",
        "535 [redacted]",
    ]


def test_repetitive_text_costs_bounded_work_and_leaks_nothing() -> None:
    """A secret that repeats itself, in a banner that repeats it too, would cost the matcher
    hundreds of steps a character: past WORK_PER_CHAR the whole text is redacted instead."""
    s = Scrubber.for_login(USER, "ab" * 40)
    text = "220 " + "ab" * 50_000
    assert s.scrub(text) == REDACTED
    plain = Scrubber.for_login(USER, "s3cret-Passw0rd")
    banner = ("250-a harmless line of an honest server " * 25_000)[:1_000_000]
    assert plain.scrub(banner) == banner  # a megabyte with no secret in it is left as it was


def test_typed_transcript_lines_and_findings_are_redacted_in_every_part() -> None:
    """Events are becoming typed data (a kind and fields): whatever parts a line or a finding
    gains, each is redacted unless it is one of the probe's own words (OWN_PARTS)."""

    @dataclasses.dataclass(frozen=True)
    class TypedLine(TranscriptLine):
        kind: str = "protocol_error"
        detail: str = ""
        fields: tuple[tuple[str, str], ...] = ()

    secret = "s3cret-Passw0rd"
    lines = (
        TypedLine(
            1.0, "event", "protocol error", detail=f"line {secret!r}", fields=(("x", secret),)
        ),
        TypedLine(2.0, "server", "535-you said s3cret", kind="reply"),
        TypedLine(3.0, "server", "535 -Passw0rd", kind="reply"),
    )
    r = dataclasses.replace(ProbeResult.from_record({"host": "h", "port": 25}), transcript=lines)
    out = redact_result(r, Scrubber.for_login(USER, secret))
    assert "s3cret" not in repr(out.transcript) and "Passw0rd" not in repr(out.transcript)
    assert [x.kind for x in out.transcript] == ["protocol_error", "reply", "reply"]  # type: ignore[attr-defined]
    assert out.transcript[0].detail == "line '[redacted]'"  # type: ignore[attr-defined]
    assert [x.text for x in out.transcript[1:]] == ["535-you said [redacted]", "535 [redacted]"]
