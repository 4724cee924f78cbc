"""The explainer's rules, as a table: which reply is whose problem and what to do about it.

Each :class:`Rule` tests a parsed reply (:class:`Parsed`: the code, the enhanced code and the
reply's words in lower case); the first that matches gives the side (one of
:data:`smtplab.advice.explainer.SIDES`), the meaning, the steps and the source. Specific refusals
(a provider's documented reply, 5.7.8, STARTTLS first) come before the general classes of RFC 5321
and RFC 3463.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["RULES", "Parsed", "Rule"]


@dataclass(frozen=True)
class Parsed:
    code: int | None
    enhanced: tuple[int, int, int] | None
    #: The reply's words, codes taken out, lines joined (for matching).
    words: str
    shown: str


@dataclass(frozen=True)
class Rule:
    name: str
    test: Callable[[Parsed], bool]
    side: str
    meaning: str
    todo: tuple[str, ...]
    source: str


def _enh(p: Parsed, subject: int, detail: int | None = None) -> bool:
    return (
        p.enhanced is not None
        and p.enhanced[1] == subject
        and (detail is None or p.enhanced[2] == detail)
    )


def _has(p: Parsed, *phrases: str) -> bool:
    return any(phrase in p.words for phrase in phrases)


_MS_BASIC = (
    "smtplab provider knowledge base: Outlook.com (passwords refused since 2024-09-16), "
    "Microsoft 365 (SMTP AUTH Basic off by default from the end of December 2026)"
)
_LOGIN_TODO = (
    "Check the user name: the form your provider wants (often the full address; an API "
    "service may want a fixed word such as apikey or resend, or a token).",
    "Use the credential the provider wants for SMTP (an app password, an SMTP key or token, "
    "per-region SMTP credentials), not the password you sign in to the website with.",
    "Retyping the same password will not help if the provider no longer takes passwords.",
)

#: The rules, first match wins: the specific refusals before the general classes.
RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "smtp-auth-off-for-tenant",
        lambda p: _has(p, "smtpclientauthentication is disabled"),
        "your login",
        "Your organization's Microsoft 365 tenant has SMTP AUTH turned off: the server takes no "
        "login on this port, neither a password nor an OAuth token, whatever you type.",
        (
            "Ask the tenant's administrator to turn on SMTP AUTH for this mailbox "
            "(authenticated SMTP, off by default), then sign in with OAuth 2.0.",
            "Or send another way: Microsoft Graph, or a relay connector in Exchange Online.",
        ),
        "Microsoft's pointer in the reply (https://aka.ms/smtp_auth_disabled); smtplab provider "
        "knowledge base: Microsoft 365 (Exchange Online)",
    ),
    Rule(
        "basic-auth-disabled",
        lambda p: _enh(p, 7, 139) or _has(p, "basic authentication is disabled"),
        "your login",
        "The server took your password and refused it: this account no longer accepts passwords "
        "(basic authentication) from mail programs. The port and TLS were right.",
        (
            "Use a mail program or plug-in that signs in with OAuth 2.0 (Microsoft calls it "
            "'Modern Auth') and sign in again; a password, even the right one, is refused.",
            "Microsoft's server still lists AUTH LOGIN: the AUTH line does not tell you this.",
            "An app password does not help: it takes the same basic-authentication path.",
        ),
        _MS_BASIC,
    ),
    Rule(
        "client-submission-basic",
        lambda p: _enh(p, 7, 30) or _has(p, "basic authentication is not supported for client"),
        "your login",
        "Exchange Online refuses passwords (Basic authentication) for SMTP AUTH client "
        "submission on this tenant.",
        (
            "Switch the program to OAuth 2.0 (XOAUTH2), or send through Microsoft Graph, High "
            "Volume Email or an SMTP relay connector instead.",
            "Until the final removal date, a tenant administrator can turn SMTP AUTH Basic back "
            "on; check again after 2027-01-05 what Microsoft has announced.",
        ),
        "Microsoft Exchange Team blog, 'Exchange Online to retire Basic auth for Client "
        "Submission (SMTP AUTH)'; Message Center MC786329",
    ),
    Rule(
        "app-password-required",
        lambda p: _has(p, "application-specific password", "app password"),
        "your login",
        "The account has two-step verification on, so the provider wants an app password (or "
        "OAuth 2.0) from mail programs, not the account password.",
        (
            "Make an app password in the account's security settings (two-step verification "
            "must be on) and paste it, without spaces, as the password.",
            "Or use a program that signs in with OAuth 2.0 ('Sign in with Google').",
        ),
        "RFC 4954 §6; Google, 'Sign in with app passwords'",
    ),
    Rule(
        "mechanism-too-weak",
        lambda p: p.code == 534 or _enh(p, 7, 9),
        "your client's settings",
        "The server refuses the login mechanism the program chose as too weak.",
        (
            "Turn on TLS (STARTTLS on 587 or implicit TLS on 465) and let the program pick the "
            "mechanism; where the provider wants OAuth 2.0 or an app password, use that.",
        ),
        "RFC 4954 §6",
    ),
    Rule(
        "password-transition",
        lambda p: p.code == 432 or _enh(p, 7, 12),
        "your login",
        "The server wants the account's password changed before it accepts a login.",
        ("Sign in to the provider's website, change the password, then use the new one.",),
        "RFC 4954 §6",
    ),
    Rule(
        "bad-credentials",
        lambda p: p.code == 535 or _enh(p, 7, 8),
        "your login",
        "The server read the user name and password and refused them. The connection, port "
        "and TLS worked; only the login is wrong.",
        _LOGIN_TODO,
        "RFC 4954 §6",
    ),
    Rule(
        "starttls-first",
        lambda p: _has(p, "starttls"),
        "your client's settings",
        "The server wants the connection encrypted before anything else, and the program spoke "
        "in clear text.",
        (
            "Set the security to STARTTLS on port 587 (or SSL/TLS, meaning implicit TLS, on 465).",
            "If it is already set, something on the network may strip STARTTLS: run "
            "`smtplab doctor HOST` to see.",
        ),
        "RFC 3207 §4",
    ),
    Rule(
        "encryption-required",
        lambda p: p.code == 538 or _enh(p, 7, 11) or _enh(p, 7, 10),
        "your client's settings",
        "The login mechanism needs an encrypted connection first.",
        ("Turn on TLS: STARTTLS on 587, or SSL/TLS (implicit TLS) on 465.",),
        "RFC 4954 §6",
    ),
    Rule(
        "direct-to-mx-refused",
        lambda p: _has(p, "not authorized to send email directly", "dynamic ip", "residential"),
        "the network",
        "The receiving server does not take mail sent straight from this address (a home, "
        "dynamic or cloud address): mail from such networks is expected to go through a "
        "provider's relay.",
        (
            "Hand your server's mail to a smarthost (your provider's or a sending service's "
            "relay) on 587 or 465 with a login, instead of delivering to the MX yourself.",
        ),
        "RFC 3463 §3.8; RFC 5321 §3.6.2",
    ),
    Rule(
        "relay-denied",
        lambda p: _has(
            p,
            "relay access denied",
            "relaying denied",
            "relay denied",
            "relay not permitted",
            "not permitted to relay",
            "unable to relay",
            "relaying not allowed",
            "relay not allowed",
        ),
        "your client's settings",
        "The server does not know you, so it will not pass mail on to other domains (relay). A "
        "mail program must log in on a submission port; port 25 without a login only takes "
        "mail for the server's own domains.",
        (
            "Turn on 'my server requires authentication' and log in, on 587 or 465, not 25.",
            "Check the server name: it must be your provider's sending server.",
        ),
        "RFC 5321 §3.6.2; RFC 6409 §3.1",
    ),
    Rule(
        "authentication-required",
        lambda p: p.code == 530 or _has(p, "authentication required", "not authenticated"),
        "your client's settings",
        "The server wants a login before it takes mail, and the program sent none.",
        ("Turn on 'my server requires authentication' and enter the user name and credential.",),
        "RFC 4954 §6",
    ),
    Rule(
        "temporary-auth",
        lambda p: p.code == 454,
        "the server",
        "The server could not log you in or start TLS just now, for a reason on its side.",
        ("Wait a few minutes and try again; if it lasts, ask the provider.",),
        "RFC 4954 §6; RFC 3207 §4",
    ),
    Rule(
        "closing",
        lambda p: p.code == 421,
        "the server",
        "The server is closing the connection: it is busy, shutting down, or limiting this "
        "client (too many connections or messages, or your address's reputation).",
        (
            "Try again later; a mail server retries by itself.",
            "If it comes at once on every try, the server may refuse your network: try from "
            "another network, and check your address against blocklists.",
        ),
        "RFC 5321 §4.2.2; RFC 5321 §3.8",
    ),
    Rule(
        "recipient-unknown",
        lambda p: _enh(p, 1) or p.code in (551, 553) or _has(p, "user unknown", "no such user"),
        "the recipient",
        "The recipient's address is wrong or does not exist there.",
        ("Check the address's spelling; ask the recipient for the right one.",),
        "RFC 3463 §3.2; RFC 5321 §4.2.2",
    ),
    Rule(
        "mailbox",
        lambda p: _enh(p, 2) or (p.code == 552 and p.enhanced is None),
        "the recipient",
        "The recipient's mailbox cannot take the message (full, disabled or over a limit).",
        ("Tell the recipient another way, or try later; send a smaller message.",),
        "RFC 3463 §3.3",
    ),
    Rule(
        "policy",
        lambda p: _enh(p, 7) and p.code != 530,
        "the recipient",
        "The receiving server refused the mail by its policy (sender authentication such as "
        "SPF, DKIM or DMARC, spam filtering, or your address's reputation).",
        (
            "Read the rest of the reply: it usually names the check that failed.",
            "Check your domain's SPF, DKIM and DMARC records, and your server's address against "
            "blocklists.",
        ),
        "RFC 3463 §3.8",
    ),
    Rule(
        "network",
        lambda p: _enh(p, 4),
        "the network",
        "The message could not be routed or delivered through the network.",
        ("Check the destination domain's MX records, and that the network lets the mail out.",),
        "RFC 3463 §3.5",
    ),
    Rule(
        "content",
        lambda p: _enh(p, 6) or _enh(p, 3, 4),
        "your message",
        "The message itself cannot be taken as it is (size, format or content).",
        ("Send a smaller message, or in another format.",),
        "RFC 3463 §3.7; RFC 3463 §3.4",
    ),
    Rule(
        "protocol",
        lambda p: _enh(p, 5) or p.code in (500, 501, 502, 503, 504, 555),
        "your client's settings",
        "The server did not understand the command the program sent, or not in that order; often "
        "a program speaking STARTTLS to an implicit-TLS port (465) or the other way round.",
        ("Match the security setting to the port: SSL/TLS (implicit) on 465, STARTTLS on 587.",),
        "RFC 5321 §4.2.2; RFC 3463 §3.6",
    ),
    Rule(
        "success",
        lambda p: p.code is not None and p.code < 400,
        "nobody: it worked",
        "This reply is not an error: the server accepted the command (or waits for more).",
        ("Nothing to fix here; look for a line with a code starting with 4 or 5.",),
        "RFC 5321 §4.2.1",
    ),
    Rule(
        "temporary",
        lambda p: (p.code is not None and p.code < 500) or (p.enhanced or (0,))[0] == 4,
        "the server",
        "A temporary failure on the server's side: the same request may work later.",
        ("Try again later; a mail server retries by itself.",),
        "RFC 5321 §4.2.1",
    ),
    Rule(
        "permanent",
        lambda p: True,
        "the server",
        "A permanent failure: the server will not do this as asked.",
        ("Read the rest of the reply for the reason; change the request before trying again.",),
        "RFC 5321 §4.2.1",
    ),
)
