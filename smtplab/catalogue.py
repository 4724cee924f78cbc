"""Every finding code smtplab can report, with its severity, message template and source.

Two kinds of finding make the catalogue. Most are rows of :data:`smtplab.findings.RULES`: a
condition on the record, so an imported scan or a replayed recording gets them too. The rest
only the live conversation can see (a STARTTLS refused, a login check's answer, a retry with
implicit TLS); they are the rows of :data:`LIVE`, and the engine makes them with
:func:`live_finding`, which refuses a code the catalogue does not list. :func:`render_markdown`
writes the whole catalogue as the page ``docs/findings.md`` (``python -m smtplab.catalogue``
rewrites it; a test checks the page is up to date).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from smtplab.findings import RULES, Finding
from smtplab.schema import SEVERITIES, Severity

__all__ = ["CATALOGUE", "LIVE", "Entry", "codes", "live_finding", "render_markdown"]


@dataclass(frozen=True)
class Entry:
    """One finding code: the ``severities`` it can have (the first is the usual one), its
    message ``template`` (``{placeholders}`` are filled from the probe), the ``source`` of its
    claim, and whether a record ``rule`` decides it or only the ``live`` conversation sees it."""

    code: str
    severities: tuple[Severity, ...]
    template: str
    source: str
    made_by: str = "live"


_RFC3207 = "RFC 3207 (SMTP Service Extension for Secure SMTP over TLS)"
_RFC4954 = "RFC 4954 §4 (SMTP AUTH) and RFC 8314 §3 (TLS for submission)"
_AUTH_GUARD = (
    "smtplab's rule: credentials are sent only over TLS verified for the name dialled "
    "(DESIGN.md, Ethics of probing); RFC 8314 §5.1 (a mail program MUST NOT test an account's "
    "credentials until TLS meets the minimum confidentiality) and §5.2 (that minimum MUST "
    "include a validated certificate)"
)

#: The findings only the live conversation can see, in the order a probe meets them.
LIVE: Final[tuple[Entry, ...]] = (
    Entry(
        "wrong_tls_mode",
        ("medium",),
        "Port {port} speaks plain SMTP (with STARTTLS if offered), not implicit TLS: a client set "
        "to SSL/TLS here fails with WRONG_VERSION_NUMBER.",
        "RFC 8314 §3.3 (implicit TLS) and RFC 3207 (STARTTLS); OpenSSL's WRONG_VERSION_NUMBER",
    ),
    Entry(
        "implicit_tls_detected",
        ("info",),
        "Port {port} stayed silent in cleartext and answered once TLS was started first: it "
        "speaks implicit TLS.",
        "RFC 8314 §3.3: on an implicit-TLS port the TLS handshake comes before any SMTP",
    ),
    Entry(
        "no_starttls",
        ("high", "low"),
        "STARTTLS was asked for but the server does not offer it.",
        _RFC3207 + "; high on a submission port, low on 25",
    ),
    Entry(
        "starttls_refused",
        ("high",),
        "STARTTLS is offered but was refused with {code}: {text}",
        _RFC3207 + " §4: 220 means ready to start TLS",
    ),
    Entry(
        "starttls_injection",
        ("high",),
        "The server (or something on the way) sent extra data right after agreeing to STARTTLS: "
        "a response-injection risk (CVE-2011-0411 style); it was discarded.",
        "CVE-2011-0411; RFC 3207 §4.2 (discard what came before TLS)",
    ),
    Entry(
        "mail_before_tls_accepted",
        ("high", "low"),
        "The server accepted MAIL before any TLS: a client that does not insist on TLS could send "
        "its message, and on a submission port its password, unencrypted.",
        "RFC 8314 §3.3 (STARTTLS is as safe as implicit TLS only when client and server 'are "
        "configured to require successful negotiation of TLS prior to Message Submission'); "
        "high on 465/587/2525, low elsewhere",
    ),
    Entry(
        "tls_required_unclear",
        ("info",),
        "Mail before TLS got {code} ({text}), neither a yes nor a refusal.",
        "RFC 5321 §4.2.1 (reply code classes)",
    ),
    Entry(
        "tls_required",
        ("info",),
        "Mail before TLS was refused with {said}; it insists on encryption first.",
        "RFC 3207 §4 (530 Must issue a STARTTLS command first); RFC 8314 §3.3",
    ),
    Entry(
        "mail_needs_login",
        ("info",),
        "Mail before TLS was refused with {said}; it gave the same answer after STARTTLS: it "
        "needs a login, not encryption.",
        "RFC 4954 §6 (530 Authentication required)",
    ),
    Entry(
        "auth_not_attempted",
        ("info",),
        "The AUTH check did not send the password: the connection is not encrypted.",
        _AUTH_GUARD,
    ),
    Entry(
        "auth_skipped_unverified",
        ("info",),
        "The AUTH check did not send the password: the server's certificate was not verified for "
        "{host} ({why}), or the session is older than TLS 1.2.",
        _AUTH_GUARD + "; RFC 8997 §3 (and SHOULD include TLS 1.2 or greater)",
    ),
    Entry(
        "auth_unavailable",
        ("medium",),
        "The AUTH check could not log in: the server offers neither PLAIN nor LOGIN here.",
        "RFC 4616 (PLAIN); draft-murchison-sasl-login (LOGIN)",
    ),
    Entry("auth_ok", ("info",), "The login check succeeded {where}.", _RFC4954),
    Entry("auth_failed", ("medium",), "The login check was refused with {code}.", _RFC4954),
    Entry(
        "test_sent",
        ("info",),
        "The test message to {to} was accepted.",
        "RFC 5321 §4.1.1.4 (DATA: 250 after the message means it was accepted); "
        "smtplab doctor --login --send-test",
    ),
    Entry(
        "test_refused",
        ("medium",),
        "The test message was refused at {what}: {code}.",
        "RFC 5321 §4.1.1.2-4.1.1.4 (MAIL, RCPT, DATA replies)",
    ),
    Entry(
        "protocol_problem",
        ("medium",),
        "{error}",
        "smtplab's reply parser (RFC 5321 §4.2 reply syntax, §4.5.3.1 line limits)",
    ),
)

#: Every code: the record rules first, in their table's order, then the live ones.
CATALOGUE: Final[tuple[Entry, ...]] = (
    *(Entry(r.code, (r.severity,), r.message, r.source, "rule") for r in RULES),
    *LIVE,
)

_LIVE_BY_CODE: Final = {e.code: e for e in LIVE}


def codes() -> frozenset[str]:
    """Every finding code in the catalogue."""
    return frozenset(e.code for e in CATALOGUE)


def live_finding(code: str, severity: str, message: str) -> Finding:
    """A finding only the live conversation can see. ``code`` must be a row of :data:`LIVE` and
    ``severity`` one it lists: a finding missing from the catalogue is a bug, caught here."""
    entry = _LIVE_BY_CODE.get(code)
    if entry is None:
        raise ValueError(f"finding code {code!r} is not in smtplab.catalogue.LIVE")
    for known in entry.severities:
        if severity == known:
            return Finding(code, known, message)
    raise ValueError(f"finding {code!r} has severity {severity!r}, not {entry.severities}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The catalogue as a Markdown page (what ``docs/findings.md`` holds)."""
    lines = [
        "# Finding codes",
        "",
        "<!-- Generated by `python -m smtplab.catalogue` from smtplab/findings.py and",
        "     smtplab/catalogue.py: edit those, then run it again. -->",
        "",
        "Every code a probe result can carry. *Made by* `rule`: decided from the record alone",
        "(live probes, replays and imported scans alike); `live`: seen only by a live",
        "conversation. `{placeholders}` in a message are filled in from the probe. Severities,",
        f"from least to most: {', '.join(SEVERITIES)}.",
        "",
        "| Code | Severity | Made by | Message | Source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in CATALOGUE:
        lines.append(
            f"| `{e.code}` | {' or '.join(e.severities)} | {e.made_by} | {_cell(e.template)} "
            f"| {_cell(e.source)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - the page's generator
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "findings.md"
    page.parent.mkdir(exist_ok=True)
    page.write_text(render_markdown(), encoding="utf-8")
