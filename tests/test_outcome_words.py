"""One vocabulary from the probe to every view: at the hotel, port 25 answered by the hotel's own
filter is ``intercepted`` — never a green "open" — in ``smtplab show`` and ``show --summary``,
the checklist, the lab's table, the probe panel, the dataset explorer and its heat map, and
the port chooser (issue 25, item 3). Everything here reads the shipped hotel-wifi recording or
runs the real lab."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import smtplab
import smtplab.widgets as w
from smtplab._paths import data_dir
from smtplab.checklist import checklist
from smtplab.outcome_words import SHOWN_SQL, WORDS, reword, shown_outcome, word_rank

HOTEL = data_dir() / "recordings" / "hotel-wifi.jsonl"
RECORDINGS = sorted((data_dir() / "recordings").glob("*.jsonl"))


def hotel_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in HOTEL.read_text().splitlines() if line.strip()]


def badges(html: str) -> list[str]:
    """The outcome words of the badges in widget HTML, in order."""
    return re.findall(r'class="smtplab-outcome smtplab-outcome-([a-z_]+)"', html)


def test_the_hotel_recording_is_what_these_tests_assume() -> None:
    recs = hotel_records()
    by = {(r["host"], r["port"]): r for r in recs}
    assert {r["outcome"] for r in recs if r["port"] == 25} == {"open"}
    assert all(shown_outcome(by[(h, 25)]) == "intercepted" for h, _ in by)
    assert shown_outcome(by[("smtp.lab.example", 465)]) == "open"


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_the_sql_word_is_the_python_word_on_every_shipped_recording(path: Path) -> None:
    from smtplab.records import Dataset

    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with Dataset.open(path, cache=False) as ds:
        words = ds.sql(f"SELECT {SHOWN_SQL} AS w FROM records")["w"].tolist()
    assert words == [shown_outcome(r) for r in recs]


def test_words_move_to_a_neutral_place_and_classroom_still_imports_them() -> None:
    from smtplab.classroom import words as old

    assert old.shown_outcome is shown_outcome and old.WORDS == WORDS
    assert word_rank("open") < word_rank("intercepted") < word_rank("rejected")
    assert reword("open×3 filtered×1", {"intercepted": 3}) == (
        "intercepted",
        "intercepted×3 filtered×1",
    )
    assert reword("open×2 refused×1", {"open": 1, "intercepted": 1}) == (
        "open",
        "open×1 intercepted×1 refused×1",
    )


def _show(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "smtplab", "show", *args, str(HOTEL)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin", **_pythonpath()},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _pythonpath() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")}


def test_show_calls_the_hotels_25_intercepted_and_its_checklist_fails_it() -> None:
    out = _show()
    rows = re.findall(r"^(\S+\.lab\.example)\s+(\d+)\s+\d+\s+(\S+)", out, re.M)
    assert len(rows) == 24, out
    assert {word for _, port, word in rows if port == "25"} == {"intercepted"}
    assert ("smtp.lab.example", "465", "open") in rows
    # the checklist: no "greets with 220" or "AUTH only after TLS" pass for the intercepted 25
    block = out.split("Checks for mx.lab.example")[1].split("Checks for")[0]
    lines = " ".join(block.split())
    assert "✗ FAIL greets with 220" in lines and "25: intercepted" in lines
    assert "✗ FAIL greeting names the host you asked for (25: names smtp.isp-filter.example)" in (
        lines
    )
    assert "✓ pass offers AUTH only after TLS" not in lines


def test_show_summary_calls_the_hotels_25_intercepted() -> None:
    out = _show("--summary")
    rows = dict(re.findall(r"^lab:hotel-wifi\s+(\d+)\s+\d+\s+(\S+)", out, re.M))
    assert rows == {"25": "intercepted", "465": "open", "587": "filtered", "2525": "refused"}
    assert "intercepted×6" in out and "open×6" not in out


def test_checklist_greeting_names_the_host() -> None:
    checks = {(c.host, c.code): c for c in checklist(hotel_records())}
    smtp = "smtp.lab.example"
    names = checks[(smtp, "greeting_names_host")]
    assert not names.passed and names.detail == "25: names smtp.isp-filter.example"
    assert not checks[(smtp, "greeting_220")].passed
    assert not checks[(smtp, "auth_after_tls_only")].passed
    assert "25: intercepted" in checks[(smtp, "auth_after_tls_only")].detail
    # on a network that does not intercept, the same host passes all three
    home_text = (data_dir() / "recordings" / "home-isp.jsonl").read_text()
    home = [json.loads(x) for x in home_text.splitlines() if x.strip()]
    good = {(c.host, c.code): c for c in checklist(home)}
    assert good[(smtp, "greeting_names_host")].passed
    assert good[(smtp, "greeting_220")].passed
    # ProbeResults, record dicts and DataFrame rows give the same checks
    frame = smtplab.load_records(HOTEL)
    assert [c.passed for c in checklist(frame.to_dict("records"))] == [
        c.passed for c in checklist(hotel_records())
    ]


def test_the_lab_table_says_intercepted_where_the_hotel_answers() -> None:
    from rich.console import Console

    from smtplab.cli.lab_cmd import endpoint_block

    with smtplab.Lab(scenario="hotel-wifi") as lab:
        endpoints = list(lab.endpoints)
    console = Console(width=100, record=True, color_system=None)
    console.print(endpoint_block(endpoints, 100))
    text = console.export_text()
    rows = re.findall(r"^(\S+\.lab\.example)\s+(\d+)\s.*?(\S+)\s*$", text, re.M)
    words = {(h, p): word for h, p, word in rows}
    assert words[("smtp.lab.example", "25")] == "intercepted", text
    assert words[("smtp.lab.example", "465")] == "open", text


def test_the_panel_shows_intercepted_from_the_hotel_recording() -> None:
    def must_not_probe(*args: Any, **kwargs: Any) -> list[smtplab.ProbeResult]:
        raise AssertionError("dataset mode probed")

    p = w.probe_panel(probe_fn=must_not_probe, datasets={"hotel": HOTEL}, chart=False)
    try:
        p.source.value = "dataset:hotel"
        p.run_button.click()
        assert badges(p.results_html.value) == ["intercepted", "open", "filtered", "open"]
        assert "named another site" in p.results_html.value
        assert p.transcripts.titles[0].endswith("intercepted")
    finally:
        p.close()


def test_the_explorer_table_and_heat_map_show_intercepted() -> None:
    e = w.dataset_explorer(str(HOTEL))
    try:
        e.wait_for_charts()
        words = badges(e.summary_html.value)
        assert words.count("intercepted") == 6 and words.count("open") == 5, words
        assert "Port 25 was intercepted for all 6 hosts" in e.heatmap_html.value
    finally:
        e.close()
    # a DataFrame, and the heat map drawn straight from records
    e = w.dataset_explorer(smtplab.load_records(HOTEL), charts=False)
    try:
        assert badges(e.summary_html.value).count("intercepted") == 6
    finally:
        e.close()
    from smtplab import charts

    alt = charts.outcome_heatmap(hotel_records()).alt_text
    assert "Port 25 was intercepted for all 6 hosts" in alt and "Port 25 was open" not in alt


def test_the_chooser_badge_for_the_hotels_25_is_intercepted() -> None:
    chooser = w.port_chooser(smtplab.load_records(HOTEL), sender="relay")
    try:
        line = chooser.children[4].value
        by_port = dict(
            re.findall(
                r"<b>(\d+)</b> <span class=\"smtplab-outcome smtplab-outcome-"
                r"([a-z_]+)\"",
                line,
            )
        )
        assert by_port == {"25": "intercepted", "465": "open", "587": "filtered", "2525": "open"}
    finally:
        chooser.close()
