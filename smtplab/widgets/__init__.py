"""Widgets for the notebooks: probe panel, transcript player, dataset explorer, port chooser, quiz,
and the lab's inbox.

Each factory returns a widget without displaying it (end a notebook cell with it to show it) and
takes what it acts on as parameters, so the same widget runs headless in the tests::

    import smtplab.widgets as w
    panel = w.probe_panel()            # one click on Run probes the embedded lab
    panel                              # (last line of a cell: shows it)

The parts of each widget are attributes (``panel.run_button``, ``panel.results_html``, …),
listed in the docstring of its class. Behind every widget sits a pure function the tests call
directly: :func:`plan_targets`, :func:`player_frames`, :func:`filter_records`,
:func:`choose_port`, :func:`check_answer`, and the HTML renderers.
"""

from __future__ import annotations

from smtplab.widgets._chooser import (
    CONTRAST,
    SENDERS,
    PortChooser,
    Recommendation,
    choose_port,
    port_chooser,
    recommendation_html,
)
from smtplab.widgets._class import (
    ClassView,
    ShareBox,
    class_summary_html,
    class_view,
    share_box,
)
from smtplab.widgets._explorer import (
    DatasetExplorer,
    count_line,
    dataset_explorer,
    filter_records,
    summary_html,
)
from smtplab.widgets._inbox import Inbox, inbox
from smtplab.widgets._panel import LIVE, ProbePanel, plan_targets, probe_panel, recorded_datasets
from smtplab.widgets._player import (
    SPEEDS,
    PlayerFrames,
    TranscriptPlayer,
    player_frames,
    transcript_player,
)
from smtplab.widgets._quiz import Quiz, check_answer, quiz
from smtplab.widgets._render import (
    TLS_RULE,
    outcome_badge,
    results_table_html,
    transcript_html,
)

__all__ = [
    "CONTRAST",
    "LIVE",
    "SENDERS",
    "SPEEDS",
    "TLS_RULE",
    "ClassView",
    "DatasetExplorer",
    "Inbox",
    "PlayerFrames",
    "PortChooser",
    "ProbePanel",
    "Quiz",
    "Recommendation",
    "ShareBox",
    "TranscriptPlayer",
    "check_answer",
    "choose_port",
    "class_summary_html",
    "class_view",
    "count_line",
    "dataset_explorer",
    "filter_records",
    "inbox",
    "outcome_badge",
    "plan_targets",
    "player_frames",
    "port_chooser",
    "probe_panel",
    "quiz",
    "recommendation_html",
    "recorded_datasets",
    "results_table_html",
    "share_box",
    "summary_html",
    "transcript_html",
    "transcript_player",
]
