"""Every chart renders, for synthetic records, round-tripped records and shipped recordings."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from smtplab import charts, reference
from smtplab._paths import data_dir
from smtplab.schema import FIELD_NAMES, empty_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
HOSTS = ("mx.lab.example", "smtp.lab.example", "legacy.lab.example")
VANTAGES = ("lab:home-isp", "lab:open-network", "lab:cloud-vm")
TLS_MODE = {25: "starttls", 465: "implicit", 587: "starttls", 2525: "starttls"}


def _outcome(vantage: str, host: str, port: int) -> str:
    if vantage == "lab:home-isp" and port == 25:
        return "filtered"  # the ISP drops outbound 25
    if vantage == "lab:cloud-vm" and port == 25:
        return "filtered"
    if vantage == "lab:cloud-vm" and port == 465:
        return "refused"
    if host == "mx.lab.example" and port == 2525:
        return "refused"
    if host == "legacy.lab.example" and port == 465:
        return "silent"
    return "open"


def synthetic_records() -> list[dict[str, Any]]:
    """36 probes: 3 vantages × 3 hosts × 4 ports; legacy.lab.example offers AUTH in cleartext."""
    recs = []
    i = 0
    for vantage in VANTAGES:
        for host in HOSTS:
            for port in (25, 465, 587, 2525):
                i += 1
                outcome = _outcome(vantage, host, port)
                ok = outcome == "open"
                tls_mode = TLS_MODE[port] if ok else "none"
                before: list[str] | None = None
                after: list[str] | None = None
                version: str | None = None
                if ok and tls_mode == "implicit":
                    after, version = ["PLAIN", "LOGIN"], "TLSv1.3"
                elif ok and port == 25:
                    before, after = [], []
                    version = "TLSv1.2" if host == "legacy.lab.example" else "TLSv1.3"
                elif ok:
                    before = ["PLAIN", "LOGIN"] if host == "legacy.lab.example" else []
                    after = ["PLAIN", "LOGIN", "XOAUTH2"]
                    version = "TLSv1" if (host, port) == ("legacy.lab.example", 2525) else "TLSv1.3"
                recs.append(
                    empty_record(
                        probe_id=f"p{i:03d}",
                        started_at=T0 + dt.timedelta(seconds=i),
                        vantage=vantage,
                        source="lab",
                        host=host,
                        address="127.0.0.1",
                        port=port,
                        tls_mode=tls_mode,
                        outcome=outcome,
                        connect_ms=0.4 + (port % 7) / 10
                        if ok
                        else 3000.0
                        if outcome == "filtered"
                        else 0.2,
                        banner_ms=12.0 + i % 5 if ok else None,
                        ehlo_ms=3.0 + i % 3 if ok else None,
                        tls_ms=25.0 + i % 4 if ok and version else None,
                        total_ms=45.0 if ok else 3000.0,
                        banner_code=220 if ok else None,
                        banner="mail ESMTP" if ok else None,
                        esmtp=True if ok else None,
                        extensions=["PIPELINING", "8BITMIME"] if ok else [],
                        starttls_offered=(tls_mode == "starttls") if ok else None,
                        auth_before_tls=before,
                        auth_after_tls=after,
                        tls_version=version,
                        findings=(
                            [
                                {
                                    "code": "auth-before-tls",
                                    "severity": "high",
                                    "message": "AUTH offered in cleartext",
                                }
                            ]
                            if before
                            else []
                        ),
                    )
                )
    return recs


@pytest.fixture
def frame() -> pd.DataFrame:
    df = pd.DataFrame(synthetic_records())
    assert list(df.columns) == list(FIELD_NAMES)
    return df


def png(fig: Figure) -> bytes:
    """Render, check it is a real PNG, and free the figure."""
    assert isinstance(fig, charts.Chart)
    data = fig.to_png()
    fig.clear()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5_000
    return data


DATA_CHARTS: dict[str, Callable[[pd.DataFrame], charts.Chart]] = {
    "heatmap-host": charts.outcome_heatmap,
    "heatmap-vantage": lambda df: charts.outcome_heatmap(df, rows="vantage"),
    "phase_times": charts.phase_times,
    "tls_versions": charts.tls_versions,
    "auth_tls": charts.auth_tls,
}


@pytest.mark.parametrize("name", sorted(DATA_CHARTS))
def test_data_charts_render(name: str, frame: pd.DataFrame) -> None:
    fig = DATA_CHARTS[name](frame)
    assert fig.alt_text and fig.description
    assert fig.description.endswith(".") and "\n" not in fig.description
    png(fig)


@pytest.mark.parametrize("name", sorted(DATA_CHARTS))
def test_data_charts_say_no_data_for_empty_frames(name: str, frame: pd.DataFrame) -> None:
    for empty in (frame.iloc[0:0], pd.DataFrame(), pd.DataFrame(columns=list(FIELD_NAMES))):
        fig = DATA_CHARTS[name](empty)
        assert "no data" in fig.alt_text
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("no data" in t for t in texts)
        png(fig)


def test_all_nan_timings_give_no_data(frame: pd.DataFrame) -> None:
    for c in ("connect_ms", "banner_ms", "ehlo_ms", "tls_ms"):
        frame[c] = math.nan
    fig = charts.phase_times(frame)
    assert "no data" in fig.alt_text
    png(fig)


def test_heatmap_alt_names_the_filtered_port(frame: pd.DataFrame) -> None:
    fig = charts.outcome_heatmap(frame, rows="vantage")
    alt = fig.alt_text
    assert "3 vantages by 4 ports" in alt
    assert "Port 25: open for 1; filtered for lab:cloud-vm and lab:home-isp" in alt
    assert "(probes: 6 filtered, 3 open of 9)" in alt
    assert "filtered: The connection timed out" in alt
    cell_words = {t.get_text() for t in fig.axes[0].texts}
    assert {"filtered", "open"} <= cell_words
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["25", "465", "587", "2525"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == sorted(VANTAGES)
    png(fig)


def test_heatmap_cells_show_the_furthest_or_the_commonest_outcome(frame: pd.DataFrame) -> None:
    # Each host's port 25 was filtered from two vantages and open from one: the server speaks
    # on 25 ("best", the default), though most networks could not reach it ("majority").
    fig = charts.outcome_heatmap(frame)
    assert "Port 25 was open for all 3 hosts (probes: 6 filtered, 3 open of 9)" in fig.alt_text
    assert "silent for legacy.lab.example" in fig.alt_text
    assert "refused for mx.lab.example" in fig.alt_text
    assert "open\n1 of 3 probes" in {t.get_text() for t in fig.axes[0].texts}
    # what the fraction counts is said on the chart and in its caption
    assert any("of the 6 probes in that cell, 2 got that far" in t.get_text() for t in fig.texts)
    assert "2 got that far" in fig.description
    png(fig)
    fig = charts.outcome_heatmap(frame, agg="majority")
    assert "Port 25 was filtered for all 3 hosts" in fig.alt_text
    assert "filtered\n2 of 3 probes" in {t.get_text() for t in fig.axes[0].texts}
    assert "2 had that outcome" in fig.description
    png(fig)
    with pytest.raises(ValueError, match="agg"):
        charts.outcome_heatmap(frame, agg="mean")


def test_vantage_view_says_whether_a_port_gets_out() -> None:
    """From an open network only the MX answers on 25; the others refuse: 25 still gets out."""
    recs = [
        empty_record(
            probe_id=f"r{i}",
            started_at=T0,
            vantage="lab:open-internet",
            host=h,
            port=25,
            outcome="open" if h == "mx.lab.example" else "refused",
        )
        for i, h in enumerate(HOSTS)
    ]
    recs += [
        empty_record(
            probe_id=f"f{i}",
            started_at=T0,
            vantage="lab:home-isp",
            host=h,
            port=25,
            outcome="filtered",
        )
        for i, h in enumerate(HOSTS)
    ]
    fig = charts.outcome_heatmap(pd.DataFrame(recs), rows="vantage")
    assert "Port 25: open for 1; filtered for lab:home-isp" in fig.alt_text
    assert {"open\n1 of 3 probes", "filtered"} <= {t.get_text() for t in fig.axes[0].texts}
    png(fig)


def test_heatmap_single_filtered_host() -> None:
    df = pd.DataFrame(
        [
            empty_record(
                probe_id="a",
                started_at=T0,
                vantage="lab:home-isp",
                host="mx.lab.example",
                port=25,
                outcome="filtered",
            ),
            empty_record(
                probe_id="b",
                started_at=T0,
                vantage="lab:home-isp",
                host="mx.lab.example",
                port=587,
                outcome="open",
            ),
        ]
    )
    fig = charts.outcome_heatmap(df)
    assert "Port 25 was filtered for mx.lab.example" in fig.alt_text
    assert "Port 587 was open for mx.lab.example" in fig.alt_text
    png(fig)


def test_unknown_outcomes_and_other_ports_are_drawn(frame: pd.DataFrame) -> None:
    extra = pd.DataFrame(
        [
            empty_record(
                probe_id="x1",
                started_at=T0,
                vantage="lab:home-isp",
                host="mx.lab.example",
                port=2465,
                outcome="greylisted",
            ),
            empty_record(
                probe_id="x2",
                started_at=T0,
                vantage="lab:home-isp",
                host="mx.lab.example",
                port=1025,
                outcome="open",
                tls_version="TLSv1.4",
            ),
        ]
    )
    df = pd.concat([frame, extra], ignore_index=True)
    fig = charts.outcome_heatmap(df)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["25", "465", "587", "2525", "1025", "2465"]
    assert "greylisted" in {t.get_text() for t in fig.axes[0].texts}
    assert "greylisted" in fig.alt_text
    png(fig)
    png(charts.tls_versions(df))
    png(charts.phase_times(df))


def test_phase_times_orders_phases_and_reports_blocked_ports(frame: pd.DataFrame) -> None:
    fig = charts.phase_times(frame)
    assert "port 465" in fig.alt_text and "ms" in fig.alt_text
    png(fig)
    only_25 = frame[frame["port"] == 25]
    blocked = only_25[only_25["outcome"] != "open"]
    fig = charts.phase_times(blocked)
    assert "no data" in fig.alt_text  # a filtered port's connect time is just the timeout
    png(fig)
    fig = charts.phase_times(frame, by="vantage")
    assert "lab:home-isp" in fig.alt_text
    png(fig)


def test_tls_versions_flags_old_tls_and_cleartext(frame: pd.DataFrame) -> None:
    frame.loc[(frame["port"] == 25) & (frame["host"] == "smtp.lab.example"), "tls_version"] = None
    fig = charts.tls_versions(frame)
    alt = fig.alt_text
    assert "TLS 1.3" in alt
    assert "below TLS 1.2" in alt and "port 2525" in alt
    assert "Cleartext sessions (no TLS) on port 25" in alt
    png(fig)


def test_auth_tls_alt_names_cleartext_auth(frame: pd.DataFrame) -> None:
    fig = charts.auth_tls(frame)
    alt = fig.alt_text
    assert "in cleartext, on 2: legacy.lab.example:587 and legacy.lab.example:2525" in alt
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "legacy.lab.example:587" in rows and "smtp.lab.example:465" in rows
    assert any("cleartext" in t.get_text() for t in fig.axes[0].texts)
    png(fig)
    good = frame[frame["host"] != "legacy.lab.example"]
    assert "No server offered AUTH before TLS" in charts.auth_tls(good).alt_text


def test_auth_tls_accepts_arrays_and_missing_lists(frame: pd.DataFrame) -> None:
    np = pytest.importorskip("numpy")
    frame["auth_after_tls"] = [
        None if v is None else np.array(v, dtype=object) for v in frame["auth_after_tls"]
    ]
    frame.loc[0, "auth_before_tls"] = math.nan
    png(charts.auth_tls(frame))


def test_timeline_chart() -> None:
    fig = charts.timeline()
    alt = fig.alt_text
    assert "RFC 8314: implicit TLS (2018)" in alt
    assert "Port 2525" in alt and "ms-v-worlds" in alt
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert "RFC 8314: implicit TLS" in labels and "port 465" in labels
    size = fig.get_size_inches()
    assert size[0] <= 14.5
    png(fig)
    fig = charts.timeline(milestones_only=True)
    assert len([t for t in fig.axes[0].texts if t.get_text().startswith("RFC")]) < 15
    png(fig)


def test_timeline_labels_do_not_overlap() -> None:
    fig = charts.timeline()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [
        t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_bbox_patch() is not None
    ]
    assert len(boxes) == len(reference.timeline())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    fig.clear()


def test_provider_matrix() -> None:
    fig = charts.provider_matrix()
    alt = fig.alt_text
    for port in reference.FOUR_PORTS:
        assert f"Port {port}: listed by" in alt
    assert "implicit TLS" in alt
    cells = {t.get_text() for t in fig.axes[0].texts}
    assert {"implicit TLS", "STARTTLS"} <= cells
    png(fig)
    png(charts.provider_matrix(ports=None))
    empty = charts.provider_matrix(reference.providers().iloc[0:0])
    assert "no data" in empty.alt_text
    png(empty)


def _figure_html(markup: str) -> tuple[dict[str, str], str, bytes]:
    """The <img> attributes, the caption and the decoded PNG of a chart's HTML."""
    parser = _FigureParser()
    parser.feed(markup)
    src = parser.img["src"]
    assert src.startswith("data:image/png;base64,")
    return parser.img, parser.caption, base64.b64decode(src.split(",", 1)[1])


class _FigureParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.img: dict[str, str] = {}
        self.figure: dict[str, str] = {}
        self.caption = ""
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.img = {k: v or "" for k, v in attrs}
        elif tag == "figure":
            self.figure = {k: v or "" for k, v in attrs}
        self._in_caption = tag == "figcaption"

    def handle_endtag(self, tag: str) -> None:
        self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.caption += data


def test_mimebundle_carries_alt_text(frame: pd.DataFrame) -> None:
    fig = charts.outcome_heatmap(frame)
    data, meta = fig._repr_mimebundle_()
    assert data["image/png"].startswith(PNG_MAGIC)
    assert data["text/plain"] == fig.alt_text
    assert meta == {"image/png": {"alt": fig.alt_text}}
    # JupyterLab 4 renders the HTML: the alt text is an attribute of the <img> in the page
    img, caption, png_bytes = _figure_html(data["text/html"])
    assert img["alt"] == fig.alt_text
    assert caption == fig.description
    assert png_bytes == data["image/png"]
    data, _ = fig._repr_mimebundle_(include=["text/plain"])
    assert set(data) == {"text/plain"}
    fig.clear()


def test_chart_html_fills_the_width_and_escapes(frame: pd.DataFrame) -> None:
    fig = charts.phase_times(frame)
    fig.alt_text = 'a "quoted" <b>alt</b> & more'
    markup = fig.to_html()
    img, _caption, png_bytes = _figure_html(markup)
    assert img["alt"] == fig.alt_text  # the parser unescapes: the markup had it escaped
    assert "<b>" not in markup.split("alt=", 1)[1].split("/>", 1)[0]
    assert "width:100%" in img["style"]
    parser = _FigureParser()
    parser.feed(markup)
    assert "width:100%" in parser.figure["style"]
    assert f"max-width:{round(fig.get_figwidth() * 150)}px" in parser.figure["style"]
    # drawn at 150 dpi, so the image stays sharp when it is stretched or the page zoomed
    width_px = int.from_bytes(png_bytes[16:20], "big")
    assert abs(width_px - fig.get_figwidth() * 150) <= 2
    _img, caption, _ = _figure_html(fig.to_html(caption=False))
    assert caption == ""
    fig.clear()


def test_heatmap_and_provider_matrix_draw_the_same_grid(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smtplab.charts import _draw, outcomes, providers

    assert outcomes.draw_grid is providers.draw_grid is _draw.draw_grid
    calls: list[str] = []
    real = _draw.draw_grid

    def spy(ax: Any, rows: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(str(rows[0]))
        real(ax, rows, *args, **kwargs)

    monkeypatch.setattr(outcomes, "draw_grid", spy)
    monkeypatch.setattr(providers, "draw_grid", spy)
    png(charts.outcome_heatmap(frame))
    png(charts.provider_matrix())
    assert calls == [sorted(HOSTS)[0], "Gmail"]


def test_ipython_formats_the_chart_once_with_alt(frame: pd.DataFrame) -> None:
    ipy = pytest.importorskip("IPython.core.formatters")
    formatter = ipy.DisplayFormatter()
    fig = charts.tls_versions(frame)
    data, meta = formatter.format(fig)
    assert data["image/png"].startswith(PNG_MAGIC)
    assert meta["image/png"]["alt"] == fig.alt_text
    fig.clear()


def test_show_displays_and_describes(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    display = pytest.importorskip("IPython.display")
    shown: list[Any] = []
    monkeypatch.setattr(display, "display", lambda obj, **kw: shown.append(obj))
    fig = charts.auth_tls(frame)
    charts.show(fig)
    charts.show(fig, describe=False)
    assert len(shown) == 2
    for bundle, described in zip(shown, (True, False), strict=True):
        img, caption, png_bytes = _figure_html(bundle["text/html"])
        assert img["alt"] == fig.alt_text
        assert caption == (fig.description if described else "")
        assert png_bytes == bundle["image/png"]
    assert capsys.readouterr().out == ""
    fig.clear()


def test_charts_bypass_pyplot(frame: pd.DataFrame) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    fig = charts.outcome_heatmap(frame)
    assert plt.get_fignums() == before
    assert fig.canvas.__class__.__name__ == "FigureCanvasAgg"
    fig.clear()
    assert matplotlib.get_backend()  # untouched


def test_records_from_probe_results_objects(frame: pd.DataFrame) -> None:
    class Result:
        def __init__(self, rec: dict[str, Any]) -> None:
            self.rec = rec

        def to_record(self) -> dict[str, Any]:
            return self.rec

    fig = charts.outcome_heatmap([Result(r) for r in synthetic_records()], agg="majority")
    assert "Port 25 was filtered" in fig.alt_text
    fig.clear()


# ---- files written and read by smtplab.records, and the shipped recordings ----------------


def _records_module() -> Any:
    return pytest.importorskip("smtplab.records")


def _all_charts(df: pd.DataFrame) -> Iterator[charts.Chart]:
    for make in DATA_CHARTS.values():
        yield make(df)


def test_charts_render_round_tripped_records(tmp_path: Path) -> None:
    records = _records_module()
    path = tmp_path / "probes.jsonl"
    records.save_records(synthetic_records(), path)
    df = records.load_records(path)
    assert len(df) == 36
    for fig in _all_charts(df):
        png(fig)
    alt = charts.outcome_heatmap(df, rows="vantage").alt_text
    assert "Port 25: open for 1; filtered for lab:cloud-vm and lab:home-isp" in alt


def _recordings() -> list[Path]:
    folder = data_dir() / "recordings"
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


@pytest.mark.parametrize("path", _recordings() or [None], ids=lambda p: p.name if p else "none")
def test_charts_render_shipped_recordings(path: Path | None) -> None:
    if path is None:
        pytest.skip("no data/recordings/*.jsonl shipped yet")
    records = _records_module()
    df = records.load_records(path)
    for fig in _all_charts(df):
        assert fig.alt_text
        png(fig)


def test_charts_render_probes_of_the_lab() -> None:
    """End to end: real probes through the embedded lab, on loopback, then every chart."""
    lab_module = pytest.importorskip("smtplab.lab")
    import smtplab

    results = []
    for scenario in ("open-internet", "home-isp"):
        with lab_module.Lab(scenario=scenario) as lab:
            hosts = sorted({e.host for e in lab.endpoints})
            targets = [(h, p) for h in hosts for p in reference.FOUR_PORTS]
            results += smtplab.probe_many(targets, lab=lab, timeout=0.5)
    df = pd.DataFrame([r.to_record() for r in results])
    alt = charts.outcome_heatmap(df, rows="vantage").alt_text
    assert "filtered for lab:home-isp" in alt
    for fig in _all_charts(df):
        png(fig)


def _texts(fig: Figure) -> list[str]:
    return sorted(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("rows", ["host", "vantage"])
@pytest.mark.parametrize("agg", ["best", "majority"])
def test_heatmap_from_counts_is_the_heatmap_of_the_rows(
    frame: pd.DataFrame, rows: str, agg: str
) -> None:
    """``count=``: rows counted already (as the explorer asks DuckDB) draw the same chart."""
    counted = frame.groupby([rows, "port", "outcome"]).size().rename("probes").reset_index()
    counted = counted.sample(frac=1, random_state=1)  # the order of the counts does not matter
    a = charts.outcome_heatmap(frame, rows=rows, agg=agg)
    b = charts.outcome_heatmap(counted, rows=rows, agg=agg, count="probes")
    assert a.alt_text == b.alt_text and _texts(a) == _texts(b)
    assert "of 9)" in b.alt_text  # 9 probes on port 25, counted from the counts


def test_phase_times_from_counted_rows_is_the_chart_of_every_row(frame: pd.DataFrame) -> None:
    """Probes without timings collapsed into counted rows, the others one per row (and one
    row standing for two probes): the same medians, n and words as every row."""
    timings = ["connect_ms", "banner_ms", "ehlo_ms", "tls_ms"]
    usable = (frame["outcome"] == "open") & frame[timings].notna().any(axis=1)
    rest = frame[~usable].groupby(["port", "outcome"]).size().rename("probes").reset_index()
    ones = frame[usable].assign(probes=1)
    doubled = pd.concat([ones, ones]).reset_index(drop=True)
    halved = ones.assign(probes=2)
    for timed in (ones, halved):
        compact = pd.concat([timed, rest], ignore_index=True)
        got = charts.phase_times(compact, count="probes")
        want = charts.phase_times(frame if timed is ones else pd.concat([doubled, frame[~usable]]))
        assert got.alt_text == want.alt_text and _texts(got) == _texts(want)
    # a port where nothing got a greeting says what the probes saw instead
    no_greeting = frame[frame["port"] == 465].assign(outcome="filtered")
    compact = no_greeting.groupby(["port", "outcome"]).size().rename("probes").reset_index()
    a = charts.phase_times(pd.concat([frame[frame["port"] != 465], no_greeting]))
    b = charts.phase_times(
        pd.concat([frame[frame["port"] != 465].assign(probes=1), compact]), count="probes"
    )
    assert _texts(a) == _texts(b) and any("filtered ×9" in t for t in _texts(b))


def test_heatmap_says_how_many_rows_it_leaves_out_inside_the_figure() -> None:
    df = pd.DataFrame(
        [
            empty_record(
                probe_id=f"p{i}",
                started_at=T0,
                vantage="lab:home-isp",
                host=f"mx{i:02d}.lab.example",
                port=25,
                outcome="open",
            )
            for i in range(45)
        ]
    )
    fig = charts.outcome_heatmap(df)
    (note,) = [t for t in fig.texts if t.get_text() == "first 40 of 45 hosts"]
    fig.canvas.draw()
    box, whole = note.get_window_extent(), fig.bbox
    assert whole.x0 <= box.x0 < box.x1 <= whole.x1 and whole.y0 <= box.y0 < box.y1 <= whole.y1
    png(fig)
