"""The provider knowledge base: every fact about a provider's SMTP service with its source.

Two files in ``data/reference/``:

``provider_knowledge.csv``
    one fact a row: ``provider``, ``fact`` (see :data:`FACTS`), ``host``, ``port``, ``security``
    (for ports: ``implicit_tls``, ``starttls``, ``either`` — plain or STARTTLS — or ``none``),
    ``value`` (what the fact says), ``quote`` (the source's own words), ``source`` (where),
    ``checked`` (the day the row was checked, YYYY-MM-DD), ``evidence`` (how: see
    :data:`EVIDENCE`) and ``recheck`` (the day to check again, for facts that change on a date).
``provider_aliases.csv``
    ``alias``, ``provider``: the names people type (``outlook``, ``office365``, ``ses``, ...).

A login row's ``value`` is ``METHOD: words``, METHOD one of :data:`METHODS`. A port row's
``value`` is its purpose (``submission``, ``alt`` or ``relay``). Loading checks every row and
raises :class:`KnowledgeError` naming the file, the line and the field of the first problem.

>>> kb = knowledge()                                  # doctest: +SKIP
>>> kb.resolve("office365").name, kb.by_host("smtp.gmail.com").name   # doctest: +SKIP
('Microsoft 365 (Exchange Online)', 'Gmail')
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from smtplab._paths import data_dir
from smtplab.errors import SmtplabError

__all__ = [
    "EVIDENCE",
    "FACTS",
    "METHODS",
    "Fact",
    "Knowledge",
    "KnowledgeError",
    "Provider",
    "knowledge",
    "load_knowledge",
    "normalise_name",
]

#: What a row can say about a provider.
FACTS: Final = ("host", "port", "login", "user_name", "credential", "refusal", "change", "note")
#: How a fact was checked. ``read``: the provider's page (a stored copy) was read;
#: ``recorded``: its words as the project's earlier research recorded them in
#: ``provider_ports.csv``; ``quoted by others``: its words as another page quotes them;
#: ``third-party report``: no page of the provider's was found, a third party says so (named in
#: ``source``); ``not found here``: no stored copy said it, the row says what is not known.
EVIDENCE: Final = ("read", "recorded", "quoted by others", "third-party report", "not found here")
#: Login methods, the word before the colon in a login row's value.
METHODS: Final = (
    "password",
    "app password",
    "OAuth 2.0",
    "API key",
    "SMTP credentials",
    "SMTP key",
    "SMTP token",
    "server token",
    "IP allow-list",
)
SECURITIES: Final = ("implicit_tls", "starttls", "either", "none")
PURPOSES: Final = ("submission", "alt", "relay")
COLUMNS: Final = (
    "provider",
    "fact",
    "host",
    "port",
    "security",
    "value",
    "quote",
    "source",
    "checked",
    "evidence",
    "recheck",
)
#: A knowledge file is small; anything bigger is not ours (and is refused before it is parsed).
MAX_FILE_BYTES: Final = 1_000_000

_HOST: Final = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$|^127\.0\.0\.1$")
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class KnowledgeError(SmtplabError, ValueError):
    """A knowledge file is malformed; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Fact:
    """One row of ``provider_knowledge.csv``."""

    provider: str
    fact: str
    host: str
    port: int | None
    security: str
    value: str
    quote: str
    source: str
    checked: dt.date
    evidence: str
    recheck: dt.date | None
    line: int

    @property
    def method(self) -> str:
        """For a login row: the method word before the colon (``app password``)."""
        return self.value.split(":", 1)[0].strip() if self.fact == "login" else ""

    @property
    def words(self) -> str:
        """For a login row: the words after the colon; otherwise the value."""
        if self.fact == "login" and ":" in self.value:
            return self.value.split(":", 1)[1].strip()
        return self.value


@dataclass(frozen=True)
class Provider:
    """Everything the knowledge base says about one provider."""

    name: str
    facts: tuple[Fact, ...]
    aliases: tuple[str, ...] = ()

    def of(self, kind: str) -> tuple[Fact, ...]:
        return tuple(f for f in self.facts if f.fact == kind)

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.host for f in (*self.of("host"), *self.of("port"))))

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.method for f in self.of("login")))

    @property
    def relay_service(self) -> bool:
        """True when the provider documents its service as a relay for servers (a port whose
        purpose is ``relay``, such as Google Workspace's smtp-relay)."""
        return any(f.value == "relay" for f in self.of("port"))


@dataclass(frozen=True)
class Knowledge:
    """The loaded knowledge base: providers by name, and the aliases that lead to them."""

    providers: Mapping[str, Provider]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> Provider | None:
        """The provider called ``name``: its own name or an alias, any case and spacing."""
        key = normalise_name(name)
        for known in self.providers:
            if normalise_name(known) == key:
                return self.providers[known]
        target = self.aliases.get(key)
        return self.providers.get(target) if target else None

    def by_host(self, host: str) -> Provider | None:
        """The provider whose documented host is ``host`` (case and a trailing dot ignored);
        Amazon SES's regional hosts (``email-smtp.REGION.amazonaws.com``) included."""
        name = host.strip().rstrip(".").lower()
        for provider in self.providers.values():
            if name in provider.hosts:
                return provider
        if re.fullmatch(r"email-smtp(-fips)?\.[a-z]{2}(-gov)?-[a-z]+-\d\.amazonaws\.com", name):
            return self.providers.get("Amazon SES")
        return None

    def names(self) -> tuple[str, ...]:
        return tuple(self.providers)


def normalise_name(name: str) -> str:
    """``"  Office 365 "`` -> ``"office 365"``: lower case, single spaces, no trailing dot."""
    return " ".join(str(name).lower().split()).rstrip(".")


def _bad(path: Path, line: int, column: str, problem: str) -> KnowledgeError:
    return KnowledgeError(f"{path.name}, line {line}, field {column!r}: {problem}")


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KnowledgeError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes, not a fact file")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None or tuple(header) != columns:
                raise KnowledgeError(f"{path.name}, line 1: the header must be {','.join(columns)}")
            out = []
            for cells in reader:
                if len(cells) != len(columns):
                    raise _bad(
                        path,
                        reader.line_num,
                        columns[min(len(cells), len(columns) - 1)],
                        f"expected {len(columns)} fields, found {len(cells)}",
                    )
                out.append((reader.line_num, dict(zip(columns, cells, strict=True))))
            return out
        except csv.Error as exc:
            raise KnowledgeError(f"{path.name}, line {reader.line_num}: {exc}") from None


def _date(path: Path, line: int, column: str, text: str) -> dt.date:
    try:
        if not _DATE.match(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _bad(path, line, column, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _fact(path: Path, line: int, row: dict[str, str]) -> Fact:
    def need(column: str) -> str:
        value = row[column].strip()
        if not value:
            raise _bad(path, line, column, "is empty")
        return value

    provider, kind, value, source = need("provider"), need("fact"), need("value"), need("source")
    if kind not in FACTS:
        raise _bad(path, line, "fact", f"{kind!r} is not one of {', '.join(FACTS)}")
    evidence = need("evidence")
    if evidence not in EVIDENCE:
        raise _bad(path, line, "evidence", f"{evidence!r} is not one of {', '.join(EVIDENCE)}")
    quote = row["quote"].strip()
    if not quote and evidence != "not found here":
        raise _bad(path, line, "quote", "is empty (only a 'not found here' row may lack a quote)")
    if quote and evidence == "not found here":
        raise _bad(path, line, "quote", "a 'not found here' row quotes nothing")
    checked = _date(path, line, "checked", need("checked"))
    recheck = _date(path, line, "recheck", row["recheck"]) if row["recheck"].strip() else None
    if kind == "change" and recheck is None:
        raise _bad(path, line, "recheck", "a change must say when to check it again")
    host = row["host"].strip().lower()
    if host and not _HOST.match(host):
        raise _bad(path, line, "host", f"{host!r} is not a host name")
    port: int | None = None
    security = row["security"].strip()
    if kind in ("host", "port") and not host:
        raise _bad(path, line, "host", f"a {kind} row needs its host")
    if kind == "port":
        text = row["port"].strip()
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise _bad(path, line, "port", f"{text!r} is not a port number")
        port = int(text)
        if security not in SECURITIES:
            raise _bad(path, line, "security", f"{security!r} is not one of {SECURITIES}")
        if port == 465 and security != "implicit_tls":
            raise _bad(path, line, "security", "465 is implicit TLS (RFC 8314), nothing else")
        if value not in PURPOSES:
            raise _bad(path, line, "value", f"a port's purpose is one of {', '.join(PURPOSES)}")
    elif row["port"].strip() or security:
        raise _bad(path, line, "port", "only a port row has a port and a security")
    if kind == "login":
        method = value.split(":", 1)[0].strip()
        if ":" not in value or method not in METHODS:
            raise _bad(path, line, "value", f"a login is 'METHOD: words', METHOD one of {METHODS}")
    return Fact(
        provider, kind, host, port, security, value, quote, source, checked, evidence, recheck, line
    )


def load_knowledge(facts_path: Path, aliases_path: Path) -> Knowledge:
    """Read and check the two knowledge files (see the module docstring)."""
    facts = [_fact(facts_path, line, row) for line, row in _rows(facts_path, COLUMNS)]
    by_provider: dict[str, list[Fact]] = {}
    for f in facts:
        by_provider.setdefault(f.provider, []).append(f)
    aliases: dict[str, str] = {}
    own = {normalise_name(name): name for name in by_provider}
    for line, row in _rows(aliases_path, ("alias", "provider")):
        alias, target = normalise_name(row["alias"]), row["provider"].strip()
        if not alias:
            raise _bad(aliases_path, line, "alias", "is empty")
        if target not in by_provider:
            raise _bad(aliases_path, line, "provider", f"{target!r} has no facts")
        if alias in aliases or (alias in own and own[alias] != target):
            raise _bad(aliases_path, line, "alias", f"{alias!r} already names a provider")
        aliases[alias] = target
    providers = {
        name: Provider(name, tuple(rows), tuple(a for a, t in aliases.items() if t == name))
        for name, rows in by_provider.items()
    }
    return Knowledge(providers, aliases)


@functools.cache
def knowledge() -> Knowledge:
    """The shipped knowledge base (read once)."""
    folder = data_dir() / "reference"
    return load_knowledge(folder / "provider_knowledge.csv", folder / "provider_aliases.csv")
