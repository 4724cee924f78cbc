"""The terminal face of the CLI: tables that fit 80 and 120 columns, colour only where it belongs,
swaks-style transcripts, the per-host checklist, -c/--concurrency, and the real CLI in tmux."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from tmux import needs_tmux, run_to_the_end, smtplab_command, terminal, tmux

import smtplab
from smtplab import schema
from smtplab.checklist import checklist
from smtplab.cli.lab_cmd import endpoint_block
from smtplab.cli.records_cmd import summary_block
from smtplab.cli.render import make_console, probe_table, transcript_lines
from smtplab.records import load_records, save_records, summarize

ROOT = Path(__file__).resolve().parents[1]
ESC = "\x1b"


@pytest.fixture(scope="module")
def lab_results() -> Iterator[tuple[list[Any], Any]]:
    """Real probes of two hosts in the home-isp lab (port 25 filtered, TLS on the others)."""
    with smtplab.Lab(scenario="home-isp") as lab:
        results = smtplab.probe_many(
            [(h, p) for h in ("smtp.lab.example", "mx.lab.example") for p in (25, 465, 587, 2525)],
            lab=lab,
            timeout=1,
        )
        endpoints = list(lab.endpoints)
    yield results, endpoints


def render(renderable: Any, width: int, **kw: Any) -> str:
    buffer = io.StringIO()
    console = make_console(buffer, width=width, force_terminal=kw.pop("force_terminal", False))
    console.print(renderable)
    return buffer.getvalue()


def assert_fits(text: str, width: int) -> None:
    too_wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not too_wide, f"{len(too_wide)} line(s) wider than {width}: {too_wide[:2]!r}"


@pytest.mark.parametrize("width", [80, 120])
def test_probe_table_fits_and_wraps_findings_between_words(
    lab_results: tuple[list[Any], Any], width: int
) -> None:
    results, _ = lab_results
    text = render(probe_table(results, width), width)
    assert_fits(text, width)
    assert ESC not in text  # not a terminal: no colour
    tokens = set(text.split())
    for r in results:
        for f in r.findings:
            missing = [w for w in f.message.split() if w not in tokens]
            assert not missing, f"words cut at {width} columns: {missing}"
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "PORT", "OUTCOME", "TLS", "AUTH", "TIME"]
    first_row = next(i for i, line in enumerate(lines) if line.startswith("smtp.lab.example"))
    assert "filtered" in lines[first_row]
    assert lines[first_row + 1].startswith("    [medium]")  # the finding sits under its row


@pytest.mark.parametrize("width", [80, 120])
def test_show_and_lab_tables_fit(
    lab_results: tuple[list[Any], Any], width: int, tmp_path: Path
) -> None:
    results, endpoints = lab_results
    save_records(results, tmp_path / "r.jsonl")
    summary = summarize(load_records(tmp_path / "r.jsonl"))
    shown = "".join(render(block, width) for block in summary_block(summary, width))
    assert_fits(shown, width)
    assert "vantage lab:home-isp" in shown and "mx.lab.example" in shown
    lab_text = render(endpoint_block(endpoints, width), width)
    assert_fits(lab_text, width)
    assert "PROBE SAYS" in lab_text and "real socket 127.0.0.1:" in lab_text
    tokens = set(lab_text.split()) | set(shown.split())
    words = {e.profile for e in endpoints if e.profile} | {e.host for e in endpoints}
    assert words <= tokens, f"cut mid-word: {words - tokens}"


def test_colour_on_a_terminal_only_and_never_with_no_color(
    lab_results: tuple[list[Any], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    results, _ = lab_results
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert f"{ESC}[" in render(probe_table(results, 100), 100, force_terminal=True)
    monkeypatch.setenv("NO_COLOR", "1")
    coloured = render(probe_table(results, 100), 100, force_terminal=True)
    assert "\x1b[3" not in coloured and "\x1b[1;3" not in coloured  # no foreground colours


def test_json_output_has_no_colour_on_a_terminal(tmp_path: Path) -> None:
    from smtplab.cli.output import json_line

    rec = schema.empty_record(host="mx.lab.example", port=25, outcome="open")
    line = json_line(rec)
    assert ESC not in line and json.loads(line)["outcome"] == "open"


def test_transcript_reads_like_swaks() -> None:
    with smtplab.Lab(scenario="open-internet") as lab:
        user, password = lab.credentials
        r = smtplab.probe("smtp.lab.example", 587, lab=lab, timeout=2, auth=(user, password))
    lines = [t.plain for t in transcript_lines(r)]
    assert lines[0] == "=== smtp.lab.example:587 (open)"
    assert any(x.startswith("<-  220 ") for x in lines)
    assert " -> EHLO" in [x[:8] for x in lines]
    assert " -> STARTTLS" in lines
    tls_at = next(i for i, x in enumerate(lines) if x.startswith("=== TLS established"))
    after = lines[tls_at + 1 :]
    assert any(x.startswith(" ~> EHLO") for x in after)  # encrypted lines, as swaks marks them
    assert any(x.startswith("<~  250") for x in after)
    assert all(password not in x for x in lines)
    assert any("AUTH PLAIN [redacted]" in x or "[redacted]" in x for x in after)


def test_probe_and_show_transcript_option(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "smtplab"]
    probe = subprocess.run(
        [
            *(*cmd, "probe", "smtp.lab.example", "-p", "587", "--lab", "open-internet"),
            *("--timeout", "2", "--transcript", "--record", str(out)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert " -> STARTTLS" in probe.stdout and "=== TLS established" in probe.stdout
    show = subprocess.run(
        [*cmd, "show", str(out), "--transcript"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert show.returncode == 0, show.stderr
    assert " -> STARTTLS" in show.stdout and "Checks for smtp.lab.example" in show.stdout


# --- the checklist: a pure function of records ------------------------------------------------


def rec(port: int, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "host": "mail.example.org",
        "vantage": "home",
        "port": port,
        "outcome": "open",
        "banner_code": 220,
    }
    return schema.empty_record(**{**base, **kw})


def by_code(checks: list[Any]) -> dict[str, Any]:
    return {c.code: c for c in checks}


def test_checklist_of_a_well_run_submission_host() -> None:
    good_tls = {"tls_version": "TLSv1.3", "cert_verified": True}
    checks = by_code(
        checklist(
            [
                rec(25, outcome="filtered", banner_code=None),
                rec(465, tls_mode="implicit", auth_after_tls=["PLAIN"], **good_tls),
                rec(
                    587,
                    tls_mode="starttls",
                    starttls_offered=True,
                    auth_before_tls=[],
                    auth_after_tls=["PLAIN", "LOGIN"],
                    **good_tls,
                ),
            ]
        )
    )
    assert all(c.passed for c in checks.values()), checks
    assert set(checks) == {
        "greeting_220",
        "submission_reachable",
        "starttls_offered",
        "implicit_tls_465",
        "auth_after_tls_only",
        "cert_valid",
        "tls_1_2",
    }
    assert checks["greeting_220"].detail == "465, 587"


def test_checklist_names_each_failure_with_its_port() -> None:
    checks = by_code(
        checklist(
            [
                rec(25, banner_code=554, outcome="rejected"),
                rec(465, tls_mode="none", outcome="open"),
                rec(
                    587,
                    starttls_offered=False,
                    auth_before_tls=["PLAIN", "LOGIN"],
                    relay_check="accepted",
                ),
                rec(
                    2525,
                    tls_mode="starttls",
                    starttls_offered=True,
                    tls_version="TLSv1",
                    cert_verified=False,
                    cert_error="certificate has expired",
                ),
            ]
        )
    )
    failed = {code: c.detail for code, c in checks.items() if not c.passed}
    assert failed == {
        "greeting_220": "25: greeting 554",
        "starttls_offered": "587: not offered",
        "implicit_tls_465": "465: no TLS",
        "auth_after_tls_only": "587: PLAIN LOGIN in cleartext",
        "cert_valid": "2525: certificate has expired",
        "tls_1_2": "2525: TLSv1",
        "no_open_relay": "587: relays to a foreign domain",
    }
    assert checks["submission_reachable"].passed


def test_checklist_is_per_vantage_and_host_and_only_what_was_seen() -> None:
    checks = checklist(
        [
            rec(587, outcome="filtered", banner_code=None),
            rec(587, vantage="hotel", outcome="filtered", banner_code=None),
            rec(25, host="other.example", outcome="refused", banner_code=None),
        ]
    )
    assert [(c.vantage, c.host, c.code, c.passed) for c in checks] == [
        ("home", "mail.example.org", "submission_reachable", False),
        ("hotel", "mail.example.org", "submission_reachable", False),
    ]
    assert checklist([]) == []


def test_checklist_agrees_with_the_lab(lab_results: tuple[list[Any], Any]) -> None:
    results, _ = lab_results
    checks = [c for c in checklist(results) if c.host == "smtp.lab.example"]
    assert checks and all(c.passed for c in checks), [c for c in checks if not c.passed]


# --- concurrency ------------------------------------------------------------------------------


def test_concurrency_option_bounds_probes_in_flight(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "smtplab", "probe", "smtp.lab.example", "--lab", "home-isp"]
    bad = subprocess.run(
        [*base, "-c", "0"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert bad.returncode == 2 and "--concurrency" in bad.stderr
    out = subprocess.run(
        [*base, "-p", "25,465", "-c", "1", "--timeout", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    first, second = sorted(
        (json.loads(x) for x in out.stdout.splitlines()), key=lambda r: r["started_at"]
    )
    gap = datetime.fromisoformat(second["started_at"]) - datetime.fromisoformat(first["started_at"])
    # One at a time: the second probe starts only after the first (which took total_ms) ended.
    assert gap.total_seconds() * 1000 >= first["total_ms"] * 0.95


# --- the real CLI in a real terminal (tmux, 80 columns) ---------------------------------------


@needs_tmux
def test_probe_in_an_80_column_terminal() -> None:
    server = f"smtplab-test-{os.getpid()}"
    command = smtplab_command("probe smtp.lab.example --lab home-isp --timeout 3")
    # port 25 is dropped at home: its line says it still waits for the TCP connection
    saw_live, joined, coloured = run_to_the_end(server, command, rows=60, poll=0.2)
    assert "__DONE__ 0" in joined, joined
    assert saw_live, "no live line per port while port 25 waited out its timeout"
    assert_fits(joined, 80)  # -J joins lines the terminal wrapped: none may be wider
    assert "HOST" in joined and "OUTCOME" in joined and "filtered" in joined
    assert "Checks for smtp.lab.example" in joined and "✓ pass" in joined
    assert "s left · waiting" not in joined.split("HOST")[1]  # the live lines are gone
    assert f"{ESC}[" in coloured  # a terminal gets colour


def _lab_on_a_projector(
    server: str, folder: Path, scenario: str, while_serving: Any = None
) -> tuple[str, str]:
    """``smtplab lab`` in a real 80x24 terminal: (the screen once it serves, how many lines
    scrolled off); ``while_serving(screen)`` runs before Ctrl-C stops it."""
    command = smtplab_command(f"lab --scenario {scenario} --dir {folder}")
    with terminal(server, command, rows=24):
        deadline = time.monotonic() + 60
        screen = ""
        while time.monotonic() < deadline and "Inbox: http" not in screen:
            time.sleep(0.2)
            screen = tmux(server, "capture-pane", "-p")
        scrolled = tmux(server, "display-message", "-p", "#{history_size}").strip()
        if while_serving is not None:
            while_serving(screen)
        tmux(server, "send-keys", "C-c")
        after = ""
        while time.monotonic() < deadline and "__DONE__" not in after:
            time.sleep(0.2)
            after = tmux(server, "capture-pane", "-p")
    assert "Lab stopped." in after and "__DONE__ 0" in after, after
    return screen, scrolled


@needs_tmux
@pytest.mark.parametrize("scenario", ["classroom", "open-internet", "hotel-wifi"])
def test_the_lab_fits_an_80x24_projector_terminal(scenario: str, tmp_path: Path) -> None:
    import re
    import socket
    import ssl

    def point_at(screen: str) -> re.Match[str]:
        found = re.search(
            r"Point your mail program at server (\S+), port (\d+) \(smtp\.lab\.example:465\), "
            r"security SSL/TLS \(implicit TLS\), user student, password ([A-Za-z0-9]+)",
            " ".join(screen.splitlines()),  # joined as the terminal wrapped it
        )
        assert found, screen
        return found

    def dial_with_the_ca_file(screen: str) -> None:
        """A mail program's first step: TLS to the line's server, trusting the named CA file."""
        found = point_at(screen)
        ca = re.search(r"CA: (\S+) ", " ".join(screen.splitlines()))
        assert ca and Path(ca[1]) == tmp_path / "lab-ca.pem", screen
        context = ssl.create_default_context(cafile=ca[1])
        with socket.create_connection((found[1], int(found[2])), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="smtp.lab.example") as tls:
                assert tls.recv(100).startswith(b"220 smtp.lab.example")

    server = f"smtplab-lab-{os.getpid()}-{scenario}"
    screen, scrolled = _lab_on_a_projector(server, tmp_path, scenario, dial_with_the_ca_file)
    lines = screen.rstrip("\n").splitlines()
    assert scrolled == "0", f"{scrolled} lines scrolled off:\n{screen}"  # nothing scrolled off
    assert lines[0].startswith(f"smtplab lab: scenario {scenario}"), screen
    assert_fits(screen, 80)
    header = next(x for x in lines if x.startswith("HOST"))
    assert header.split() == ["HOST", "25", "465", "587", "2525"]
    smtp_row = next(x for x in lines if x.startswith("smtp.lab.example"))
    hotel = ["intercept", "open", "filtered", "open"]  # the hotel's paragraph, said as a row
    want = hotel if scenario == "hotel-wifi" else ["refused", "open", "open", "open"]
    assert smtp_row.split()[1:] == want
    if scenario == "classroom":
        assert next(x for x in lines if x.startswith("tarpit.lab.example")).split()[1] == "silent"
    password = point_at(screen)[3]
    assert password == (tmp_path / "password").read_text().strip()
    assert "BEGIN CERTIFICATE" not in screen
    assert re.search(r"Inbox: http://127\.0\.0\.1:\d+/ ", " ".join(lines)), screen
    if scenario == "hotel-wifi":  # INSTRUCTOR.md shows this screen: as the command prints it
        guide = (ROOT / "notebooks" / "INSTRUCTOR.md").read_text(encoding="utf-8")
        shown = guide.split("smtplab lab --scenario hotel-wifi` in an 80×24 terminal")[1]
        shown = shown.split("```text\n")[1].split("```")[0]
        upto = "Point your mail program at server 127.0.0.1, port "
        assert shown.split(upto)[0] == screen.split(upto)[0]
        return
    # a second run with the same folder: the same password
    again, _ = _lab_on_a_projector(server + "-again", tmp_path, scenario)
    assert point_at(again)[3] == password
