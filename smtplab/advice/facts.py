"""What a provider documents: its SMTP host, ports, the security of each port and how to log in.

The facts come from the provider knowledge base (:mod:`smtplab.knowledge`:
``data/reference/provider_knowledge.csv``, every fact with its source, quote and check date, and
``provider_aliases.csv``, the names people type), then, for providers it does not hold, from
``provider_ports.csv``; plus the embedded lab, which documents its own hosts like a provider would.
Without a provider, only the standards are known: 465 (RFC 8314), 587 (RFC 6409) and 25 for relay
(RFC 5321).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from smtplab import labworld
from smtplab.knowledge import Provider, knowledge

__all__ = [
    "LAB_OAUTH_LOGIN",
    "LAB_PROVIDER",
    "STANDARDS",
    "DocumentedPort",
    "ProviderFacts",
    "guess_provider",
    "lab_facts",
    "provider_facts",
]

#: The name the lab goes by when it plays a provider.
LAB_PROVIDER: Final = "smtplab lab"

#: How to log in where a server takes OAuth tokens only (the lab's oauth.lab.example, and any
#: server whose AUTH list after TLS names XOAUTH2 or OAUTHBEARER and no password mechanism).
LAB_OAUTH_LOGIN: Final = (
    "sign in with OAuth (XOAUTH2/OAUTHBEARER): the program gets a token from the provider's "
    "sign-in page"
)


@dataclass(frozen=True)
class DocumentedPort:
    """One port a provider documents: ``security`` is implicit_tls, starttls, either or none;
    ``purpose`` is submission, alt or relay; ``source`` is where it is written."""

    port: int
    security: str
    purpose: str
    source: str


@dataclass(frozen=True)
class ProviderFacts:
    """A provider's documented SMTP settings."""

    name: str
    host: str | None
    ports: tuple[DocumentedPort, ...]
    #: How to log in, in words: "password", "app password or OAuth 2.0", ...
    login: str
    #: What to type as the user name.
    user_name: str
    #: Where the login facts come from (empty when only the port table was read).
    login_source: str = ""
    #: The login methods, as in :data:`smtplab.knowledge.METHODS` (empty: not known).
    methods: tuple[str, ...] = ()
    #: Where the credential is made ("" when not known).
    credential: str = ""
    #: Dated changes, each with the day to check it again.
    changes: tuple[str, ...] = ()
    #: The replies a wrong login gets from this provider, as quoted in the knowledge base.
    refusals: tuple[str, ...] = ()
    #: True when the host is a provider's sending server (a smarthost to a mail server), never an
    #: MX: a mail server reaches it on the ports it documents, with a login or an IP allow-list,
    #: and port 25 there is not "direct delivery".
    smarthost: bool = False

    def port(self, port: int) -> DocumentedPort | None:
        """The documented entry for ``port``, preferring submission over relay rows."""
        rows = [d for d in self.ports if d.port == port]
        rows.sort(key=lambda d: {"submission": 0, "alt": 1, "relay": 2}.get(d.purpose, 3))
        return rows[0] if rows else None

    @property
    def documented_ports(self) -> tuple[int, ...]:
        return tuple(sorted({d.port for d in self.ports}))


#: No provider: what the standards say each port is for.
STANDARDS: Final = ProviderFacts(
    name="the standards",
    host=None,
    ports=(
        DocumentedPort(465, "implicit_tls", "submission", "RFC 8314 §3.3, §7.3"),
        DocumentedPort(587, "starttls", "submission", "RFC 6409 §3.1; RFC 3207"),
        DocumentedPort(25, "none", "relay", "RFC 5321 §4.5.4.2"),
    ),
    login="password (the one your provider gives for SMTP; some require an app password or "
    "OAuth 2.0)",
    user_name="your full email address (or the user name your provider gives)",
)

#: Host names in a provider row's host field: the leading one and any "(or other.host)".
_HOST_RE: Final = re.compile(r"(?:^|\(or )([a-z0-9-]+(?:\.[a-z0-9-]+)+)\b", re.I)


def _login_from_notes(notes: str) -> str | None:
    """How to log in, read from a row's notes (only words the notes themselves use)."""
    low = notes.lower()
    found = []
    if "oauth" in low or "xoauth2" in low:
        found.append("OAuth 2.0")
    if "app-specific password" in low or "app password" in low:
        if "2fa" in low or "two-factor" in low:
            found.append("password (an app password once two-factor sign-in is on)")
        else:
            found.append("app password")
    if "smtp key" in low:
        found.append("SMTP key as the password")
    elif "api key" in low:
        found.append("API key as the password")
    return " or ".join(found) if found else None


def _user_from_notes(notes: str) -> str | None:
    m = re.search(r"user(?:name)?(?: is)?(?: the literal string)? '([^']+)'", notes, re.I)
    return m.group(1) if m else None


def _security(port: int, security: str) -> str:
    """465 is implicit TLS whatever a page's wording (RFC 8314 §7.3 registers it so)."""
    return "implicit_tls" if port == 465 else security


def _clean(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "" if text in ("nan", "NaT", "None") else text.strip()


def _facts_from_rows(name: str, rows: list[Mapping[str, Any]]) -> ProviderFacts:
    host = None
    ports = []
    login = user = login_source = ""
    for r in rows:
        names = _HOST_RE.findall(_clean(r.get("host")))
        if host is None and names:
            host = names[0]
        ports.append(
            DocumentedPort(
                int(r["port"]),
                _security(int(r["port"]), _clean(r.get("security")) or "none"),
                _clean(r.get("purpose")) or "submission",
                _clean(r.get("source")),
            )
        )
        notes = _clean(r.get("notes"))
        methods = _clean(r.get("login_methods"))
        if methods and not login:
            login, login_source = methods, _clean(r.get("source"))
        guessed = _login_from_notes(notes)
        if guessed and not login:
            login, login_source = guessed, _clean(r.get("source"))
        user = user or _user_from_notes(notes) or _clean(r.get("user_name"))
    return ProviderFacts(
        name=name,
        host=host,
        ports=tuple(ports),
        login=login or "password (check the provider's page: it may require an app password)",
        user_name=user or "your full email address (or the user name your provider gives)",
        login_source=login_source,
    )


@functools.cache
def _all_rows() -> tuple[tuple[str, tuple[Mapping[str, Any], ...]], ...]:
    from smtplab import reference

    df = reference.providers()
    out: dict[str, list[Mapping[str, Any]]] = {}
    for rec in df.to_dict("records"):
        out.setdefault(str(rec["provider"]), []).append(rec)
    return tuple((k, tuple(v)) for k, v in out.items())


#: Every lab host's name ends so (RFC 2606 reserves example).
LAB_DOMAIN: Final = ".lab.example"


def lab_facts(host: str) -> ProviderFacts | None:
    """The lab documents its hosts like a provider: the ports each serves, as
    :mod:`smtplab.labworld` says."""
    name = host.strip().rstrip(".").lower()
    if not name.endswith(LAB_DOMAIN):
        return None
    services = labworld.HOSTS.get(name)
    if services is None:
        return None
    ports = []
    oauth = any(svc.profile == "submission-oauth" for svc in services.values())
    for port, svc in sorted(services.items()):
        if svc.profile == "submission-oauth":
            ports.append(DocumentedPort(port, "starttls", "submission", "smtplab.labworld"))
        elif svc.profile == "submission-implicit":
            ports.append(DocumentedPort(port, "implicit_tls", "submission", "smtplab.labworld"))
        elif svc.profile == "submission":
            purpose = "alt" if port == 2525 else "submission"
            ports.append(DocumentedPort(port, "starttls", purpose, "smtplab.labworld"))
        elif svc.profile in ("relay", "legacy"):
            security = "starttls" if svc.certificate else "none"
            purpose = "relay" if port == 25 else "submission"
            ports.append(DocumentedPort(port, security, purpose, "smtplab.labworld"))
    if oauth:
        return ProviderFacts(
            name=LAB_PROVIDER,
            host=name,
            ports=tuple(ports),
            login=LAB_OAUTH_LOGIN,
            user_name="student",
            login_source="smtplab.labworld PROFILES['submission-oauth']",
            methods=("OAuth 2.0",),
        )
    return ProviderFacts(
        name=LAB_PROVIDER,
        host=name,
        ports=tuple(ports),
        login="password (lab.credentials, or the one `smtplab lab` prints)",
        user_name="student",
        login_source="smtplab.lab.core.LAB_USER",
        methods=("password",),
    )


def _from_knowledge(provider: Provider) -> ProviderFacts:
    """ProviderFacts from the knowledge base's rows for ``provider``."""
    ports = tuple(
        DocumentedPort(f.port, _security(f.port, f.security), f.value, f.source)
        for f in provider.of("port")
        if f.port is not None
    )
    logins = provider.of("login")
    users = provider.of("user_name")
    credentials = provider.of("credential")
    changes = tuple(
        f"{f.value} (check again after {f.recheck.isoformat()})" if f.recheck else f.value
        for f in provider.of("change")
    )
    hosts = [f.host for f in provider.of("host") if f.host != "127.0.0.1"]
    return ProviderFacts(
        name=provider.name,
        host=hosts[0] if hosts else (provider.hosts[0] if provider.hosts else None),
        ports=ports,
        login="; or ".join(f.words for f in logins)
        or "password (check the provider's page: it may require an app password)",
        user_name=users[0].value if users else "your full email address",
        login_source=logins[0].source if logins else "",
        methods=provider.methods,
        credential=credentials[0].value if credentials else "",
        changes=changes,
        refusals=tuple(f.value for f in provider.of("refusal")),
        smarthost=True,
    )


def provider_names() -> tuple[str, ...]:
    """Every provider name :func:`provider_facts` knows (aliases not included)."""
    kb = knowledge().names()
    return (*kb, *(n for n, _ in _all_rows() if knowledge().resolve(n) is None))


def provider_facts(name: str, host: str | None = None) -> ProviderFacts:
    """The facts of the provider called ``name``: a name or an alias from the knowledge base
    (``gmail``, ``office365``, ``ses``, ``sendinblue`` ...), or a provider of
    :func:`smtplab.reference.providers`.

    ``LAB_PROVIDER`` gives the lab's facts for ``host``. An unknown name raises ValueError.
    """
    if name == LAB_PROVIDER:
        facts = lab_facts(host or "smtp.lab.example")
        if facts is None:
            raise ValueError(f"{host!r} is not a lab host")
        return facts
    provider = knowledge().resolve(name)
    if provider is not None:
        return _from_knowledge(provider)
    for known, rows in _all_rows():
        if known.lower() == name.strip().lower():
            return _facts_from_rows(known, list(rows))
    names = ", ".join(sorted(provider_names()))
    raise ValueError(
        f"unknown provider {name!r}; known: {names} (and aliases such as outlook, office365, "
        "ses, brevo)"
    )


def guess_provider(host: str) -> str | None:
    """The provider whose documented host is ``host`` (case-insensitive), the lab for a lab host,
    or None."""
    name = host.strip().rstrip(".").lower()
    if lab_facts(name) is not None:
        return LAB_PROVIDER
    if name == "127.0.0.1":
        return None
    provider = knowledge().by_host(name)
    if provider is not None:
        return provider.name
    for known, rows in _all_rows():
        for r in rows:
            if name in (h.lower() for h in _HOST_RE.findall(_clean(r.get("host")))):
                return known
    return None
