"""The certificate card of one probe: what testssl.sh shows about a server's certificate.

Subject, issuer, the names it covers (SANs), its expiry with the days left, the verdict and the
chain as the server sent it (each certificate's subject and who issued it). :func:`cert_card`
turns a result or record into labelled lines; the CLI (:mod:`smtplab.cli.render`) and the
probe panel (:mod:`smtplab.widgets._certcard`) draw them, each escaping the text for its
screen. The days left are counted when the card is drawn, from ``cert_not_after``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CardLine", "cert_card", "days_left"]

#: How a line reads: ``good`` (green), ``warn`` (yellow), ``bad`` (red) or plain.
Tone = Literal["good", "warn", "bad", ""]

#: Fewer days left than this is a warning (as testssl.sh's default of 30 days).
WARN_DAYS = 30


@dataclass(frozen=True)
class CardLine:
    """One line of the card: a label (``subject``, ``issuer`` …) and its value, unescaped."""

    label: str
    value: str
    tone: Tone = ""


def _get(r: Any, name: str) -> Any:
    return r.get(name) if isinstance(r, Mapping) else getattr(r, name, None)


def _when(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def days_left(not_after: Any, now: dt.datetime | None = None) -> int | None:
    """Whole days from ``now`` (default: this moment) until ``not_after``; negative once it has
    passed, ``None`` when unknown."""
    when = _when(not_after)
    if when is None:
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    return (when - now) // dt.timedelta(days=1)


def _expiry(not_after: Any, now: dt.datetime | None) -> CardLine:
    when = _when(not_after)
    left = days_left(not_after, now)
    if when is None or left is None:
        return CardLine("expires", "unknown")
    day = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if left < 0:
        ago = -left
        return CardLine("expired", f"{day} ({ago} day{'s' if ago != 1 else ''} ago)", "bad")
    tone: Tone = "warn" if left < WARN_DAYS else "good"
    return CardLine("expires", f"{day} ({left} day{'s' if left != 1 else ''} left)", tone)


def _verdict(r: Any) -> CardLine:
    verified = _get(r, "cert_verified")
    if verified is True:
        return CardLine("trusted", f"yes, valid for {_get(r, 'host')}", "good")
    if verified is False:
        return CardLine("trusted", f"no: {_get(r, 'cert_error') or 'not verified'}", "bad")
    return CardLine("trusted", "not checked (verification was off)", "warn")


def _chain(r: Any) -> list[CardLine]:
    subjects = list(_get(r, "cert_chain") or ())
    issuers = list(_get(r, "cert_chain_issuers") or ())
    if not subjects or len(subjects) != len(issuers):
        return []
    n = len(subjects)
    out = [CardLine("chain", f"{n} certificate{'s' if n != 1 else ''} sent, leaf first")]
    for i, (subject, issuer) in enumerate(zip(subjects, issuers, strict=True), 1):
        out.append(CardLine(f"#{i}", subject))
        out.append(CardLine("", f"→ issued by {issuer}"))
    return out


def cert_card(r: Any, now: dt.datetime | None = None) -> list[CardLine]:
    """The card's lines for a result or record, or ``[]`` when no certificate was seen."""
    subject, issuer = _get(r, "cert_subject"), _get(r, "cert_issuer")
    if not _get(r, "tls_version") or (subject is None and issuer is None):
        return []
    san = [str(x) for x in (_get(r, "cert_san") or ())]
    lines = [
        CardLine("subject", str(subject) if subject is not None else "unknown"),
        CardLine("issuer", str(issuer) if issuer is not None else "unknown"),
        CardLine("names", ", ".join(san) if san else "none (no subject alternative names)"),
        _expiry(_get(r, "cert_not_after"), now),
    ]
    return [*lines, _verdict(r), *_chain(r)]
