"""Charts of probe records and reference facts, one call each, each returning the figure.

Every chart is a :class:`Chart`, a matplotlib ``Figure`` made without pyplot (so Jupyter's inline
backend never shows it twice) that carries:

* ``alt_text`` — a sentence or two built from the data: what is shown and the main finding;
* ``description`` — one plain sentence saying what the chart shows (the caption under it);
* ``_repr_mimebundle_`` — HTML with the image, its ``alt`` attribute and its caption (plus the
  PNG with ``alt`` metadata), so a chart that ends a cell shows up in Jupyter with its alt text
  in the page, as wide as the output area.

Style: the Okabe–Ito colour-blind-safe palette, every category also drawn with a hatch or a
marker, words written on the chart (direct labels), fonts big enough for a projector. Empty data
gives a figure that says "no data" instead of an exception.

The package, one concern per module: :mod:`~smtplab.charts.outcomes` (the outcome heat map),
:mod:`~smtplab.charts.providers` (the provider matrix; both draw the one grid of
:mod:`~smtplab.charts._draw`), :mod:`~smtplab.charts.timeline`, :mod:`~smtplab.charts.tls`
(TLS versions, AUTH before and after TLS), :mod:`~smtplab.charts.timing` (time per phase).

>>> from smtplab import charts, reference
>>> fig = charts.timeline()          # doctest: +SKIP
>>> charts.show(fig)                 # doctest: +SKIP
"""

from __future__ import annotations

from smtplab.charts._data import port_order
from smtplab.charts._figure import Chart, show
from smtplab.charts._style import OKABE_ITO, OUTCOME_STYLE
from smtplab.charts.outcomes import outcome_heatmap
from smtplab.charts.providers import provider_matrix
from smtplab.charts.timeline import timeline
from smtplab.charts.timing import phase_times
from smtplab.charts.tls import auth_tls, tls_versions

__all__ = [
    "OKABE_ITO",
    "OUTCOME_STYLE",
    "Chart",
    "auth_tls",
    "outcome_heatmap",
    "phase_times",
    "port_order",
    "provider_matrix",
    "show",
    "timeline",
    "tls_versions",
]
