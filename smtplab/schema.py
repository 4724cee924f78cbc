"""The record schema: one flat record per probe, the contract of DESIGN.md.

Every part of smtplab that writes or reads probe records (the probe engine, record files,
importers, charts, widgets) uses the names and types defined here, so a rename happens once.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict, get_args

#: Version 2 (issue 15): ``extensions`` as sent (``SIZE 35882577``) by live probes as by
#: importers; ``cert_problems``; what the probe was asked (``timeout``, ``deadline``,
#: ``checks``), so a replay needs no transcript wording. Version 3 (issue 22): every event line
#: of the transcript carries a ``kind`` (:data:`EVENT_KINDS`) and, where a step needs them,
#: structured ``data`` (:data:`EVENT_FIELDS`); the sentence is for people. Versions 1 and 2 are
#: read and upgraded (:func:`upgrade_record`); their event lines have no kind, and a replay
#: reads them by their words.
SCHEMA_VERSION: Final = 3

#: Every version this smtplab reads: older ones go through :func:`upgrade_record`.
READABLE_SCHEMA_VERSIONS: Final = (1, 2, 3)

#: The outcome words, one per probe, in the order a learner meets them.
Outcome = Literal[
    "open",  # an SMTP greeting 220 came
    "rejected",  # greeting was 421/554: the server refuses this client
    "refused",  # TCP reset: closed port or a REJECT rule
    "filtered",  # connect timed out: something on the way drops the packets (a DROP rule)
    "silent",  # TCP connected, no greeting in time (tarpit, or a TLS port probed in cleartext)
    "not_smtp",  # something else answered: HTTP, SSH, garbage
    "tls_failed",  # the TLS handshake failed
    "dns_failed",  # the host name did not resolve
    "unreachable",  # no route to the host or network
    "reset",  # connection lost mid-conversation
    "error",  # anything else, with its message
]
OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)

#: One sentence per outcome, for tables, widgets and notebooks.
OUTCOME_MEANING: Final = {
    "open": "The server answered with an SMTP greeting (220).",
    "rejected": "The server greeted with 421 or 554: it refuses to talk to this client.",
    "refused": (
        "The connection was refused (TCP reset): nothing listens there, or a firewall rejects it."
    ),
    "filtered": (
        "The connection timed out: something on the way silently drops the traffic "
        "(a firewall DROP rule)."
    ),
    "silent": (
        "The connection opened but no greeting came: "
        "a tarpit, or a TLS port spoken to in cleartext."
    ),
    "not_smtp": "Something answered, but it is not an SMTP server.",
    "tls_failed": "The TLS handshake failed.",
    "dns_failed": "The host name could not be resolved.",
    "unreachable": "There is no route to that host or network.",
    "reset": "The connection was lost in the middle of the conversation.",
    "error": "Something else went wrong; see the error message.",
}

#: How far a probe got, furthest first: a greeting (even a refusal) beats a handshake that broke,
#: which beats silence, which beats a TCP reset, which beats no answer at all. Charts and the
#: port chooser use it to pick the most telling of several probes.
OUTCOME_PROGRESS: Final = (
    "open",
    "rejected",
    "not_smtp",
    "tls_failed",
    "silent",
    "reset",
    "refused",
    "filtered",
    "unreachable",
    "dns_failed",
    "error",
)


def progress_rank(outcome: str) -> int:
    """0 for ``open`` up to the end of :data:`OUTCOME_PROGRESS`; unknown words rank last."""
    return OUTCOME_PROGRESS.index(outcome) if outcome in OUTCOME_PROGRESS else len(OUTCOME_PROGRESS)


# Each vocabulary is said once, as a Literal type; its tuple is read from it (get_args), so the
# type mypy checks and the words a record is validated against cannot drift apart.
Mode = Literal["auto", "plain", "starttls", "tls"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
TlsMode = Literal["none", "starttls", "implicit"]
TLS_MODES: Final[tuple[TlsMode, ...]] = get_args(TlsMode)
Source = Literal["live", "lab", "imported", "synthetic"]
SOURCES: Final[tuple[Source, ...]] = get_args(Source)
RelayCheck = Literal["not_run", "denied", "accepted"]
RELAY_CHECKS: Final[tuple[RelayCheck, ...]] = get_args(RelayCheck)
#: Finding severities, from least to most.
Severity = Literal["info", "low", "medium", "high"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
Direction = Literal["client", "server", "event"]
DIRECTIONS: Final[tuple[Direction, ...]] = get_args(Direction)
Role = Literal["relay", "submission-starttls", "submission-implicit", "unknown"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
#: What a probe can be asked to do beyond looking (the ``checks`` field): verify the
#: certificate, try MAIL/RCPT to a foreign domain, try MAIL before TLS, log in, and allow that
#: login in cleartext (the lab's legacy profile only).
CHECKS: Final = ("verify", "relay", "tls_required", "auth", "cleartext_auth")

#: What happened, as a word: the ``kind`` of a transcript event line (schema v3). A replay
#: dispatches on these, never on the sentence beside them.
EventKind = Literal[
    "dns_failed",  # the name did not resolve (cause: lab, lookup, timeout, other)
    "connecting",  # address, port, lab (the socket is the lab's stand-in for the endpoint)
    "connected",  # the TCP connection is up
    "connect_failed",  # cause: timeout, refused, reset, unreachable, other; detail
    "deadline",  # the probe's overall deadline passed (seconds; bytes of a handshake under way)
    "internal_error",  # a bug of smtplab's (detail)
    "unasked_replies",  # count replies came that nobody asked for, before command
    "send_failed",  # the connection was gone when command was sent (detail)
    "reply_timeout",  # no reply to command within seconds
    "greeting_timeout",  # no greeting within seconds: bytes came (started: like a reply) or none
    "protocol_error",  # what came is not SMTP (detail)
    "closed",  # the server closed or reset the connection (detail)
    "tls_handshake",  # a handshake starts (verify; judge: the certificate is judged after it)
    "tls_rejected",  # the verifying handshake rejected the certificate (detail: OpenSSL's reason)
    "tls_failed",  # the handshake failed (detail; cleartext: the server answered in cleartext)
    "tls_timeout",  # the handshake did not finish within seconds (bytes the server sent meanwhile)
    "tls_established",  # version, cipher, the certificate (subject, issuer, not_after, san) and,
    # when it was judged, verified, problems and detail
    "cert_verdict",  # the one-handshake verdict on the certificate: verified, detail
    "tls_race",  # no cleartext greeting within seconds: implicit TLS tried beside it
    "race_tls_first",  # implicit TLS answered first on the second connection
    "race_cleartext_first",  # the cleartext greeting came first
    "starttls_not_offered",  # STARTTLS asked for, not offered
    "starttls_refused",  # STARTTLS answered with code
    "starttls_injection",  # count items came after the 220 to STARTTLS, before the handshake
    "check",  # a check beyond looking starts (check: tls_required, tls_required_again, relay)
    "auth_skipped",  # the login check sent nothing (cause: cleartext, unverified, old_tls)
    "reconnect",  # a second connection to read a certificate that failed verification
    "retry",  # another session (cause: implicit_tls, plain)
    "retry_failed",  # the retry with implicit TLS did not answer either
    "truncated",  # count more lines were left out of the transcript
    "note",  # an event line of an older record whose words name no kind above
]
EVENT_KINDS: Final[tuple[str, ...]] = get_args(EventKind)

#: The structured fields an event line's ``data`` may hold, with their kinds; each appears only
#: where its kind of event needs it (see :data:`EventKind`).
EVENT_FIELDS: Final[dict[str, str]] = {
    "address": "str",
    "port": "int",
    "lab": "bool",
    "cause": "str",
    "detail": "str",
    "command": "str",
    "check": "str",
    "seconds": "float",
    "bytes": "int",
    "count": "int",
    "code": "int",
    "started": "bool",
    "cleartext": "bool",
    "verify": "bool",
    "judge": "bool",
    "version": "str",
    "cipher": "str",
    "subject": "str",
    "issuer": "str",
    "not_after": "str",
    "san": "list[str]",
    "verified": "bool",
    "problems": "list[str]",
    "chain": "list[str]",
    "chain_issuers": "list[str]",
}

# Field name -> (kind, nullable).  Kinds: str, int, float, bool, datetime (ISO-8601 UTC string in
# JSON), list[str], findings (list of {code, severity, message}), transcript (list of
# {t, dir, text} and, on event lines, kind and data).
FIELDS: Final[dict[str, tuple[str, bool]]] = {
    "schema_version": ("int", False),
    "probe_id": ("str", False),
    "started_at": ("datetime", False),
    "vantage": ("str", False),
    "source": ("str", False),
    "host": ("str", False),
    "address": ("str", True),
    "port": ("int", False),
    "mode": ("str", False),
    "timeout": ("float", True),
    "deadline": ("float", True),
    "checks": ("list[str]", True),
    "tls_mode": ("str", False),
    "outcome": ("str", False),
    "role": ("str", False),
    "connect_ms": ("float", True),
    "banner_ms": ("float", True),
    "ehlo_ms": ("float", True),
    "tls_ms": ("float", True),
    "total_ms": ("float", True),
    "banner_code": ("int", True),
    "banner": ("str", True),
    "esmtp": ("bool", True),
    "extensions": ("list[str]", False),
    "size_limit": ("int", True),
    "starttls_offered": ("bool", True),
    "auth_before_tls": ("list[str]", True),
    "auth_after_tls": ("list[str]", True),
    "tls_version": ("str", True),
    "tls_cipher": ("str", True),
    "cert_subject": ("str", True),
    "cert_issuer": ("str", True),
    "cert_not_after": ("datetime", True),
    "cert_san": ("list[str]", False),
    "cert_verified": ("bool", True),
    "cert_error": ("str", True),
    "cert_problems": ("list[str]", True),
    "cert_chain": ("list[str]", True),
    "cert_chain_issuers": ("list[str]", True),
    "relay_check": ("str", False),
    "findings": ("findings", False),
    "error": ("str", True),
    "transcript": ("transcript", False),
}

FIELD_NAMES: Final = tuple(FIELDS)


class FindingDict(TypedDict):
    """One finding in a record."""

    code: str
    severity: Severity
    message: str


class Record(TypedDict):
    """One probe record, typed: the same fields as :data:`FIELDS`, in its order, written out
    for mypy (``tests/test_schema_types.py`` checks the two agree, names and kinds). A
    ``datetime`` is ISO-8601 text; a transcript line is ``{t, dir, text}`` and, on event
    lines, ``kind`` and ``data``."""

    schema_version: int
    probe_id: str
    started_at: str
    vantage: str
    source: Source
    host: str
    address: str | None
    port: int
    mode: Mode
    timeout: float | None
    deadline: float | None
    checks: list[str] | None
    tls_mode: TlsMode
    outcome: Outcome
    role: Role
    connect_ms: float | None
    banner_ms: float | None
    ehlo_ms: float | None
    tls_ms: float | None
    total_ms: float | None
    banner_code: int | None
    banner: str | None
    esmtp: bool | None
    extensions: list[str]
    size_limit: int | None
    starttls_offered: bool | None
    auth_before_tls: list[str] | None
    auth_after_tls: list[str] | None
    tls_version: str | None
    tls_cipher: str | None
    cert_subject: str | None
    cert_issuer: str | None
    cert_not_after: str | None
    cert_san: list[str]
    cert_verified: bool | None
    cert_error: str | None
    cert_problems: list[str] | None
    cert_chain: list[str] | None
    cert_chain_issuers: list[str] | None
    relay_check: RelayCheck
    findings: list[FindingDict]
    error: str | None
    transcript: list[dict[str, Any]]


#: Allowed values of the fields that take one word from a fixed list.
ENUMS: Final[dict[str, tuple[str, ...]]] = {
    "source": SOURCES,
    "mode": MODES,
    "tls_mode": TLS_MODES,
    "outcome": OUTCOMES,
    "relay_check": RELAY_CHECKS,
    "role": ROLES,
}


def empty_record(**values: Any) -> dict[str, Any]:
    """A record with every field present (None or empty), updated with ``values``."""
    rec: dict[str, Any] = {}
    for name, (kind, nullable) in FIELDS.items():
        if kind in ("list[str]", "findings", "transcript") and not nullable:
            rec[name] = []
        else:
            rec[name] = None
    rec.update(
        schema_version=SCHEMA_VERSION,
        source="live",
        mode="auto",
        tls_mode="none",
        role="unknown",
        relay_check="not_run",
        vantage="unknown",
    )
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise KeyError(f"not record fields: {', '.join(sorted(unknown))}")
    rec.update(values)
    return rec


def upgrade_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A record of an older schema version as the current one (a new dict; the current
    version comes back unchanged). Version 1 → 2: ``extensions`` stay as they are (live v1
    records kept bare keywords, imported ones the parameters: both are what was known);
    ``cert_problems``, ``timeout``, ``deadline`` and ``checks`` become ``None``: not recorded
    then (findings read the certificate problems from the other fields, and a replay takes the
    options from the transcript). Version 2 → 3: nothing changes but the number; the event
    lines keep their words and no kind, which tells a replay to read them by their words. A
    newer version than this smtplab knows is left for the reader to refuse."""
    version = rec.get("schema_version")
    if version not in (1, 2):
        return rec
    out = dict(rec)
    out["schema_version"] = SCHEMA_VERSION
    for name in ("cert_problems", "timeout", "deadline", "checks"):
        out.setdefault(name, None)
    return out


#: Every certificate problem a record can name in ``cert_problems``, in the order they are
#: reported (:mod:`smtplab.findings` maps each to a finding; :mod:`smtplab.certcheck` finds them).
CERT_PROBLEMS: Final = (
    "expired",
    "not_yet_valid",
    "self_signed",
    "unknown_issuer",
    "wrong_purpose",
    "bad_extension",
    "name_mismatch",
    "weak_key",
    "weak_signature",
)
