"""The probe against hostile servers: it ends on time, in bounded memory, with the right word.

Every behaviour is a real server on loopback (``tests/hostile.py``). For each one the probe, run
with ``timeout=1, deadline=3``, must: return within the deadline (plus 1 s of slack for a busy
CI runner); keep its memory bounded (tracemalloc peak); give the outcome below; keep a readable
transcript (printable text only, bounded lines); let no exception escape, not even one it caught
itself (no "internal error" event); and the CLI must print exactly one JSON record for it.

The outcome each behaviour must give, reasoned from DESIGN.md's outcome words (``open`` means an
SMTP greeting 220 came, whatever broke afterwards — the breakage is the result's ``error`` and a
``protocol_problem`` finding):

========================  ==========  ===========================================================
behaviour                 outcome     why
========================  ==========  ===========================================================
never_ending_line         not_smtp    no reply ever completes; past MAX_LINE (4 KiB) it is not SMTP
ehlo_flood (200k lines)   open        220 came; the EHLO reply breaks MAX_REPLY_LINES: error
trickle (1 byte / 0.5 s)  silent      a tarpit: an SMTP greeting was starting, none came in time
binary_garbage            not_smtp    something else answered
http_banner               not_smtp    an HTTP server answered (the error says HTTP)
ssh_banner                not_smtp    an SSH server answered (the error says SSH)
close_after_greeting      reset       connection lost mid-conversation
bad_reply_code (``22``)   not_smtp    a reply line starts with three digits
starttls_garbage          tls_failed  STARTTLS agreed, then no TLS: the handshake failed
                                      (and no ``wrong_tls_mode``: this is not a mode mix-up)
starttls_injection        open        works after TLS; the injected reply is discarded and
                                      reported as ``starttls_injection``
auth_cleartext            open        finding ``auth_before_tls``; the probe sends no AUTH
starttls_masked           open        finding ``starttls_masked`` (XXXXXXXA in place of STARTTLS)
auth_echo_plain           open        a working server; with credentials, every echo of the
                                      AUTH data (greeting, 535, 221) is redacted everywhere
auth_echo_login           open        the same for AUTH LOGIN's base64 user and password
auth_echo_broken          open        the same when the echo is not SMTP and lands in the error
greeting_421/554          rejected    the server refuses this client
invalid_utf8_nul          open        valid SMTP syntax; odd bytes shown escaped
terminal_escapes          open        valid SMTP; ESC, BEL, 8-bit CSI, RTL override escaped
mismatched_multiline      open        220 came; the EHLO reply breaks SMTP: error
mismatched_greeting       not_smtp    the greeting itself is not a valid reply
tcp_reset                 reset       TCP was established, then RST (a closed port is refused)
expired_implicit_tls      open        implicit TLS found on a non-465 port; cert_verified False
reply_flood               open        220 came; unasked-for replies: error, none taken as answer
silent_after_greeting     open        220 came; no EHLO reply in time: error
long_line_after_greeting  open        220 came; a 1 MB reply line breaks MAX_LINE: error
========================  ==========  ===========================================================
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import BEHAVIOURS, Started, has_stream_start_tls, start_all
from servers import Certs, ServerThread

import smtplab
from smtplab.engine import MAX_TRANSCRIPT_LINES, ProbeResult
from smtplab.protocol import MAX_LINE

TIMEOUT = 1.0
DEADLINE = 3.0
#: A loaded 2-core runner may schedule the probe late by a second or more; a probe that hung
#: would be far past this.
SLACK = 2.0
#: Whole-probe memory: generous for one probe (they peak under 3 MB), far below what an
#: unbounded reader of a 10 MB flood or a 16 MB endless line would hold.
MAX_PEAK = 20_000_000
#: The 200,000-line flood in particular: the 1,000-line reply cap and the transcript cap keep it
#: to a few MB; keeping all 200,000 lines would take tens of MB.
MAX_PEAK_FLOOD = 8_000_000

BIDI = {"\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def codes(r: ProbeResult) -> set[str]:
    return {f.code for f in r.findings}


def unreadable(text: str, allow: str = "") -> list[str]:
    """Characters that could paint a terminal or reorder text: controls and bidi overrides."""
    return [c for c in text if (unicodedata.category(c) == "Cc" and c not in allow) or c in BIDI]


def assert_readable(r: ProbeResult) -> None:
    assert 0 < len(r.transcript) <= MAX_TRANSCRIPT_LINES + 1
    for line in r.transcript:
        assert line.dir in ("client", "server", "event")
        assert isinstance(line.text, str)
        assert not unreadable(line.text), (line.dir, line.text[:200])
        # one wire line is at most MAX_LINE bytes, each shown as at most 4 characters (\xNN)
        assert len(line.text) <= 4 * MAX_LINE + 300, (line.dir, len(line.text))
        assert not line.text.startswith("internal error"), line.text  # a bug of ours, caught
    for text in (r.banner or "", r.error or "", *(f.message for f in r.findings)):
        assert not unreadable(text, allow="\n"), text[:200]  # a multi-line banner keeps its \n


@pytest.fixture(scope="module")
def hostile(servers: ServerThread, certs: Certs) -> Started:
    return start_all(servers, certs)


@pytest.fixture(scope="module")
def cafile(certs: Certs, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("hostile-ca") / "ca.pem"
    path.write_text(certs.ca_pem)
    return str(path)


#: Probes each (name, port) from argv in turn, each inside its own tracemalloc window, and
#: prints one JSON line per probe: in a process of its own, the peak is the probe's alone (the
#: hostile servers, which live in the test process, allocate nothing here).
_MEASURE = r"""
import json, sys, time, tracemalloc
import smtplab

targets, cafile, timeout, deadline = json.loads(sys.argv[1])
for name, port in targets:
    tracemalloc.start()
    try:
        t = time.monotonic()
        r = smtplab.probe("127.0.0.1", port, timeout=timeout, deadline=deadline, cafile=cafile)
        elapsed = time.monotonic() - t
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(json.dumps({"name": name, "elapsed": elapsed, "peak": peak, "record": r.to_record()}))
"""


@pytest.fixture(scope="module")
def probed(hostile: Started, cafile: str) -> Iterator[dict[str, tuple[ProbeResult, float, int]]]:
    """Each behaviour probed once, one after another, in a separate process (so tracemalloc
    measures the probe alone, not the servers answering it)."""
    targets = [
        (name, port)
        for name, port in hostile.ports.items()
        if name != "starttls_injection" or has_stream_start_tls()
    ]
    root = Path(__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps([targets, cafile, TIMEOUT, DEADLINE])],
        capture_output=True,
        text=True,
        timeout=len(targets) * (DEADLINE + SLACK) + 60,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
    out: dict[str, tuple[ProbeResult, float, int]] = {}
    for line in done.stdout.splitlines():
        row = json.loads(line)
        out[row["name"]] = (ProbeResult.from_record(row["record"]), row["elapsed"], row["peak"])
    assert set(out) == {name for name, _ in targets}
    yield out


def test_at_least_fifteen_behaviours() -> None:
    assert len(BEHAVIOURS) >= 15
    assert set(BEHAVIOURS) >= {
        "never_ending_line",
        "ehlo_flood",
        "trickle",
        "binary_garbage",
        "http_banner",
        "ssh_banner",
        "close_after_greeting",
        "bad_reply_code",
        "starttls_garbage",
        "starttls_injection",
        "auth_cleartext",
        "greeting_421",
        "greeting_554",
        "invalid_utf8_nul",
        "mismatched_multiline",
        "tcp_reset",
        "expired_implicit_tls",
    }
    for b in BEHAVIOURS.values():  # the table above and the catalogue agree
        assert f"\n{b.name}" in __doc__ or b.name.startswith("greeting_"), b.name
        assert b.outcome in smtplab.schema.OUTCOMES


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_probe_survives(name: str, probed: dict[str, tuple[ProbeResult, float, int]]) -> None:
    if name not in probed:
        pytest.skip("StreamWriter.start_tls needs Python 3.11")
    b = BEHAVIOURS[name]
    r, elapsed, peak = probed[name]
    assert elapsed <= DEADLINE + SLACK, f"took {elapsed:.2f} s"
    assert peak < MAX_PEAK, f"peak {peak / 1e6:.1f} MB"
    assert r.outcome == b.outcome, (r.error, [(x.dir, x.text[:80]) for x in r.transcript][:30])
    if b.finding:
        assert b.finding in codes(r), codes(r)
    if b.error:
        assert r.error and "protocol_problem" in codes(r), (r.error, codes(r))
    elif b.outcome == "open":
        assert r.error is None, r.error
    assert_readable(r)
    rec = r.to_record()
    json.dumps(rec)
    assert ProbeResult.from_record(rec) == r
    # the probe never offers credentials by itself, whatever the server advertises
    assert not [x for x in r.transcript if x.dir == "client" and x.text.upper().startswith("AUTH")]
    assert not [x for x in r.transcript if x.dir == "client" and x.text.upper().startswith("DATA")]


def test_flood_memory_and_transcript_stay_small(probed: dict) -> None:
    r, _, peak = probed["ehlo_flood"]
    assert peak < MAX_PEAK_FLOOD, f"peak {peak / 1e6:.1f} MB"
    assert "1000 lines" in (r.error or "")
    assert sum(1 for x in r.transcript if x.dir == "server") <= 1002  # greeting + 1,001 lines


def test_never_ending_line_stops_at_the_line_limit(probed: dict) -> None:
    r, elapsed, _ = probed["never_ending_line"]
    # stopped by size, not by a timer: the error names the limit, not a timeout (a wall-clock
    # bound here failed on a loaded 2-core machine; speed belongs in benchmarks)
    error = r.error or ""
    assert "4096" in error and "timed out" not in error and " within " not in error
    assert elapsed < 3 * TIMEOUT + 2  # and within the probe's overall deadline


def test_trickle_is_a_tarpit_not_garbage(probed: dict) -> None:
    r, elapsed, _ = probed["trickle"]
    assert "tarpit" in (r.error or "")
    assert elapsed < 2 * TIMEOUT + SLACK  # and no pointless implicit-TLS retry after it
    assert "implicit_tls_detected" not in codes(r)


def test_http_and_ssh_are_named(probed: dict) -> None:
    assert "HTTP" in (probed["http_banner"][0].error or "")
    assert "SSH" in (probed["ssh_banner"][0].error or "")


def test_starttls_garbage_is_not_called_a_mode_mixup(probed: dict) -> None:
    r = probed["starttls_garbage"][0]
    assert r.starttls_offered and "wrong_tls_mode" not in codes(r)
    assert "STARTTLS" in (r.error or "")


def test_starttls_injection_is_discarded(probed: dict, hostile: Started) -> None:
    if "starttls_injection" not in probed:
        pytest.skip("StreamWriter.start_tls needs Python 3.11")
    r = probed["starttls_injection"][0]
    assert r.tls_mode == "starttls" and r.cert_verified is True and r.tls_version
    # what the server said AFTER TLS counts; the injected "250 AUTH PLAIN" does not
    assert r.auth_after_tls == ("PLAIN", "LOGIN")
    assert "INJECTED" not in " ".join(r.extensions)
    events = [x.text for x in r.transcript if x.dir == "event"]
    assert any(e.startswith("discarding 1 unexpected") for e in events)
    seen = [c.split(b" ")[0].upper() for c in hostile.recorders["starttls_injection"].commands]
    assert seen[:4] == [b"EHLO", b"STARTTLS", b"EHLO", b"QUIT"]


def test_auth_offered_in_cleartext_is_not_used(probed: dict, hostile: Started) -> None:
    r = probed["auth_cleartext"][0]
    assert r.auth_before_tls == ("PLAIN", "LOGIN")
    rec = hostile.recorders["auth_cleartext"]
    assert rec.connections >= 1 and rec.commands
    assert not [c for c in rec.commands if c.upper().startswith(b"AUTH")]


def test_control_characters_are_escaped_not_dropped(probed: dict) -> None:
    r = probed["terminal_escapes"][0]
    text = "\n".join(x.text for x in r.transcript)
    for shown in ("\\x1b[2J", "\\x9b", "\\x07", "\\u202e"):
        assert shown in text, shown
    r = probed["invalid_utf8_nul"][0]
    assert "\\x00" in (r.banner or "") and "\\xff" in (r.banner or "")


def test_unasked_replies_are_never_taken_as_answers(probed: dict) -> None:
    r = probed["reply_flood"][0]
    assert "nobody asked for" in (r.error or "")
    assert r.esmtp is None and r.extensions == ()  # no "250 unasked-for" taken for an EHLO reply


def test_expired_certificate_on_another_port(probed: dict, hostile: Started) -> None:
    r = probed["expired_implicit_tls"][0]
    assert hostile.ports["expired_implicit_tls"] != 465
    assert r.tls_mode == "implicit" and r.tls_version and r.cert_verified is False
    assert "expired" in (r.cert_error or "").lower()


def test_mismatched_codes_are_named(probed: dict) -> None:
    assert "changed its code" in (probed["mismatched_multiline"][0].error or "")
    assert "changed its code" in (probed["mismatched_greeting"][0].error or "")


# --- the command line: exactly one record each ------------------------------------------------


def _cli(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "smtplab",
            "probe",
            "127.0.0.1",
            "-p",
            str(port),
            "--json",
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parent.parent,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_runs(hostile: Started) -> dict[str, tuple[subprocess.CompletedProcess[str], float]]:
    """Every behaviour through the CLI, a few at a time (each run is its own process)."""

    def run(name: str) -> tuple[str, subprocess.CompletedProcess[str], float]:
        t = time.monotonic()
        done = _cli(hostile.ports[name])
        return name, done, time.monotonic() - t

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        return {name: (done, el) for name, done, el in pool.map(run, hostile.ports)}


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_cli_prints_exactly_one_record(name: str, cli_runs: dict) -> None:
    if name == "starttls_injection" and not has_stream_start_tls():
        pytest.skip("StreamWriter.start_tls needs Python 3.11")
    done, elapsed = cli_runs[name]
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout[:500]
    rec = json.loads(lines[0])
    assert rec["outcome"] == BEHAVIOURS[name].outcome, (rec["error"], rec["transcript"][:20])
    assert rec["schema_version"] == smtplab.schema.SCHEMA_VERSION and rec["port"] > 0
    # the CLI's deadline is 3 x timeout + 2 s: the probe's own clock says it kept it (the wall
    # time of a whole process on a loaded runner measures the scheduler, not the probe)
    assert rec["total_ms"] <= 5000 + 1000 * SLACK, rec["total_ms"]
    assert elapsed < 30, elapsed


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_replay_of_a_hostile_conversation_gives_the_same_result(
    name: str, probed: dict[str, tuple[ProbeResult, float, int]]
) -> None:
    """Whatever the server did, its recording replays through the same core to the same result."""
    from smtplab.replaying import differences, replay

    r = probed[name][0]
    assert differences(r, replay(r)) == []


# --- a server that echoes the AUTH data: redacted in every field (issue 11 #2) ----------------


@pytest.mark.parametrize("name", ["auth_echo_plain", "auth_echo_login", "auth_echo_broken"])
def test_echoed_auth_data_is_redacted_everywhere(
    name: str, hostile: Started, cafile: str, tmp_path: Path
) -> None:
    from servers import PASSWORD, USER

    from smtplab.redaction import secret_forms

    port = hostile.ports[name]
    for _ in range(2):  # the second time, the plain variant greets with the password too
        r = smtplab.probe(
            "127.0.0.1",
            port,
            timeout=TIMEOUT,
            deadline=DEADLINE,
            cafile=cafile,
            auth=(USER, PASSWORD),
        )
    assert r.cert_verified is True and r.outcome == "open", (r.error, codes(r))
    got = hostile.recorders[name].commands
    assert any(c.upper().startswith(b"AUTH") for c in got)  # the server really had the secret
    echoed = [x.text for x in r.transcript if x.dir == "server" and "[redacted]" in x.text]
    assert echoed, [x.text for x in r.transcript]  # ...and really sent it back
    if name == "auth_echo_plain":
        assert "[redacted]" in (r.banner or "")
    if name == "auth_echo_broken":
        assert "[redacted]" in (r.error or ""), r.error
    saved = tmp_path / "echo.jsonl"
    smtplab.save_records([r], saved)
    places = {
        "repr": repr(r),
        "str": str(r),
        "html": r._repr_html_(),
        "record": json.dumps(r.to_record()),
        "saved file": saved.read_text(encoding="utf-8"),
        "findings": " ".join(f.message for f in r.findings),
        "error": r.error or "",
        "banner": r.banner or "",
    }
    from smtplab.replaying import differences, replay

    assert differences(r, replay(r)) == []
    secrets = [x for x in secret_forms(USER, PASSWORD) if x != USER]
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} appears in the {where}"
