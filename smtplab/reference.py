"""Reference facts the course teaches, loaded from ``data/reference/`` as pandas DataFrames.

Every table keeps its ``source`` column: each row says where the fact comes from (an RFC section,
the IANA registry, a provider's documentation page). The CSV files are the single place the facts
live; this module only reads and types them.

>>> from smtplab import reference
>>> t = reference.timeline()
>>> t.loc[(t.port == 465) & t.event.str.startswith("RFC 8314 'Cleartext"), ["date", "label"]]
... # doctest: +SKIP
       date                   label
21  2018-01  RFC 8314: implicit TLS

Reads are cached; each call returns a fresh copy, so changing a returned frame never changes what
the next caller sees.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Final

import pandas as pd

from smtplab._paths import data_dir
from smtplab.rules import PORTS

__all__ = [
    "FOUR_PORTS",
    "cloud_policies",
    "knowledge",
    "logins",
    "ports",
    "providers",
    "reference_dir",
    "short_label",
    "timeline",
]

#: The four ports this course is about, in teaching order.
FOUR_PORTS: Final = PORTS

_FILES: Final = {
    "timeline": "port_history.csv",
    "providers": "provider_ports.csv",
    "cloud_policies": "cloud_port25_policies.csv",
    "ports": "ports.csv",
    "logins": "provider_logins.csv",
    "knowledge": "provider_knowledge.csv",
}

# Short labels for timeline events, for charts and tables: (pattern matched at the start of the
# event text, label, milestone?).  Milestones are the events a one-slide history must show.
# Events not listed here get a label made by `short_label`'s fallback rules.
_LABELS: Final[tuple[tuple[str, str, bool], ...]] = (
    (r"RFC 821\b", "RFC 821: SMTP on 25", True),
    (r"RFC 1425\b", "RFC 1425: EHLO", False),
    (r"RFC 1700\b", "RFC 1700: 465 unassigned", False),
    (r"RFC 1869\b", "RFC 1869: ESMTP", False),
    (r"TLS WG", "TLS WG: SSL port list", False),
    (r"RFC 2476\b", "RFC 2476: 587 = submission", True),
    (r"RFC 2487\b", "RFC 2487: STARTTLS", True),
    (r"RFC 2554\b", "RFC 2554: AUTH", False),
    (r"RFC 2821\b", "RFC 2821", False),
    (r"RFC 3207\b", "RFC 3207: STARTTLS", False),
    (r"MAAWG", "MAAWG: port 25 BCP", False),
    (r"RFC 4409\b", "RFC 4409", False),
    (r"RFC 4954\b", "RFC 4954: AUTH", False),
    (r"RFC 5068\b", "RFC 5068: MSAs on 587", True),
    (r"RFC 5321\b", "RFC 5321", True),
    (r"CVE-2011-0411", "CVE-2011-0411", False),
    (r"RFC 6409\b", "RFC 6409", True),
    (r"RFC 7672\b", "RFC 7672: DANE", False),
    (r"Earliest IANA registry", "IANA: 465 = urd", False),
    (r"Microsoft Azure", "Azure blocks 25", False),
    (r"IANA registers service 'submissions'", "IANA: 465 = submissions", True),
    (r"RFC 8314 'Cleartext", "RFC 8314: implicit TLS", True),
    (r"RFC 8314 Erratum", "RFC 8314 erratum", False),
    (r"RFC 8461\b", "RFC 8461: MTA-STS", False),
    (r"RFC 8460\b", "RFC 8460: TLSRPT", False),
    (r"Linode", "Linode blocks 25/465/587", False),
    (r"USENIX", "NO STARTTLS paper", False),
    (r"RFC 8997\b", "RFC 8997: TLS 1.2+", False),
    (r"IANA registry release 2024", "IANA 2024: 465 = submissions", False),
    (r"IANA lists 2525", "IANA: 2525 = ms-v-worlds", True),
    (r"Oracle OCI", "Oracle: 465 standard", False),
)


def reference_dir() -> Path:
    """The folder holding the reference CSV files."""
    return data_dir() / "reference"


def short_label(event: str) -> tuple[str, bool]:
    """A short label (a few words) for a timeline event, and whether it is a milestone.

    Known events get a hand-written label; others are named by the first RFC or CVE they
    mention, or else by their first four words.
    """
    for pattern, label, milestone in _LABELS:
        if re.match(pattern, event):
            return label, milestone
    m = re.search(r"\b(RFC \d+|CVE-\d{4}-\d+)", event)
    if m:
        return m.group(1), False
    words = re.sub(r"[\"'(),;:]", "", event).split()
    return " ".join(words[:4]), False


def _read(name: str) -> pd.DataFrame:
    path = reference_dir() / _FILES[name]
    # keep_default_na=False then explicit empties: provider names such as "None" stay words.
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def _parse_date(text: str) -> tuple[pd.Timestamp, str]:
    """``"1982"``, ``"1982-08"`` or ``"1982-08-13"`` -> (first day of that period, precision)."""
    text = text.strip()
    if re.fullmatch(r"\d{4}", text):
        return pd.Timestamp(f"{text}-01-01"), "year"
    if re.fullmatch(r"\d{4}-\d{2}", text):
        return pd.Timestamp(f"{text}-01"), "month"
    return pd.Timestamp(text), "day"


@functools.cache
def _timeline() -> pd.DataFrame:
    df = _read("timeline")
    parsed = [_parse_date(d) for d in df["date"]]
    df["when"] = pd.to_datetime([p[0] for p in parsed]).as_unit("s")
    df["precision"] = [p[1] for p in parsed]
    df["year"] = df["when"].dt.year + (df["when"].dt.day_of_year - 1) / 365.25
    df["port"] = df["port"].astype("int64")
    labels = [short_label(e) for e in df["event"]]
    df["label"] = [lab for lab, _ in labels]
    df["milestone"] = [m for _, m in labels]
    cols = ["date", "when", "precision", "year", "port", "kind", "label", "milestone", "event"]
    df = df[[*cols, "source"]]
    return df.sort_values(["when", "port"], kind="stable").reset_index(drop=True)


@functools.cache
def _providers() -> pd.DataFrame:
    df = _read("providers")
    df["port"] = df["port"].astype("int64")
    df["retrieved"] = pd.to_datetime(df["retrieved"], format="%Y-%m-%d")
    return df


@functools.cache
def _cloud_policies() -> pd.DataFrame:
    return _read("cloud_policies")


@functools.cache
def _logins() -> pd.DataFrame:
    df = _read("logins")
    df["checked"] = pd.to_datetime(df["checked"], format="%Y-%m-%d")
    return df


@functools.cache
def _knowledge() -> pd.DataFrame:
    from smtplab.knowledge import knowledge as checked

    checked()  # the same file, read once through the checking loader: a bad row stops here
    df = _read("knowledge")
    df["port"] = df["port"].astype("Int64")
    for column in ("checked", "recheck"):
        df[column] = pd.to_datetime(df[column], format="%Y-%m-%d")
    return df


@functools.cache
def _ports() -> pd.DataFrame:
    df = _read("ports")
    df["port"] = df["port"].astype("int64")
    return df


def timeline() -> pd.DataFrame:
    """The history of ports 25, 465, 587 and 2525, one event per row, oldest first.

    Columns: ``date`` (as written in the source: ``"1982-08"``, ``"2005"``, ``"2017-12-12"``),
    ``when`` (the first day of that period, a Timestamp), ``precision`` (``"year"``, ``"month"``
    or ``"day"``), ``year`` (decimal year, for plotting), ``port``, ``kind`` (``rfc``, ``iana``,
    ``practice``, ``security``), ``label`` (a few words for charts), ``milestone`` (one of the
    events a short history must show), ``event`` (the full sentence) and ``source``.
    """
    return _timeline().copy()


def providers() -> pd.DataFrame:
    """Mail providers' documented SMTP ports, one row per provider and port.

    Columns: ``provider``, ``host``, ``port``, ``security`` (``implicit_tls``, ``starttls``,
    ``either`` — the page allows plain or TLS — or ``none``), ``purpose`` (``submission``,
    ``relay`` or ``alt``), ``notes``, ``source`` (the provider's page) and ``retrieved`` (the
    page's date when the source states one, else NaT).
    """
    return _providers().copy()


def cloud_policies() -> pd.DataFrame:
    """Cloud platforms' outbound port-25 policies: ``provider``, ``policy``, ``source``,
    ``checked`` (the day the row was last checked against its source, as text; empty when not
    recorded) and ``evidence`` (``read``: the page itself was read; ``quoted by others``: its
    words as quoted elsewhere; ``third-party report``: no primary page was read)."""
    return _cloud_policies().copy()


def logins() -> pd.DataFrame:
    """How providers let a mail program log in to submit mail, one row per provider.

    Columns: ``provider``, ``host``, ``login_methods`` (the SASL mechanisms and what goes into
    them), ``password_works`` (whether the account password still works: ``no``, ``app password
    only``, ``API key only``, ``being retired``), ``change`` (what changed and when), ``quote``
    (the source's words, when recorded), ``source``, ``checked`` (a Timestamp, NaT when not
    recorded) and ``evidence`` (as in :func:`cloud_policies`).
    """
    return _logins().copy()


def knowledge() -> pd.DataFrame:
    """The provider knowledge base, one fact a row (what the advice engine and ``smtplab explain``
    read): ``provider``, ``fact`` (host, port, login, user_name, credential, refusal, change,
    note), ``host``, ``port``, ``security``, ``value``, ``quote`` (the source's words), ``source``,
    ``checked`` and ``recheck`` (Timestamps; ``recheck`` is when to check a dated fact again) and
    ``evidence`` (read, recorded, quoted by others, third-party report, not found here).
    """
    return _knowledge().copy()


def ports() -> pd.DataFrame:
    """Facts about the four ports: ``port``, ``name``, ``iana_service``, ``status``, ``purpose``,
    ``rfc`` (missing for 2525, which no RFC assigns to SMTP) and ``source``."""
    return _ports().copy()
