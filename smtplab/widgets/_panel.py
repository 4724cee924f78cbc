"""The probe panel: pick a host and ports, press Run, see what each port does.

The callback is thin: :meth:`ProbePanel.run` reads the widgets, :func:`plan_targets` turns them
into targets (pure, raises :class:`ProbeInputError` on bad input), the probe function or the
recording answers, and the render functions of :mod:`smtplab.widgets._render` draw the result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import ipywidgets as W

from smtplab.engine import ProbeInputError, ProbeResult
from smtplab.rules import PORTS, deadline_for
from smtplab.schema import MODES
from smtplab.widgets._certcard import cert_card_html
from smtplab.widgets._close import shutting_down
from smtplab.widgets._html import ReopenNote, block_layout, theme_part
from smtplab.widgets._progress import Ticker, waiting_text
from smtplab.widgets._render import (
    chart_html,
    close_parts,
    message_html,
    results_table_html,
    transcript_html,
)

__all__ = ["LIVE", "ProbePanel", "plan_targets", "probe_panel", "recorded_datasets"]

#: The source value meaning "probe the real network".
LIVE: Final = "live"
_LAB_PREFIX: Final = "lab:"
_DATA_PREFIX: Final = "dataset:"

_PORT_ROLES: Final = {
    25: "25 — relay between servers (MTA to MTA)",
    465: "465 — submission over implicit TLS (RFC 8314)",
    587: "587 — submission with STARTTLS",
    2525: "2525 — unofficial alternative to 587",
}

_LIVE_NOTICE: Final = (
    "Live mode probes a real host on the internet: your computer opens a TCP connection to it "
    "from this network, reads its greeting, asks EHLO and STARTTLS, and says QUIT. It sends no "
    "mail and no password. Probe only servers you use or may test; port 25 may be blocked "
    "(RFC 6409 §1)."
)


def recorded_datasets() -> dict[str, Path]:
    """The recordings shipped in ``data/recordings/*.jsonl``, by file name (empty if none)."""
    try:
        from smtplab._paths import data_dir

        folder = data_dir() / "recordings"
    except FileNotFoundError:
        return {}
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.glob("*.jsonl"))}


def plan_targets(host: str, ports: Sequence[int], custom: str = "") -> tuple[str, list[int]]:
    """Check the host and the ports a learner typed; return ``(host, ports)`` in order.

    ``custom`` is extra ports separated by commas or spaces (``"2587, 8025"``). Raises
    :class:`ProbeInputError` with one readable line when something is wrong; nothing is probed.
    """
    from smtplab.engine import _check_host, _check_port

    h = _check_host(host)
    out = [int(p) for p in ports]
    for word in custom.replace(",", " ").split():
        try:
            out.append(_check_port(word))
        except ProbeInputError:
            raise ProbeInputError(
                f"custom port {word!r} is not a port: give numbers from 1 to 65535, like 2587"
            ) from None
    out = list(dict.fromkeys(out))
    if not out:
        raise ProbeInputError("choose at least one port (or type one in the custom port field)")
    return h, out


class ProbePanel(ReopenNote, W.VBox):
    """The probe panel returned by :func:`probe_panel`; its parts are attributes.

    Inputs: ``source`` (Dropdown: ``"lab:<scenario>"``, ``"live"`` or ``"dataset:<file>"``),
    ``host`` (Combobox), ``ports`` (dict port → ToggleButton), ``custom_port`` (Text),
    ``mode`` (Dropdown), ``run_button`` (Button).
    Outputs: ``notice`` (HTML: the scenario's story, or the live-mode warning), ``message``
    (HTML: one-line errors), ``progress`` (IntProgress) and ``progress_label`` (Label),
    ``results_html`` (HTML table), ``chart_html`` (HTML with the chart image),
    ``transcripts`` (Accordion, one HTML per port), ``last_results`` (list of ProbeResult),
    ``share`` (:class:`ShareBox`: the results shown, shared with the class after a preview).
    Call ``close_lab()`` (or ``close()``) to stop the embedded lab it started.
    """

    def __init__(
        self,
        *,
        lab: Any = None,
        scenario: str = "open-internet",
        probe_fn: Callable[..., list[ProbeResult]] | None = None,
        datasets: Mapping[str, Any] | None = None,
        host: str = "smtp.lab.example",
        ports: Sequence[int] = PORTS,
        timeout: float = 3.0,
        chart: bool = True,
    ) -> None:
        import smtplab
        from smtplab.lab import scenarios

        self._probe_fn = probe_fn or smtplab.probe_many
        self._given_lab = lab
        self._lab: Any = lab
        self._lab_lock = threading.Lock()
        self.timeout = timeout
        self.show_chart = chart
        self._datasets: dict[str, Any] = (
            dict(datasets) if datasets is not None else dict(recorded_datasets())
        )
        self._dataset_cache: dict[str, list[dict[str, Any]]] = {}
        #: The results shown now (ProbeResult objects, also for recordings).
        self.last_results: list[ProbeResult] = []

        self._scenarios = scenarios()
        options = _source_options(lab, self._scenarios, self._datasets)
        start = f"{_LAB_PREFIX}{lab.scenario if lab is not None else scenario}"
        if start not in [v for _, v in options]:
            raise ValueError(
                f"unknown scenario {scenario!r}: choose one of {', '.join(self._scenarios)}"
            )

        self._build_widgets(options, start, host, ports)
        self.run_button.on_click(lambda _b: self.run())
        self.source.observe(lambda _c: self._show_notice(), names="value")
        self._show_notice()

        super().__init__(self._layout(), layout=W.Layout(max_width="1200px"))
        self.add_class("smtplab-probe-panel")
        self.add_class("smtplab-widget")

    def _build_widgets(
        self, options: list[tuple[str, str]], start: str, host: str, ports: Sequence[int]
    ) -> None:
        """The inputs and outputs, as attributes (see the class docstring)."""
        self.source = W.Dropdown(
            options=options, value=start, description="Source", layout=W.Layout(width="420px")
        )
        lab_hosts = sorted({h for name in self._scenarios for h in _scenario_hosts(name)})
        self.host = W.Combobox(
            value=host,
            options=lab_hosts,
            description="Host",
            ensure_option=False,
            placeholder="smtp.lab.example or a real host",
            layout=W.Layout(width="420px"),
        )
        self.ports: dict[int, W.ToggleButton] = {
            p: W.ToggleButton(
                value=p in ports,
                description=str(p),
                tooltip=_PORT_ROLES[p],
                layout=W.Layout(width="80px"),
            )
            for p in PORTS
        }
        for toggle in self.ports.values():
            _style_toggle(toggle)
            toggle.observe(lambda c: _style_toggle(c["owner"]), names="value")
        self.custom_port = W.Text(
            value="",
            description="other",
            placeholder="e.g. 2587",
            layout=W.Layout(width="190px"),
            style={"description_width": "45px"},
        )
        self.mode = W.Dropdown(
            options=[
                ("auto", "auto"),
                ("plain (no TLS)", "plain"),
                ("STARTTLS", "starttls"),
                ("implicit TLS", "tls"),
            ],
            value="auto",
            description="Mode",
            layout=W.Layout(width="260px"),
        )
        assert {v for _, v in self.mode.options} == set(MODES)
        self.run_button = W.Button(
            description="Run probe",
            button_style="primary",
            icon="play",
            tooltip="Probe the chosen ports",
            layout=W.Layout(width="160px", height="40px"),
        )
        self.notice = W.HTML(layout=block_layout())
        self.message = W.HTML(layout=block_layout())
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="300px"))
        # a status line that wraps (THEME_CSS) instead of ending in "…" at 1024x768
        self.progress_label = W.Label(value="", layout=W.Layout(flex="1 1 0%", min_width="0"))
        self.progress_label.add_class("smtplab-status")
        self.results_html = W.HTML(value=results_table_html([]), layout=block_layout())
        self.chart_html = W.HTML(layout=block_layout())
        self.transcripts = W.Accordion(children=[])
        from smtplab.widgets._class import ShareBox

        #: "Share with the class": the results shown, sent to the class's collector.
        self.share = ShareBox(lambda: self.last_results)

    def _layout(self) -> list[W.Widget]:
        """The panel's rows, top to bottom."""
        ports_row = W.HBox(
            [
                W.Label("Ports", layout=W.Layout(width="80px")),
                *self.ports.values(),
                self.custom_port,
            ],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )
        return [
            W.HTML(
                '<div style="font-size:20px;font-weight:bold;margin:2px 0">Probe SMTP ports</div>'
            ),
            self.source,
            self.notice,
            self.host,
            ports_row,
            W.HBox([self.mode, self.run_button], layout=W.Layout(align_items="center")),
            W.HBox(
                [self.progress, self.progress_label],
                layout=W.Layout(width="auto", flex_flow="row wrap", align_items="center"),
            ),
            self.message,
            self.results_html,
            self.chart_html,
            W.HTML(
                '<div style="font-size:17px;font-weight:bold;margin-top:6px">'
                "Transcripts (C: client, S: server)</div>"
            ),
            self.transcripts,
            W.Accordion(children=[self.share], titles=("Share with the class",)),
            theme_part(),
        ]

    # --- the lab --------------------------------------------------------------------------

    @property
    def lab(self) -> Any:
        """The lab the panel probes now (None until the first Run in a lab source)."""
        return self._lab

    def _lab_for(self, scenario: str) -> Any:
        """The running lab for ``scenario``, started on first use (its servers run on a thread)."""
        import smtplab

        with self._lab_lock:
            if self._lab is not None and self._lab.scenario == scenario and self._lab.running:
                return self._lab
            if self._lab is not None and self._lab is not self._given_lab:
                self._lab.stop()
            given = self._given_lab
            if given is not None and given.scenario == scenario and given.running:
                self._lab = given  # back to the lab the caller passed in
            else:
                self._lab = smtplab.Lab(scenario=scenario).start()
            return self._lab

    def close_lab(self) -> None:
        """Stop the embedded lab this panel started (a lab passed in is left to its owner)."""
        lock = getattr(self, "_lab_lock", None)
        if lock is None:  # a panel that failed to build
            return
        with lock:
            if self._lab is not None and self._lab is not self._given_lab:
                self._lab.stop()
            self._lab = self._given_lab

    def close(self) -> None:
        """Stop the panel's lab, then close the widgets (nothing to do at interpreter exit)."""
        if shutting_down():
            return
        self.close_lab()
        accordion = getattr(self, "transcripts", None)
        for child in accordion.children if accordion is not None else ():
            child.close()
        close_parts(self)
        super().close()

    # --- rendering --------------------------------------------------------------------------

    def _show_notice(self) -> None:
        src = self.source.value
        if src == LIVE:
            self.notice.value = message_html(_LIVE_NOTICE, "warning")
        elif src.startswith(_LAB_PREFIX):
            name = src[len(_LAB_PREFIX) :]
            self.notice.value = message_html(
                f"Embedded lab, scenario {name}: {self._scenarios.get(name, '')}", "info"
            )
        else:
            name = src[len(_DATA_PREFIX) :]
            self.notice.value = message_html(
                f"Recorded dataset {name}: Run shows what was recorded for this host and these "
                "ports; nothing is probed.",
                "info",
            )

    def _on_progress(self, done: int, total: int, result: ProbeResult) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done
        self.progress_label.value = (
            f"probed {done}/{total}: {result.host}:{result.port} {_word(result)}"
        )

    def show_results(self, results: Sequence[ProbeResult]) -> None:
        """Draw ``results``: the table, the chart and one transcript per port."""
        self.last_results = list(results)
        self.results_html.value = results_table_html(results)
        self.chart_html.value = _chart(results) if self.show_chart and results else ""
        old = list(self.transcripts.children)
        children = [
            W.HTML(
                value=cert_card_html(r) + transcript_html(r, explain=True), layout=block_layout()
            )
            for r in results
        ]
        titles = [
            f"{r.host}:{r.port} — {_word(r)}"
            + (f" ({r.vantage})" if len({x.vantage for x in results}) > 1 else "")
            for r in results
        ]
        self.transcripts.children = children
        self.transcripts.titles = tuple(titles)
        opened = [i for i, r in enumerate(results) if r.outcome == "open"]
        self.transcripts.selected_index = opened[0] if opened else (0 if results else None)
        for w in old:
            w.close()

    # --- the action -------------------------------------------------------------------------

    def run(self) -> list[ProbeResult]:
        """What the Run button does. Never raises: problems become a message in the panel.

        The previous results are cleared first, so nothing old stays on screen during the run
        or under an error message.
        """
        self.message.value = ""
        self.clear_results(message_html("Probing… the results appear here.", "info"))
        self.run_button.disabled = True
        try:
            results = self._run()
        except ProbeInputError as exc:
            self._failed(str(exc))
            return []
        except Exception as exc:
            self._failed(f"The probe could not run: {type(exc).__name__}: {exc}")
            return []
        finally:
            self.run_button.disabled = False
        self.show_results(results)
        blocked = [r for r in results if r.outcome in ("filtered", "unreachable", "refused")]
        if blocked and self.source.value == LIVE:
            self.message.value = message_html(
                "Some ports did not get through: "
                + "; ".join(f"{r.port} {r.outcome}" for r in blocked)
                + ". That is a finding about this network or that server, not a failure of "
                "the panel: see 'what it means' in the table.",
                "info",
            )
        return results

    def clear_results(self, placeholder: str = "") -> None:
        """Take the table, the chart and the transcripts off the screen."""
        self.last_results = []
        self.results_html.value = placeholder
        self.chart_html.value = ""
        old = list(self.transcripts.children)
        self.transcripts.children = []
        self.transcripts.titles = ()
        for child in old:
            child.close()

    def _failed(self, text: str) -> None:
        self.clear_results()
        self.progress.value = 0
        self.progress_label.value = ""
        self.message.value = message_html(text, "error")

    def _run(self) -> list[ProbeResult]:
        chosen = [p for p, b in self.ports.items() if b.value]
        host, ports = plan_targets(self.host.value, chosen, self.custom_port.value)
        src = self.source.value
        self.progress.value = 0
        self.progress.max = len(ports)
        if src.startswith(_DATA_PREFIX):
            return self._from_dataset(src[len(_DATA_PREFIX) :], host, ports)
        kwargs: dict[str, Any] = {"mode": self.mode.value, "timeout": self.timeout}
        if src.startswith(_LAB_PREFIX):
            kwargs["lab"] = self._lab_for(src[len(_LAB_PREFIX) :])
            self.progress_label.value = f"probing {host} in the lab…"
        else:
            self.progress_label.value = f"probing {host} on the real network…"
        targets = [(host, p) for p in ports]
        answered: list[int] = []

        def on_progress(done: int, total: int, result: ProbeResult) -> None:
            answered.append(result.port)
            self._on_progress(done, total, result)

        def draw(elapsed: float) -> None:
            pending = [p for p in ports if p not in answered]
            self.progress_label.value = waiting_text(
                host, pending, len(answered), len(ports), elapsed, self.timeout, self._deadline
            )

        began = time.monotonic()
        with Ticker(draw):
            results = self._probe_fn(
                targets, progress=on_progress, per_host=max(4, len(targets)), **kwargs
            )
        self.progress.value = self.progress.max
        self.progress_label.value = (
            f"done: {len(targets)} port(s) of {host} probed in {_took(time.monotonic() - began)}"
        )
        return list(results)

    @property
    def _deadline(self) -> float:
        """A probe's overall deadline at this timeout (the probe's default: 3 × timeout + 2 s)."""
        return deadline_for(self.timeout)

    def _records(self, name: str) -> list[dict[str, Any]]:
        if name not in self._dataset_cache:
            from smtplab.records import frame_to_records, load_records

            data = self._datasets[name]
            if hasattr(data, "columns"):
                df = data
            else:
                df = load_records(data)
            self._dataset_cache[name] = frame_to_records(df)
        return self._dataset_cache[name]

    def _from_dataset(self, name: str, host: str, ports: list[int]) -> list[ProbeResult]:
        records = self._records(name)
        found = [
            r
            for r in records
            if str(r.get("host", "")).lower() == host.lower() and int(r.get("port", 0)) in ports
        ]
        found.sort(key=lambda r: (ports.index(int(r["port"])), str(r.get("vantage"))))
        if not found:
            hosts = sorted({str(r.get("host")) for r in records})
            raise ProbeInputError(
                f"the recording {name} has no probe of {host} on port(s) "
                f"{', '.join(map(str, ports))}; hosts in it: {', '.join(hosts[:8])}"
                + (" …" if len(hosts) > 8 else "")
            )
        self.progress.max = len(found)
        self.progress.value = len(found)
        self.progress_label.value = f"{len(found)} recorded probe(s) from {name}"
        return [ProbeResult.from_record(r) for r in found]


def _source_options(
    lab: Any, scenarios: Mapping[str, str], datasets: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The Source choices: the lab passed in, every lab scenario, live, every recording."""
    options: list[tuple[str, str]] = []
    if lab is not None:
        options.append((f"the lab you started ({lab.scenario})", f"{_LAB_PREFIX}{lab.scenario}"))
    options += [
        (f"lab — {name}", f"{_LAB_PREFIX}{name}")
        for name in scenarios
        if lab is None or name != lab.scenario
    ]
    options.append(("live (real network)", LIVE))
    options += [(f"recorded — {name}", f"{_DATA_PREFIX}{name}") for name in datasets]
    return options


def _took(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _style_toggle(toggle: W.ToggleButton) -> None:
    """A chosen port is blue with a tick, an unchosen one grey: colour and icon agree."""
    toggle.button_style = "info" if toggle.value else ""
    toggle.icon = "check" if toggle.value else ""


def _word(result: ProbeResult) -> str:
    """The word shown for a probe: its outcome, but never "open" where something on the way
    answered (:func:`smtplab.outcome_words.shown_outcome`)."""
    from smtplab.outcome_words import shown_outcome

    return shown_outcome(result.to_record())


def _scenario_hosts(name: str) -> tuple[str, ...]:
    from smtplab.labworld import SCENARIOS

    return SCENARIOS[name].hosts


def _chart(results: Sequence[ProbeResult]) -> str:
    """The port comparison: where the time went for ports that answered, else the outcome grid."""
    from smtplab import charts

    try:
        if any(r.outcome == "open" for r in results):
            fig = charts.phase_times(results, by="port", title="Where the time went, per port")
        else:
            fig = charts.outcome_heatmap(results, rows="host")
        return chart_html(fig)
    except Exception as exc:
        return message_html(f"(the chart could not be drawn: {exc})", "info")


def probe_panel(
    lab: Any = None,
    scenario: str = "open-internet",
    probe_fn: Callable[..., list[ProbeResult]] | None = None,
    datasets: Mapping[str, Any] | None = None,
    *,
    host: str = "smtp.lab.example",
    ports: Sequence[int] = PORTS,
    timeout: float = 3.0,
    chart: bool = True,
) -> ProbePanel:
    """A panel to probe a host's SMTP ports; works with one click on Run.

    At its defaults it probes ``smtp.lab.example`` on 25, 465, 587 and 2525 in an embedded lab
    (``scenario``), which it starts on the first Run and keeps until ``panel.close_lab()``.
    ``lab``: a running :class:`smtplab.Lab` to use instead. ``probe_fn``: the function that
    probes (default :func:`smtplab.probe_many`; same signature). ``datasets``: recordings to
    offer, name → path or DataFrame (default: the shipped ``data/recordings/*.jsonl``).
    ``timeout``: seconds per probe phase (a filtered port costs this long).

    The panel is returned, not displayed: end a notebook cell with it. See :class:`ProbePanel`
    for the attribute names of its parts.
    """
    return ProbePanel(
        lab=lab,
        scenario=scenario,
        probe_fn=probe_fn,
        datasets=datasets,
        host=host,
        ports=ports,
        timeout=timeout,
        chart=chart,
    )
