"""The :class:`Chart` figure every chart returns, how it shows itself in Jupyter, and ``show``.

A chart shows itself as HTML: a ``<figure>`` with an ``<img alt="…">`` and a ``<figcaption>``, so
its description is in the page (JupyterLab 4 drops the ``alt`` metadata of a plain PNG output),
and the image fills the width of its output area (``width:100%``, up to 1.5 times its natural
size), so it does not shrink on a projector and grows with the browser's zoom.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any, Final

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from smtplab.charts._style import RC, TITLE_PAD

__all__ = ["HTML_DPI", "Chart", "new_chart", "no_data", "show"]

#: Pixels per inch of the PNG inside a chart's HTML: 1.5 times the natural 100, so the image
#: stays sharp when the page is zoomed or the chart is stretched to a wide output area.
HTML_DPI: Final = 150
_NATURAL_DPI: Final = 100
# the caption follows the theme: JupyterLab's secondary text colour (white at 70% in
# JupyterLab Dark), #333 where there is no JupyterLab (an HTML export)
_CAPTION_STYLE: Final = (
    "font-size:15px;line-height:1.45;color:var(--jp-content-font-color2,#333);margin-top:2px"
)


class Chart(Figure):
    """A matplotlib Figure that knows its alt text and shows itself in Jupyter as HTML.

    It is made without pyplot and has its own Agg canvas: ``fig.savefig(...)`` works, pyplot's
    figure manager never sees it, and it is freed like any Python object.
    """

    def __init__(self, *args: Any, alt_text: str = "", description: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)
        #: A sentence or two for screen readers: what is shown and the main finding.
        self.alt_text: str = alt_text
        #: One plain sentence saying what the chart shows, the caption under it in notebooks.
        self.description: str = description

    @property
    def alt(self) -> str:
        """The text of the ``alt`` attribute: the alt text, else the description."""
        return self.alt_text or self.description

    def to_png(self, dpi: float | None = None) -> bytes:
        """The chart as PNG bytes."""
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=dpi, facecolor="white")
        return buf.getvalue()

    def to_html(
        self, *, caption: bool = True, max_width: str | None = None, png: bytes | None = None
    ) -> str:
        """The chart as an HTML ``<figure>``: the PNG inline with its ``alt``, and a caption.

        The image is as wide as the output area (``width:100%``), at most ``max_width``
        (default: 1.5 times its natural width, which keeps the words at a readable size).
        """
        data = base64.b64encode(png if png is not None else self.to_png(HTML_DPI)).decode()
        limit = max_width or f"{round(self.get_figwidth() * _NATURAL_DPI * 1.5)}px"
        text = html.escape(self.description, quote=True)
        cap = f'<figcaption style="{_CAPTION_STYLE}">{text}</figcaption>' if caption else ""
        return (
            f'<figure class="smtplab-chart" style="margin:4px 0;width:100%;max-width:{limit}">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.alt, quote=True)}" '
            f'style="display:block;width:100%;max-width:100%;height:auto"/>{cap}</figure>'
        )

    def mimebundle(self, *, caption: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        """HTML (image, alt, caption), the PNG with ``alt`` metadata, and the alt as text."""
        png = self.to_png(HTML_DPI)
        data: dict[str, Any] = {
            "text/html": self.to_html(caption=caption, png=png),
            "image/png": png,
            "text/plain": self.alt,
        }
        return data, {"image/png": {"alt": self.alt}}

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        data, meta = self.mimebundle()
        if include is not None:
            data = {k: v for k, v in data.items() if k in set(include)}
        if exclude is not None:
            data = {k: v for k, v in data.items() if k not in set(exclude)}
        return data, meta


def show(fig: Chart, *, describe: bool = True) -> None:
    """Display ``fig`` in Jupyter: its image with the alt text, and its description as caption."""
    from IPython.display import display

    data, meta = fig.mimebundle(caption=describe)
    display(data, metadata=meta, raw=True)


def new_chart(width: float, height: float, alt: str, description: str) -> Chart:
    """An empty :class:`Chart` of ``width`` × ``height`` inches, in the charts' style."""
    with mpl.rc_context(RC):
        return Chart(figsize=(width, height), alt_text=alt, description=description)


def no_data(title: str, what: str, description: str) -> Chart:
    """A chart that says "no data" (and why) instead of raising on empty input."""
    fig = new_chart(9, 3.2, f"{title}: no data to show ({what}).", description)
    with mpl.rc_context(RC):
        ax = fig.add_axes((0.04, 0.05, 0.92, 0.72))
        ax.set_axis_off()
        ax.set_title(title, loc="left", pad=TITLE_PAD)
        ax.text(
            0.5,
            0.45,
            f"no data\n({what})",
            ha="center",
            va="center",
            fontsize=20,
            color="#444444",
            transform=ax.transAxes,
        )
    return fig
