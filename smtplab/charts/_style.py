"""The look shared by every chart: the colour-blind-safe palette, outcome styles, font sizes.

Every category is drawn with a colour *and* a hatch or a marker, so nothing relies on colour alone.
"""

from __future__ import annotations

from typing import Any, Final

from matplotlib.colors import to_hex, to_rgb

__all__ = [
    "DARK_GREY",
    "GREY",
    "MAX_ROWS",
    "OKABE_ITO",
    "OUTCOME_STYLE",
    "RC",
    "TITLE_PAD",
    "UNKNOWN_STYLE",
    "hatch_colour",
    "outcome_style",
]

# Okabe & Ito (2008), "Color Universal Design": eight colours told apart with every common
# colour-vision deficiency.
OKABE_ITO: Final = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
GREY: Final = "#BBBBBB"
DARK_GREY: Final = "#777777"

#: outcome -> (fill colour, hatch).  The hatch repeats the information for grey-scale printouts
#: and for readers who cannot tell the colours apart; the word is written in each cell as well.
OUTCOME_STYLE: Final[dict[str, tuple[str, str]]] = {
    "open": (OKABE_ITO["green"], ""),
    "rejected": (OKABE_ITO["purple"], "xx"),
    "refused": (OKABE_ITO["vermillion"], "\\\\"),
    "filtered": (OKABE_ITO["orange"], "//"),
    "silent": (OKABE_ITO["yellow"], ".."),
    "not_smtp": (OKABE_ITO["sky_blue"], "oo"),
    "tls_failed": (OKABE_ITO["blue"], "++"),
    "dns_failed": (GREY, "--"),
    "unreachable": (DARK_GREY, "||"),
    "reset": ("#E0C8D8", "**"),
    "error": ("#DDDDDD", "xx"),
    # an answer that is not the server's (smtplab.outcome_words): never the green of "open"
    "intercepted": (OKABE_ITO["purple"], "o/"),
    "stripped": (OKABE_ITO["purple"], "o\\"),
}
UNKNOWN_STYLE: Final = ("#FFFFFF", "O.")  # an outcome word we do not know (newer schema?)

# Sizes for a projector at the back of a classroom: a chart is at most ~12 inches wide, so it is
# shown near its natural size in a notebook and these point sizes stay readable.
RC: Final[Any] = {  # typed Any: rc_context wants literal keys
    "font.size": 15,
    "axes.titlesize": 19,
    "axes.titleweight": "bold",
    "axes.labelsize": 16,
    "xtick.labelsize": 15,
    "ytick.labelsize": 15,
    "legend.fontsize": 13,
    "legend.title_fontsize": 14,
    "hatch.linewidth": 1.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
TITLE_PAD: Final = 14
MAX_ROWS: Final = 40


def outcome_style(outcome: str) -> tuple[str, str]:
    """(fill, hatch) of an outcome word; a white, ringed cell for a word we do not know."""
    return OUTCOME_STYLE.get(outcome, UNKNOWN_STYLE)


def hatch_colour(fill: str) -> str:
    """A hatch colour that shows on ``fill``: darker on light fills, lighter on dark ones."""
    r, g, b = to_rgb(fill)
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    if lum < 0.45:
        return to_hex((r + (1 - r) * 0.45, g + (1 - g) * 0.45, b + (1 - b) * 0.45))
    return to_hex((r * 0.55, g * 0.55, b * 0.55))
