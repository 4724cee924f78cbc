"""The lab's inbox: what its servers received, read the way Mailpit shows its catch.

:func:`inbox_view` turns :attr:`Lab.outbox <smtplab.lab.Lab.outbox>` into :class:`InboxMessage`
views, newest first: the envelope (MAIL FROM, RCPT TO), every header in order with each hop's
``Received:`` line, the text body, an HTML body as its source (never rendered), and the
attachments by name and size. Everything here is data; the page
(:mod:`smtplab.lab.inbox_page`) and the widget (:func:`smtplab.widgets.inbox`) draw it.

What a client sent is hostile until shown otherwise, so a view is bounded: at most
:data:`MAX_VIEW_BYTES` of each message is parsed, at most :data:`MAX_HEADERS` headers of at most
:data:`MAX_FIELD_CHARS` characters each, and control and direction-changing characters are
made visible (``\\x1b``). Escaping for HTML is the renderer's job.
"""

from __future__ import annotations

import datetime as _dt
import email
import email.header
import email.message
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from smtplab.lab.servers import MAX_OUTBOX, Message

__all__ = [
    "MAX_HEADERS",
    "MAX_INBOX",
    "MAX_VIEW_BYTES",
    "Attachment",
    "InboxMessage",
    "inbox_view",
    "message_view",
    "visible",
]

#: The most messages an inbox view lists (the outbox keeps no more either).
MAX_INBOX: Final = MAX_OUTBOX
#: The most bytes of one message parsed for its view (a 1 MB message shows its first 256 KB).
MAX_VIEW_BYTES: Final = 256 * 1024
#: The most headers listed per message, and characters per header value or address.
MAX_HEADERS: Final = 100
MAX_FIELD_CHARS: Final = 2000
#: The most characters of a text or HTML body shown, and attachments listed.
MAX_BODY_CHARS: Final = 64 * 1024
MAX_ATTACHMENTS: Final = 50

# C0 and C1 controls (but tab and newline), DEL, and the bidirectional overrides and isolates
# that can make text read in another order than it is stored.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``text`` with control characters shown as ``\\xNN`` (``\\uNNNN``), cut at ``limit``
    characters with an ellipsis."""
    shown = _INVISIBLE.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass(frozen=True)
class Attachment:
    """One attachment: its file name as sent, its type and its decoded size in bytes."""

    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class InboxMessage:
    """One received message, ready to show (every text field bounded and visible)."""

    id: int
    received_at: _dt.datetime
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    #: The logical endpoint the client connected to, and the name that answered.
    host: str
    port: int
    server: str
    tls: bool
    auth_user: str | None
    #: Every header in order, (name, value); the lab's own ``Received:`` line is the first.
    headers: tuple[tuple[str, str], ...]
    #: The ``Received:`` lines, newest hop first (the lab's own on top).
    received: tuple[str, ...]
    text: str
    #: The HTML body's source, to be shown escaped, never rendered.
    html_source: str
    attachments: tuple[Attachment, ...]
    #: The message's size in bytes as the client sent it.
    size: int
    #: True when part of the message is not in this view (past a bound).
    truncated: bool


def _header_value(raw: object) -> str:
    """A header's value unfolded, with RFC 2047 encoded words decoded."""
    try:
        value = str(email.header.make_header(email.header.decode_header(str(raw))))
    except Exception:  # an encoding Python cannot decode: the raw text
        value = str(raw)
    return " ".join(value.split())


def _decoded_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        text = payload.decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def _body(msg: email.message.Message) -> tuple[str, str, list[Attachment], bool]:
    text, html, cut = "", "", False
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        name = part.get_filename()
        if name or disposition == "attachment" or not ctype.startswith("text/"):
            if len(attachments) >= MAX_ATTACHMENTS:
                cut = True
                continue
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(
                Attachment(visible(str(name or "(no name)"), 200), visible(ctype, 100), size)
            )
        elif ctype == "text/html" and not html:
            html = _decoded_text(part)
        elif not text:
            text = _decoded_text(part)
    if len(text) > MAX_BODY_CHARS or len(html) > MAX_BODY_CHARS:
        cut = True
    return visible(text, MAX_BODY_CHARS), visible(html, MAX_BODY_CHARS), attachments, cut


def message_view(message: Message, *, headers_only: bool = False) -> InboxMessage:
    """The view of one message of the outbox (``headers_only``: without its body, attachments
    and size note, which is all a list needs and far cheaper)."""
    data = message.content[:MAX_VIEW_BYTES]
    truncated = len(message.content) > MAX_VIEW_BYTES
    if headers_only:
        data = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    items = msg.items()
    truncated = truncated or len(items) > MAX_HEADERS
    headers = tuple(
        (visible(name, 200), visible(_header_value(value))) for name, value in items[:MAX_HEADERS]
    )
    received = tuple(v for n, v in headers if n.lower() == "received")
    try:
        text, html, attachments, cut = ("", "", [], False) if headers_only else _body(msg)
    except Exception:  # a body the parser gives up on: show it as text
        text = visible(data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace"), MAX_BODY_CHARS)
        html, attachments, cut = "", [], False
    subject = next((v for n, v in headers if n.lower() == "subject"), "")
    return InboxMessage(
        id=message.id,
        received_at=message.received_at,
        mail_from=visible(message.mail_from, 320),
        rcpt_tos=tuple(visible(r, 320) for r in message.rcpt_tos[:MAX_HEADERS]),
        subject=subject,
        host=visible(message.host, 255),
        port=message.port,
        server=visible(message.server, 255),
        tls=message.tls,
        auth_user=None if message.auth_user is None else visible(message.auth_user, 320),
        headers=headers,
        received=received,
        text=text,
        html_source=html,
        attachments=tuple(attachments),
        size=message.size,
        truncated=truncated or cut,
    )


def inbox_view(
    messages: Iterable[Message], limit: int = MAX_INBOX, *, headers_only: bool = False
) -> list[InboxMessage]:
    """The views of ``messages`` (say, ``lab.outbox``), newest first, at most ``limit``."""
    newest = sorted(messages, key=lambda m: (m.received_at, m.id), reverse=True)[:limit]
    return [message_view(m, headers_only=headers_only) for m in newest]
