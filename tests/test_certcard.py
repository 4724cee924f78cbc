"""The certificate card (issue 25, item 8) in the CLI and the probe panel, and words instead of
codes in `smtplab probe`'s table and checklist."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

import smtplab
from smtplab import schema
from smtplab.certcard import cert_card, days_left
from smtplab.checklist import checklist
from smtplab.cli.render import make_console, probe_table
from smtplab.widgets._certcard import cert_card_html

ROOT = Path(__file__).resolve().parents[1]
ESC = "\x1b"
CERT_ARGS = ("--lab", "classroom", "-p", "465,587", "--cert")
NOSUCH_ARGS = ("--lab", "classroom", "-p", "587")
BAD_HOSTS = ("expired.lab.example", "selfsigned.lab.example", "wronghost.lab.example")


@pytest.fixture(scope="module")
def lab_tls() -> Iterator[dict[str, Any]]:
    """Real probes of port 465 of the classroom lab: a good certificate and the three bad."""
    with smtplab.Lab(scenario="classroom") as lab:
        results = smtplab.probe_many(
            [(h, 465) for h in ("smtp.lab.example", *BAD_HOSTS)], lab=lab, timeout=5
        )
    yield {r.host: r for r in results}


def render(renderable: Any, width: int = 80) -> str:
    buffer = io.StringIO()
    make_console(buffer, width=width, force_terminal=False).print(renderable)
    return buffer.getvalue()


def assert_fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if cell_len(line.rstrip()) > width]
    assert not too_wide, too_wide[:2]


def card_value(text: str, label: str) -> str:
    """The value beside ``label`` in a rendered card (its first line)."""
    for line in text.splitlines():
        parts = line.split(None, 1)
        if parts and parts[0] == label:
            return parts[1].strip()
    raise AssertionError(f"no {label!r} line in:\n{text}")


def test_a_good_certificate_card_at_80_columns(lab_tls: dict[str, Any]) -> None:
    r = lab_tls["smtp.lab.example"]
    assert r.cert_chain == ("CN=smtp.lab.example,O=smtplab",)
    assert r.cert_chain_issuers == ("CN=smtplab lab CA,O=smtplab",)
    text = render(probe_table([r], 80, cert=True))
    assert_fits(text)
    assert card_value(text, "subject") == "CN=smtp.lab.example,O=smtplab"
    assert card_value(text, "issuer") == "CN=smtplab lab CA,O=smtplab"
    assert card_value(text, "names") == "smtp.lab.example"
    left = days_left(r.cert_not_after)
    assert left is not None and left > 30
    assert re.fullmatch(
        rf"20\d\d-\d\d-\d\d \d\d:\d\d UTC \({left} days left\)", card_value(text, "expires")
    )
    assert card_value(text, "trusted") == "yes, valid for smtp.lab.example"
    assert card_value(text, "chain") == "1 certificate sent, leaf first"
    assert card_value(text, "#1") == "CN=smtp.lab.example,O=smtplab"
    assert "→ issued by CN=smtplab lab CA,O=smtplab" in text
    # without --cert the table is as before
    assert "issuer" not in render(probe_table([r], 80))


def test_bad_certificate_cards_say_what_is_wrong(lab_tls: dict[str, Any]) -> None:
    texts = {h: render(probe_table([lab_tls[h]], 80, cert=True)) for h in BAD_HOSTS}
    for text in texts.values():
        assert_fits(text)
    expired = texts["expired.lab.example"]
    assert re.fullmatch(r"2020-01-01 00:00 UTC \(\d+ days ago\)", card_value(expired, "expired"))
    assert card_value(expired, "trusted").startswith("no: certificate has expired")
    selfsigned = texts["selfsigned.lab.example"]
    assert card_value(selfsigned, "issuer") == card_value(selfsigned, "subject")
    assert card_value(selfsigned, "trusted") == "no: self-signed certificate"
    wrong = texts["wronghost.lab.example"]
    assert card_value(wrong, "names") == "mail.other.example"
    assert card_value(wrong, "trusted").startswith("no: Hostname mismatch")


def test_days_left_are_counted_when_the_card_is_drawn() -> None:
    rec = schema.empty_record(
        host="mx.example.org",
        port=25,
        tls_version="TLSv1.3",
        cert_subject="CN=mx.example.org",
        cert_issuer="CN=Some CA",
        cert_not_after="2027-01-31T12:00:00+00:00",
        cert_verified=True,
    )
    at = dt.datetime(2027, 1, 10, 12, 0, tzinfo=dt.timezone.utc)
    lines = {x.label: x for x in cert_card(rec, at)}
    assert lines["expires"].value == "2027-01-31 12:00 UTC (21 days left)"
    assert lines["expires"].tone == "warn"  # under 30 days, as testssl.sh warns
    later = {x.label: x for x in cert_card(rec, at + dt.timedelta(days=25))}
    assert later["expired"].value == "2027-01-31 12:00 UTC (4 days ago)"
    assert later["expired"].tone == "bad"
    assert "chain" not in lines  # an older record has no chain: no chain line
    assert cert_card(schema.empty_record(host="h", port=25), at) == []  # no TLS, no card


HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\u202etxt.exe [bold red]x[/] <script>alert(1)</script>"


def hostile_record() -> dict[str, Any]:
    return schema.empty_record(
        host="mx.example.org",
        port=465,
        tls_mode="implicit",
        tls_version="TLSv1.3",
        outcome="open",
        cert_subject=f"CN={HOSTILE}",
        cert_issuer=f"CN=issuer {HOSTILE}",
        cert_not_after="2030-01-01T00:00:00+00:00",
        cert_san=[HOSTILE, "mx.example.org"],
        cert_verified=False,
        cert_error=f"self-signed {HOSTILE}",
        cert_chain=[f"CN={HOSTILE}"],
        cert_chain_issuers=[f"CN=issuer {HOSTILE}"],
    )


def test_hostile_certificate_text_is_escaped_in_the_terminal() -> None:
    buffer = io.StringIO()
    console = make_console(buffer, width=80, force_terminal=True)
    console.print(probe_table([hostile_record()], 80, cert=True))
    out = buffer.getvalue()
    printed = re.sub(r"\x1b\[[0-9;]*m", "", out)  # rich's own colour codes only
    assert ESC not in printed and "\x07" not in printed and "\u202e" not in printed
    joined = printed.replace("\n", "").replace(" ", "")
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\u202etxt.exe" in joined
    assert "[boldred]x[/]" in joined  # markup shown as text, not obeyed
    assert_fits(printed)


def test_hostile_certificate_text_is_escaped_in_html() -> None:
    page = cert_card_html(hostile_record())
    assert "<script>" not in page and "\x1b" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\u202etxt.exe" in page
    assert "var(--smtplab-bad, #A33A00)" in page  # the palette colour, with its fallback
    assert cert_card_html(schema.empty_record(host="h", port=25)) == ""


def test_the_panel_shows_the_card_above_the_transcript(lab_tls: dict[str, Any]) -> None:
    from smtplab.widgets import probe_panel

    panel = probe_panel(chart=False)
    try:
        panel.show_results([lab_tls["expired.lab.example"]])
        first = panel.transcripts.children[0].value
        assert first.startswith('<div class="smtplab-certcard"')
        assert "days ago" in first and "CN=smtplab lab CA,O=smtplab" in first
    finally:
        panel.close()


def test_probe_cert_option_at_80_columns() -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    out = subprocess.run(
        [sys.executable, "-m", "smtplab", "probe", "selfsigned.lab.example", *CERT_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert_fits(out.stdout)
    assert out.stdout.count("no: self-signed certificate") == 2  # a card under each TLS port
    assert out.stdout.count("→ issued by CN=selfsigned.lab.example,O=smtplab") == 2


# --- words instead of codes -------------------------------------------------------------------


def test_the_probe_table_writes_outcomes_as_words() -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "smtplab", "probe", "nosuch.lab.example", *NOSUCH_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert "DNS failed" in out.stdout, out.stdout
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", out.stdout), out.stdout
    words = render(
        probe_table(
            [
                schema.empty_record(host="h", port=p, outcome=o)
                for p, o in ((25, "not_smtp"), (465, "tls_failed"), (587, "dns_failed"))
            ],
            80,
        )
    )
    assert "not SMTP" in words and "TLS failed" in words and "DNS failed" in words
    assert "_" not in words


def test_checklist_details_are_words() -> None:
    def rec(port: int, **kw: Any) -> dict[str, Any]:
        return schema.empty_record(host="h", vantage="v", port=port, **kw)

    checks = {
        c.code: c
        for c in checklist(
            [
                rec(465, outcome="open", banner_code=220, tls_mode="starttls"),
                rec(587, outcome="not_smtp", banner_code=None),
            ]
        )
    }
    assert checks["implicit_tls_465"].detail == (
        "465: plain SMTP with STARTTLS, not TLS from the first byte"
    )
    for c in checks.values():
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", c.label + " " + c.detail), c
