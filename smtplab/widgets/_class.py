"""The class as a measurement network, in a notebook: a learner's "share with the class" box
and the teacher's live view of what the class shared.

Both sit on the pure functions of :mod:`smtplab.classroom` (``preview``, ``send``,
``summarise``); the widgets only read inputs and show HTML. Learner text (labels, hosts) is
escaped; colours are JupyterLab's theme variables with light fallbacks, with an icon and a word
beside every colour.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W

from smtplab.widgets._html import BAD, GOOD, WARN, theme_part

__all__ = ["ClassView", "ShareBox", "class_summary_html", "class_view", "share_box"]

_FG = "var(--jp-content-font-color1, #111)"
_MUTED = "var(--jp-content-font-color2, #444)"
_LINE = "var(--jp-border-color1, #bbb)"
_WORD_STYLE = {
    # the theme-following palette of the widgets (smtplab.widgets._html): JupyterLab's own
    # success and warn colours are under 4.5:1 on white (#388E3C 4.1, #F57C00 2.8)
    "open": ("✓", GOOD),
    "intercepted": ("⚠", WARN),
    "stripped": ("⚠", WARN),
}
_BAD = ("✗", BAD)


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _word(word: str, probes: int | None = None) -> str:
    icon, colour = _WORD_STYLE.get(word, _BAD)
    count = f" ({probes})" if probes is not None else ""
    return f'<span style="color:{colour};font-weight:bold">{icon} {_esc(word)}{count}</span>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cell = f"border:1px solid {_LINE};padding:2px 8px;text-align:left"
    out = [f'<table style="border-collapse:collapse;color:{_FG};margin:4px 0 12px">']
    out.append("<tr>" + "".join(f'<th style="{cell}">{_esc(h)}</th>' for h in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td style="{cell}">{c}</td>' for c in row) + "</tr>")
    return "".join(out) + "</table>"


def class_summary_html(summary: Mapping[str, Any]) -> str:
    """The teacher's view of :func:`smtplab.classroom.summary.summarise`'s data, as HTML."""
    ports = list(summary.get("ports", []))
    cells = {(g["learner"], g["port"]): g for g in summary.get("grid", [])}
    labels = {g["learner"]: g["label"] for g in summary.get("grid", [])}
    grid = [
        [_esc(label), *[_word(c["word"], c["probes"]) if (c := cells.get((lid, p))) else "-"
                        for p in ports]]
        for lid, label in labels.items()
    ]  # fmt: skip
    blocks = ", ".join(_esc(x) for x in summary.get("blocks_25", [])) or "none so far"
    diagnosis = [
        [_esc(d["label"]), _esc(f"{d['host']}:{d['port']}"), _word(d["word"]), _esc(d["answer"])]
        for d in summary.get("diagnosis", [])
    ]
    advice = [
        [_esc(a["label"]),
         _esc(a.get("port") if a.get("port") is not None else "none safe from here"),
         _esc(a.get("security") or "-"), _esc(a.get("confidence") or "-")]
        for a in summary.get("advice", [])
    ]  # fmt: skip
    n, nets = summary.get("records", 0), len(summary.get("learners", []))
    return (
        f'<div style="color:{_FG};font-size:15px">'
        f"<p><b>{n} probe records from {nets} networks.</b></p>"
        f"<h4>Outcome by network and port</h4>{_table(['Network', *map(str, ports)], grid)}"
        f"<h4>Networks that block port 25</h4><p>{blocks}</p>"
        "<h4>Is it the server or my network?</h4>"
        f"{_table(['Network', 'Target', 'Here', 'Answer'], diagnosis)}"
        "<h4>The class's advice</h4>"
        f"{_table(['Network', 'Port to use', 'Security', 'How sure'], advice)}"
        f'<p style="color:{_MUTED}">✓ open, ⚠ intercepted or stripped (an answer that is not the '
        "server's), ✗ anything else. An intercepted port answered, but is never working.</p>"
        "</div>"
    )


class ClassView(W.VBox):
    """The teacher's live view: ``html`` (the tables), ``refresh_button``, ``status``; with
    ``every`` seconds it refreshes itself on a background thread until ``close()``."""

    def __init__(self, fetch: Callable[[], Mapping[str, Any]], every: float | None) -> None:
        self._fetch = fetch
        self.html = W.HTML()
        self.status = W.HTML()
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self._stop = threading.Event()
        super().__init__([W.HBox([self.refresh_button, self.status]), self.html, theme_part()])
        self.add_class("smtplab-widget")
        self.refresh()
        if every:
            threading.Thread(target=self._loop, args=(every,), daemon=True).start()

    def refresh(self) -> None:
        try:
            self.html.value = class_summary_html(self._fetch())
            self.status.value = ""
        except Exception as exc:  # the collector stopped or is out of reach: say so, keep going
            why = _esc(exc)
            self.status.value = f'<span style="color:{_MUTED}">Cannot read the class: {why}</span>'

    def _loop(self, every: float) -> None:
        while not self._stop.wait(every):
            self.refresh()

    def close(self) -> None:
        self._stop.set()
        super().close()


def class_view(server: Any, *, every: float | None = 2.0) -> ClassView:
    """The live view of a :class:`smtplab.classroom.ClassServer` started in this notebook."""
    from smtplab.classroom.summary import summarise

    return ClassView(lambda: summarise(server.store), every)


class ShareBox(W.VBox):
    """ "Share with the class": ``address``, ``code``, ``label`` (Text), ``preview_button``,
    ``share_button``, ``output`` (HTML). Preview first: sharing is possible only after the
    learner has seen what will be sent."""

    def __init__(
        self,
        results: Callable[[], Sequence[Any]],
        send: Callable[..., Any] | None = None,
    ) -> None:
        from smtplab.classroom import share

        self._results = results
        self._send = send or share.send
        self.address = W.Text(description="Address", placeholder="192.0.2.10:8025")
        self.code = W.Text(description="Join code", placeholder="on the teacher's screen")
        self.label = W.Text(description="Network", placeholder="home, phone hotspot, campus")
        self.preview_button = W.Button(description="Preview", icon="eye")
        self.share_button = W.Button(
            description="Share with the class", icon="share", disabled=True, button_style="info"
        )
        self.output = W.HTML()
        self._previewed: list[dict[str, Any]] | None = None
        self.preview_button.on_click(lambda _b: self.preview())
        self.share_button.on_click(lambda _b: self.share())
        for box in (self.address, self.code, self.label):
            box.observe(lambda _c: self._forget(), names="value")
        super().__init__(
            [
                W.HTML("<b>Share these results with the class</b>"),
                self.address, self.code, self.label,
                W.HBox([self.preview_button, self.share_button]),
                self.output,
            ]
        )  # fmt: skip

    def _forget(self) -> None:
        self._previewed = None
        self.share_button.disabled = True

    def _records(self) -> list[dict[str, Any]]:
        from smtplab.records.normalise import as_records

        return as_records(list(self._results()))

    def preview(self) -> None:
        from smtplab.classroom.share import ShareError, check_label, preview

        records = self._records()
        try:
            label = check_label(self.label.value)
        except ShareError as exc:
            self.output.value = f"<p>{_esc(exc)}</p>"
            return
        if not records:
            self.output.value = "<p>Run a probe first: there is nothing to share yet.</p>"
            return
        lines = preview(records, label, self.address.value or "(no address yet)")
        self.output.value = "<pre>" + _esc("\n".join(lines)) + "</pre>"
        self._previewed = records
        self.share_button.disabled = False

    def share(self) -> None:
        from smtplab.classroom.share import ShareError

        if self._previewed is None:
            self.output.value = "<p>Preview first, to see what will be sent.</p>"
            return
        try:
            report = self._send(
                self._previewed,
                address=self.address.value,
                code=self.code.value,
                label=self.label.value,
            )
        except ShareError as exc:
            self.output.value = f"<p>Not shared: {_esc(exc)}</p>"
            return
        refused = "".join(f"<li>record {i + 1}: {_esc(why)}</li>" for i, why in report.refused)
        self.output.value = (
            f"<p>Shared {report.accepted} of {report.total} record(s) with the class.</p>"
            + (f"<ul>{refused}</ul>" if refused else "")
        )
        self._forget()


def share_box(results: Callable[[], Sequence[Any]]) -> ShareBox:
    """A "share with the class" box for the results ``results()`` returns (e.g. a probe
    panel's ``last_results``)."""
    return ShareBox(results)
