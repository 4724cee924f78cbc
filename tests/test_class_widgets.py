"""The class in a notebook: the probe panel's "share with the class" box and the teacher's live
view, against a real collector on loopback and real probes of the lab (ipywidgets driven as in
its own tests: set values, click, read traits)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import smtplab
from smtplab.classroom.server import ClassServer
from smtplab.widgets import class_summary_html, class_view, probe_panel


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ClassServer]:
    with ClassServer(tmp_path / "class") as running:
        yield running


def test_the_panel_shares_after_a_preview_and_the_teacher_sees_it(server: ClassServer) -> None:
    with smtplab.Lab(scenario="hotel-wifi") as lab:
        panel = probe_panel(lab=lab, chart=False, timeout=1)
        try:
            box = panel.share
            box.address.value, box.code.value, box.label.value = (
                server.url,
                server.session.code,
                "hotel <b>wifi</b>",
            )
            box.share_button.click()  # disabled until previewed: nothing is sent
            assert server.store.count() == 0
            box.preview_button.click()
            assert "Run a probe first" in box.output.value
            panel.run()
            box.preview_button.click()
            assert "To share with the class" in box.output.value
            assert "&lt;b&gt;wifi&lt;/b&gt;" in box.output.value  # the label, escaped
            assert not box.share_button.disabled
            box.share_button.click()
            assert "Shared 4 of 4 record(s)" in box.output.value, box.output.value
            assert box.share_button.disabled  # a second click needs a new preview
        finally:
            panel.close_lab()
    view = class_view(server, every=None)
    text = view.html.value
    assert "4 probe records from 1 networks." in text
    assert "⚠ intercepted" in text and "✗ filtered" in text  # 25 and 587 at the hotel
    assert "hotel &lt;b&gt;wifi&lt;/b&gt;" in text and "<b>wifi</b>" not in text
    view.close()


def test_a_wrong_code_is_said_and_nothing_is_lost(server: ClassServer) -> None:
    with smtplab.Lab(scenario="open-internet") as lab:
        panel = probe_panel(lab=lab, chart=False, timeout=1)
        try:
            panel.run()
            box = panel.share
            box.address.value, box.code.value, box.label.value = (server.url, "WRONG1", "home")
            box.preview_button.click()
            box.share_button.click()
            assert "Not shared: " in box.output.value and "wrong join code" in box.output.value
            assert len(panel.last_results) == 4  # the learner's results are still there
        finally:
            panel.close_lab()


def test_the_view_says_when_the_collector_is_gone(tmp_path: Path) -> None:
    server = ClassServer(tmp_path / "gone").start()
    view = class_view(server, every=None)
    server.stop()
    view.refresh()
    assert "Cannot read the class" in view.status.value
    view.close()


def test_the_summary_html_escapes_every_learner_text() -> None:
    evil = "<script>alert(1)</script>"
    summary = {
        "records": 1,
        "learners": [{"id": "x", "label": evil, "records": 1}],
        "ports": [25],
        "grid": [{"learner": "x", "label": evil, "port": 25, "word": "filtered", "probes": 1}],
        "blocks_25": [evil],
        "diagnosis": [
            {"label": evil, "host": evil, "port": 25, "word": "filtered", "answer": evil}
        ],
        "advice": [{"label": evil, "port": None, "security": None, "confidence": evil}],
    }
    assert "<script>" not in class_summary_html(summary)
