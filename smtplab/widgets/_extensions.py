"""What each line of an EHLO reply means: one explanation per extension, with its source.

A server answers EHLO with its name and then one line per extension it supports (RFC 5321,
section 4.1.1.1). The transcript player and the probe panel explain every line with
:func:`explain_ehlo_line`; the facts live in :data:`EXTENSIONS` and :data:`AUTH_MECHANISMS`,
one row each, so adding an extension is adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["AUTH_MECHANISMS", "EXTENSIONS", "Extension", "explain_ehlo_line", "explain_keyword"]


@dataclass(frozen=True)
class Extension:
    """One EHLO keyword or SASL mechanism: what it lets the client do, and where it is defined."""

    meaning: str
    source: str


#: EHLO keyword -> what it means, and the RFC (or other document) that defines it.
EXTENSIONS: Final[dict[str, Extension]] = {
    "STARTTLS": Extension(
        "the server offers to encrypt this connection with TLS before anything else is sent",
        "RFC 3207",
    ),
    "AUTH": Extension("the server accepts a login (SMTP AUTH, using SASL)", "RFC 4954"),
    "SIZE": Extension("the largest message the server accepts, in bytes", "RFC 1870"),
    "8BITMIME": Extension(
        "message bodies may contain 8-bit characters (e.g. UTF-8 text) without re-encoding",
        "RFC 6152",
    ),
    "PIPELINING": Extension(
        "the client may send several commands at once without waiting for each reply",
        "RFC 2920",
    ),
    "SMTPUTF8": Extension(
        "addresses and headers may use international (UTF-8) characters, like josé@exämple.org",
        "RFC 6531",
    ),
    "CHUNKING": Extension(
        "the message may be sent in sized chunks with BDAT instead of DATA", "RFC 3030"
    ),
    "BINARYMIME": Extension("message bodies may be raw binary (sent with BDAT)", "RFC 3030"),
    "DSN": Extension(
        "the client may ask for delivery status notifications (success, delay, failure)",
        "RFC 3461",
    ),
    "ENHANCEDSTATUSCODES": Extension(
        "replies carry a detailed status code such as 2.1.0 after the three digits", "RFC 2034"
    ),
    "REQUIRETLS": Extension(
        "a message may demand TLS on every hop to its destination, or be returned", "RFC 8689"
    ),
    "HELP": Extension("the server answers the HELP command", "RFC 5321"),
    "VRFY": Extension("the server answers VRFY (does this address exist?)", "RFC 5321"),
    "EXPN": Extension("the server answers EXPN (expand a mailing list)", "RFC 5321"),
    "ETRN": Extension(
        "a client may ask the server to send out mail queued for its domain", "RFC 1985"
    ),
    "DELIVERBY": Extension("the client may set a deadline for delivery", "RFC 2852"),
    "MT-PRIORITY": Extension("messages may carry a transfer priority", "RFC 6710"),
    "LIMITS": Extension(
        "the server announces its limits (recipients per message, messages per session)",
        "RFC 9422",
    ),
    "NO-SOLICITING": Extension("the server asks not to be offered other services", "RFC 3865"),
    "FUTURERELEASE": Extension("a message may be held and released at a later time", "RFC 4865"),
}

#: SASL mechanism (after AUTH) -> what crosses the wire, and where it is defined.
AUTH_MECHANISMS: Final[dict[str, Extension]] = {
    "PLAIN": Extension(
        "name and password in one base64 message: readable by anyone on the path unless the "
        "connection is encrypted",
        "RFC 4616",
    ),
    "LOGIN": Extension(
        "name, then password, each base64-encoded: as readable as PLAIN without TLS "
        "(never standardised)",
        "draft-murchison-sasl-login",
    ),
    "CRAM-MD5": Extension(
        "challenge-response with HMAC-MD5: the password is not sent, but the server must keep "
        "it and a captured exchange can be guessed offline",
        "RFC 2195",
    ),
    "DIGEST-MD5": Extension("challenge-response, moved to Historic status", "RFC 6331"),
    "SCRAM-SHA-1": Extension(
        "salted challenge-response: the password is never sent and the server proves it "
        "knows it too",
        "RFC 5802",
    ),
    "SCRAM-SHA-256": Extension(
        "salted challenge-response with SHA-256: the password is never sent", "RFC 7677"
    ),
    "XOAUTH2": Extension(
        "an OAuth 2.0 access token instead of a password (Google's and Microsoft's mechanism, "
        "not an RFC)",
        "Google, 'OAuth 2.0 Mechanism' (developers.google.com/gmail/imap/xoauth2-protocol)",
    ),
    "OAUTHBEARER": Extension(
        "an OAuth 2.0 bearer token instead of a password, the standard form of XOAUTH2",
        "RFC 7628",
    ),
    "GSSAPI": Extension("Kerberos single sign-on, no password sent", "RFC 4752"),
    "EXTERNAL": Extension(
        "identity taken from outside SMTP, such as a TLS client certificate", "RFC 4422"
    ),
    "NTLM": Extension("Microsoft's Windows login (challenge-response)", "Microsoft [MS-SMTPNTLM]"),
    "ANONYMOUS": Extension("no identity at all", "RFC 4505"),
}


def _size(argument: str) -> str:
    word = argument.split()[0] if argument.split() else ""
    if not word.isdigit() or int(word) == 0:
        return "SIZE: the server announces no fixed limit on message size (RFC 1870)"
    n = int(word)
    mib = n / (1024 * 1024)
    return (
        f"SIZE {n}: the largest message the server accepts is {n:,} bytes "
        f"(about {mib:,.1f} MiB), attachments included (RFC 1870)"
    )


def _auth(argument: str) -> str:
    mechs = [m.upper() for m in argument.split()]
    if not mechs:
        return "AUTH: the server accepts a login, but lists no mechanism (RFC 4954)"
    parts = []
    for m in mechs:
        known = AUTH_MECHANISMS.get(m)
        parts.append(
            f"{m}: {known.meaning} ({known.source})"
            if known
            else f"{m}: a mechanism not described here"
        )
    return (
        f"AUTH: the server accepts a login (RFC 4954) with {len(mechs)} "
        f"mechanism{'s' if len(mechs) != 1 else ''}. " + "; ".join(parts) + "."
    )


def explain_keyword(keyword: str, argument: str = "") -> str:
    """One sentence for the EHLO extension line ``keyword argument`` (``SIZE``, ``35882577``)."""
    kw = keyword.upper()
    if kw == "AUTH":
        return _auth(argument)
    if kw == "SIZE":
        return _size(argument)
    known = EXTENSIONS.get(kw)
    if known is not None:
        extra = f" ({argument})" if argument else ""
        return f"{kw}{extra}: {known.meaning} ({known.source})"
    if kw.startswith("X"):
        return f"{kw}: a vendor's private extension (names starting with X are not standardised)"
    return f"{kw}: an extension not described here"


def explain_ehlo_line(text: str, first: bool) -> str:
    """Explain one line of a 250 reply to EHLO; ``first`` is its first line (the server's name)."""
    body = text[4:] if len(text) >= 4 and text[:3].isdigit() else text
    if not text.startswith("250"):
        return ""
    if first:
        name = body.split()[0] if body.split() else "?"
        return (
            f"250: the server, calling itself {name}, accepts EHLO; each line after this one "
            "names an extension it supports (RFC 5321)"
        )
    head, _, rest = body.strip().partition(" ")
    if head.upper().startswith("AUTH="):  # the old form some servers still add for Outlook
        return (
            "AUTH= (old form of AUTH, kept for early Outlook versions): "
            + _auth(head[5:] + " " + rest).split(": ", 1)[1]
        )
    return explain_keyword(head, rest.strip())
