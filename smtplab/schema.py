"""The record schema: one flat record per probe, the contract of DESIGN.md.

Every part of smtplab that writes or reads probe records (the probe engine, record files,
importers, charts, widgets) uses the names and types defined here, so a rename happens once.
"""

from __future__ import annotations

from typing import Any, Final

#: Version 2 (issue 15): ``extensions`` as sent (``SIZE 35882577``) by live probes as by
#: importers; ``cert_problems``; what the probe was asked (``timeout``, ``deadline``,
#: ``checks``), so a replay needs no transcript wording. Version 1 files are read and upgraded
#: (:func:`upgrade_record`).
SCHEMA_VERSION: Final = 2

#: Every version this smtplab reads: older ones go through :func:`upgrade_record`.
READABLE_SCHEMA_VERSIONS: Final = (1, 2)

#: The outcome words, one per probe, in the order a learner meets them.
OUTCOMES: Final = (
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
)

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


MODES: Final = ("auto", "plain", "starttls", "tls")
TLS_MODES: Final = ("none", "starttls", "implicit")
SOURCES: Final = ("live", "lab", "imported", "synthetic")
RELAY_CHECKS: Final = ("not_run", "denied", "accepted")
SEVERITIES: Final = ("info", "low", "medium", "high")
DIRECTIONS: Final = ("client", "server", "event")
ROLES: Final = ("relay", "submission-starttls", "submission-implicit", "unknown")
#: What a probe can be asked to do beyond looking (the ``checks`` field): verify the
#: certificate, try MAIL/RCPT to a foreign domain, try MAIL before TLS, log in, and allow that
#: login in cleartext (the lab's legacy profile only).
CHECKS: Final = ("verify", "relay", "tls_required", "auth", "cleartext_auth")

# Field name -> (kind, nullable).  Kinds: str, int, float, bool, datetime (ISO-8601 UTC string in
# JSON), list[str], findings (list of {code, severity, message}), transcript (list of
# {t, dir, text}).
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
    "relay_check": ("str", False),
    "findings": ("findings", False),
    "error": ("str", True),
    "transcript": ("transcript", False),
}

FIELD_NAMES: Final = tuple(FIELDS)

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
    options from the transcript). A newer version than this smtplab knows is left for the
    reader to refuse."""
    version = rec.get("schema_version")
    if version != 1:
        return rec
    out = dict(rec)
    out["schema_version"] = 2
    for name in ("cert_problems", "timeout", "deadline", "checks"):
        out.setdefault(name, None)
    return out
