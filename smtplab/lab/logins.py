"""How the lab's servers answer a login: OAuth tokens (XOAUTH2, OAUTHBEARER) and the big providers'
refusals of a password.

Every reply a provider-like profile sends is quoted from a source, with the date it was checked
(:data:`CHECKED`). Where the stored copies we searched held no provider page, the source is a user's
log of the real server's reply, and the entry says so; nothing here is invented.

Pure functions and data: the aiosmtpd glue is in :mod:`smtplab.lab.servers`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CHECKED",
    "PROVIDER_LIKE",
    "SMTP_SCOPE",
    "TOKEN_REFUSAL",
    "ProviderLike",
    "SaslToken",
    "error_challenge",
    "parse_oauthbearer",
    "parse_xoauth2",
]

#: The scope a token needs for the lab's mail servers (Google's is ``https://mail.google.com/``,
#: Microsoft's ``https://outlook.office.com/SMTP.Send``: a URL naming the service).
SMTP_SCOPE: Final = "https://mail.lab.example/smtp"

#: The day every quotation below was checked against its source.
CHECKED: Final = "2026-12-07"


@dataclass(frozen=True)
class SaslToken:
    """The user and bearer token a client sent with XOAUTH2 or OAUTHBEARER."""

    user: str
    token: str


def _kv(parts: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in parts:
        key, sep, value = p.partition("=")
        if sep:
            out.setdefault(key, value)
    return out


def _bearer(auth: str | None) -> str | None:
    if auth is None:
        return None
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _ctrl_a_message(data: bytes) -> str | None:
    """The fields of a decoded XOAUTH2 or OAUTHBEARER message, ``^A``-separated, without the
    final ``^A^A`` that ends both; None when it is not UTF-8 or not so ended."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text[:-2] if text.endswith("\x01\x01") else None


def parse_xoauth2(data: bytes) -> SaslToken | None:
    """``user={User}^Aauth=Bearer {Access Token}^A^A`` (already base64-decoded), or None when
    it is not that shape. Google's definition:
    https://developers.google.com/workspace/gmail/imap/xoauth2-protocol (checked 2026-12-07)."""
    text = _ctrl_a_message(data)
    if text is None:
        return None
    kv = _kv(text.split("\x01"))
    token = _bearer(kv.get("auth"))
    user = kv.get("user")
    if not user or token is None:
        return None
    return SaslToken(user, token)


def _gs2_user(header: str) -> str | None:
    """The ``a=`` authzid of a GS2 header ``n,a=user,`` (RFC 5801 section 4), unescaped."""
    fields = header.split(",")
    if len(fields) < 2 or fields[0] not in ("n", "y"):
        return None
    for f in fields[1:]:
        if f.startswith("a="):
            return f[2:].replace("=2C", ",").replace("=3D", "=")
    return None


def parse_oauthbearer(data: bytes) -> SaslToken | None:
    """RFC 7628 section 3.1: ``n,a=user,^Aauth=Bearer TOKEN^A^A`` (decoded), or None. The
    GS2 header must name the user: a mail server has no other way to know who it is."""
    text = _ctrl_a_message(data)
    if text is None:
        return None
    header, _, rest = text.partition("\x01")
    user = _gs2_user(header)
    token = _bearer(_kv(rest.split("\x01")).get("auth"))
    if not user or token is None:
        return None
    return SaslToken(user, token)


def error_challenge(scope: str, *, oauthbearer: bool = False) -> bytes:
    """The JSON a server sends, base64-encoded in a ``334`` challenge, when a token fails.

    XOAUTH2, from Google's page (https://developers.google.com/workspace/gmail/imap/xoauth2-protocol,
    read 2026-12-07 in the stored copy https://developers.google.cn/gmail/imap/xoauth2-protocol
    ?authuser=8): "If the initial client response results in an error, the server sends a challenge
    with the error message in the following format: base64({JSON-Body}). The JSON-Body contains
    three values: status, schemes and scope", e.g. ``{"status":"401","schemes":"bearer mac",
    "scope":"https://mail.google.com/"}``; the client answers with an empty line, and the server
    then sends its failure reply. OAUTHBEARER (RFC 7628 section 3.2.2) sends
    ``{"status":"invalid_token","scope":...}`` and the client answers ``^A``."""
    if oauthbearer:
        body = {"status": "invalid_token", "scope": scope}
    else:
        body = {"status": "401", "schemes": "bearer", "scope": scope}
    return json.dumps(body, separators=(",", ":")).encode()


#: The lab's own final reply to a refused token (RFC 4954's 535 5.7.8 "Authentication credentials
#: invalid"), followed by why -- a lab can say what a real server keeps to itself.
TOKEN_REFUSAL: Final[Mapping[str, str]] = {
    "unknown": "the lab never issued that token",
    "expired": "the token has expired: get a new one",
    "revoked": "the token was revoked",
    "wrong-user": "the token was issued to another user",
    "wrong-scope": "the token was not issued for sending mail (scope)",
    "malformed": "that is not an XOAUTH2/OAUTHBEARER string with a bearer token",
    "no-server": "the lab never issued that token (its OAuth server has not started: lab.oauth)",
}


@dataclass(frozen=True)
class ProviderLike:
    """A lab profile that answers a password login as a big provider does."""

    profile: str
    #: The provider whose replies it imitates.
    imitates: str
    #: The SASL mechanisms its EHLO lists after STARTTLS, in the provider's order.
    mechanisms: tuple[str, ...]
    #: The reply to the account password (after it is sent), exactly as quoted.
    password_reply: str
    #: Where the reply was found (URL), and what kind of source that is.
    source: str
    #: Where the EHLO's AUTH line was found.
    mechanisms_source: str
    #: True when an app password made by the lab (``lab.app_password``) logs in here.
    takes_app_password: bool = False
    #: The reply to a wrong password (only where it differs from the account-password reply).
    wrong_password_reply: str | None = None
    #: The reply to a refused token.
    token_refusal: str | None = None


#: Google's reply to the account password of an account with 2-Step Verification, as smtplib
#: reports it; the request id Google appends is left out. Multi-line, as Google sends it.
GMAIL_APP_PASSWORD_REQUIRED: Final = (
    "534-5.7.9 Application-specific password required. For more information, go to\r\n"
    "534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor"
)
#: Google's reply to a wrong password (and the end of a failed XOAUTH2 exchange), from a session
#: with smtp.gmail.com: https://pastebin.com/uXqSaYa4 ('535-5.7.8 Username and Password not
#: accepted. Learn more at' / '535 5.7.8 https://support.google.com/mail/?p=BadCredentials ...').
GMAIL_BAD_CREDENTIALS: Final = (
    "535-5.7.8 Username and Password not accepted. Learn more at\r\n"
    "535 5.7.8 https://support.google.com/mail/?p=BadCredentials"
)

PROVIDER_LIKE: Final[Mapping[str, ProviderLike]] = {
    p.profile: p
    for p in (
        ProviderLike(
            profile="outlook-like",
            imitates="Outlook.com (smtp-mail.outlook.com:587)",
            mechanisms=("LOGIN", "XOAUTH2"),
            # Microsoft publishes no page quoting this reply that we found in the stored copies:
            # it is quoted from users' logs of the real server refusing a password.
            password_reply="535 5.7.139 Authentication unsuccessful, basic authentication is "
            "disabled.",
            source="https://github.com/daleghent/nina-ground-station/issues/17 (a user's log from "
            "smtp-mail.outlook.com:587, 2024-11-11: '535: 5.7.139 Authentication unsuccessful, "
            "basic authentication is disabled. [PH7P220CA0132...]'); the same words in "
            "https://github.com/nodemailer/nodemailer/issues/1714 (2025-01-26); no Microsoft page "
            "quoting them was found in the stored copies",
            mechanisms_source="https://github.com/muquit/mailsend-go/issues/68 (2025-01-24: "
            "'even though AUTH LOGIN is there but microsoft seems to have disabled it. Looks like "
            "they only supports XOAUTH2'); '250-AUTH LOGIN XOAUTH2' quoted from "
            "smtp.office365.com in https://github.com/Enough-Software/enough_mail/issues/106",
        ),
        ProviderLike(
            profile="gmail-like",
            imitates="Gmail (smtp.gmail.com:465 and 587), an account with 2-Step Verification",
            mechanisms=("LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"),
            password_reply=GMAIL_APP_PASSWORD_REQUIRED,
            source="https://github.com/Der-Henning/tgtg/issues/517 (smtplib's report of "
            "smtp.gmail.com, 2024-07-13: (534, b'5.7.9 Application-specific password required. "
            "For more information, go to\\n5.7.9  https://support.google.com/mail/"
            "?p=InvalidSecondFactor ... - gsmtp')); also https://github.com/leiweibau/Pi.Alert/"
            "issues/236 (2024-01-15). Google's own SMTP error list was not found in the stored "
            "copies",
            mechanisms_source="https://pastebin.com/uXqSaYa4 (a session with smtp.gmail.com: "
            "'250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH'; the lab offers "
            "the four standard or documented ones)",
            takes_app_password=True,
            wrong_password_reply=GMAIL_BAD_CREDENTIALS,
            token_refusal=GMAIL_BAD_CREDENTIALS,
        ),
        ProviderLike(
            profile="exchange-like",
            imitates="Microsoft 365 / Exchange Online (smtp.office365.com:587) once Basic "
            "authentication for Client Submission is off",
            mechanisms=("LOGIN", "XOAUTH2"),
            password_reply="550 5.7.30 Basic authentication is not supported for Client "
            "Submission.",
            source="https://techcommunity.microsoft.com/t5/exchange-team-blog/exchange-online-to-"
            "retire-basic-auth-for-client-submission-smtp/ba-p/4114750 (Microsoft's Exchange Team "
            "blog: 'Once Basic auth is permanently disabled, any clients or apps connecting using "
            "Basic auth with Client Submission (SMTP AUTH) will receive this response: 550 5.7.30 "
            "Basic authentication is not supported for Client Submission.'). The date moves: that "
            "post (updated 2025-06-11) says March-April 2026; https://www.captaindns.com/en/blog/"
            "microsoft-exchange-basic-auth-smtp-end (2026-02-20) reports a January 2026 revision, "
            "disabled by default for existing tenants in late December 2026, with the same reply. "
            "Check again after that",
            mechanisms_source="'250-AUTH LOGIN XOAUTH2' quoted from smtp.office365.com in "
            "https://github.com/Enough-Software/enough_mail/issues/106",
        ),
    )
}


def decode_b64(text: str) -> bytes | None:
    """Base64 text from a SASL line, or None when it is not base64."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
