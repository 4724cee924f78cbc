"""The sentences of a transcript's event lines, one template per kind of event.

An event line is data first: its ``kind`` (:data:`smtplab.schema.EventKind`) and structured
``data`` say what happened, and a replay dispatches on them alone. The sentence beside them is
for people, made here from :data:`SENTENCES`; rewording any of them changes what a learner reads
and nothing else (tests/test_replay.py rewords every one and replays).
"""

from __future__ import annotations

from typing import Final

__all__ = ["SENTENCES", "sentence"]

#: Sentence templates by ``kind`` or ``kind.variant``, formatted with the event's data (and a
#: few words that are for the sentence only, such as the lab endpoint a socket stands for).
SENTENCES: Final[dict[str, str]] = {
    "dns_failed.lab": "lab: {detail}",
    "dns_failed.lookup": "name lookup failed: {detail}",
    "dns_failed.timeout": "name lookup timed out",
    "dns_failed.other": "name lookup failed: {detail}",
    "connecting": "connecting to {address} port {port}",
    "connecting.lab": "connecting to {address} port {port} (lab socket for {host}:{logical_port})",
    "connected": "connected",
    "connect_failed.timeout": "connect timed out after {seconds:g} s",
    "connect_failed.adaptive": (
        "connect timed out after {seconds:g} s (adaptive: another port of this host answered "
        "in {rtt_ms:g} ms; patient mode waits {timeout:g} s)"
    ),
    "connect_failed.refused": "connection refused",
    "connect_failed.reset": "connection reset",
    "connect_failed.unreachable": "{detail}",
    "connect_failed.other": "{detail}",
    "deadline": "the probe's overall deadline of {seconds:g} s passed",
    "internal_error": "internal error: {detail}",
    "unasked_replies": "the server sent {count} reply(ies) nobody asked for before {command}",
    "send_failed": "connection lost while sending {command}: {detail}",
    "reply_timeout": "no reply to {command} within {seconds:g} s",
    "greeting_timeout": "no greeting within {seconds:g} s",
    "greeting_timeout.tarpit": "tarpit: only {bytes} bytes of a greeting within {seconds:g} s",
    "greeting_timeout.garbage": "received {bytes} bytes that are not an SMTP greeting",
    "protocol_error": "protocol error: {detail}",
    "protocol_error.greeting": "not SMTP: {detail}",
    "closed": "{detail}",
    "closed.tls": "connection lost during the TLS handshake: {detail}",
    "tls_handshake.verifying": "TLS handshake (verifying the certificate)",
    "tls_handshake.not_verifying": "TLS handshake (not verifying)",
    "tls_handshake.reading": (
        "TLS handshake (reading the certificate, to verify it after the handshake)"
    ),
    "tls_rejected": "certificate rejected: {detail}",
    "tls_failed": "TLS handshake failed: {message}",
    "tls_timeout": "TLS handshake timed out after {seconds:g} s",
    "tls_established": "TLS established: {version} {cipher}",
    "cert_verdict.verified": "certificate verified",
    "cert_verdict.not_verified": "certificate not verified: {detail}",
    "tls_race": (
        "no cleartext greeting within {seconds:g} s: trying implicit TLS on a second connection"
    ),
    "race_tls_first": "implicit TLS answered first on the second connection",
    "race_cleartext_first": "the cleartext greeting came first: the TLS attempt was dropped",
    "starttls_not_offered": "STARTTLS is not offered: staying in cleartext",
    "starttls_refused": "STARTTLS refused with {code}: staying in cleartext",
    "starttls_injection": "discarding {count} unexpected item(s) sent before the TLS handshake",
    "check.tls_required": "TLS-required check: MAIL before any TLS (never RCPT or DATA)",
    "check.tls_required_again": (
        "TLS-required check: MAIL again after STARTTLS (never RCPT or DATA)"
    ),
    "check.relay": "relay check: MAIL and RCPT to a reserved foreign domain (never DATA)",
    "check.send_test": (
        "test message: MAIL, RCPT to the one address asked for and DATA, after the login "
        "succeeded (smtplab doctor --send-test)"
    ),
    "auth_skipped.cleartext": "AUTH check skipped: the connection is not encrypted",
    "auth_skipped.unverified": (
        "AUTH check skipped: the certificate was not verified for this host"
    ),
    "auth_skipped.old_tls": "AUTH check skipped: TLS older than 1.2",
    "reconnect": (
        "this Python cannot hand over the unverified chain: reconnecting to read the certificate"
    ),
    "retry.implicit_tls": "no cleartext greeting: retrying with implicit TLS",
    "retry.plain": "the server answered in cleartext: retrying as plain SMTP with STARTTLS",
    "retry_failed": "implicit TLS did not answer either",
    "truncated": "transcript truncated: {count} more lines",
}


def sentence(kind: str, variant: str | None = None, /, **words: object) -> str:
    """The sentence for an event of ``kind`` (and ``variant``), its blanks filled in."""
    return SENTENCES[f"{kind}.{variant}" if variant else kind].format(**words)
