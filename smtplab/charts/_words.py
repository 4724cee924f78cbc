"""Small text helpers for the alt texts and labels of the charts."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["fmt_ms", "join", "limit", "plural", "trunc"]


def fmt_ms(ms: float) -> str:
    """Milliseconds with one decimal below 10, none above."""
    if ms < 10:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


def join(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def limit(names: Sequence[str], n: int = 3) -> str:
    """Like :func:`join`, naming at most ``n`` and counting the rest."""
    names = list(names)
    if len(names) <= n:
        return join(names)
    return ", ".join(names[:n]) + f" and {len(names) - n} more"


def plural(n: int, word: str) -> str:
    """``1 port``, ``2 ports``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def trunc(text: str, n: int = 34) -> str:
    """``text`` cut to ``n`` characters with an ellipsis."""
    return text if len(text) <= n else text[: n - 1] + "…"
