"""The lab's inbox as a widget: what the lab's servers received, as Mailpit shows its catch.

The list (newest first) and the message view are drawn by :mod:`smtplab.lab.inbox_page`, the
same HTML as the lab's inbox page: envelope, each hop's ``Received:`` line with its TLS, every
header, the text, an HTML part as escaped source (never rendered) and attachments by name and
size. The widget only picks a message and redraws on Refresh.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from smtplab.lab.inbox import InboxMessage, inbox_view, message_view
from smtplab.lab.inbox_page import list_html, message_html
from smtplab.lab.servers import Message
from smtplab.widgets._render import close_parts

__all__ = ["Inbox", "inbox", "option_label"]


def option_label(m: InboxMessage) -> str:
    """One line for the message picker (plain text: ipywidgets shows options as text)."""
    subject = m.subject or "(no subject)"
    if len(subject) > 60:
        subject = subject[:59] + "…"
    return f"#{m.id} {m.received_at:%H:%M:%S} {m.mail_from or '<>'} → port {m.port}: {subject}"


class Inbox(W.VBox):
    """The widget returned by :func:`inbox`: ``refresh_button``, ``count`` (HTML), ``picker``
    (a Select of the messages, newest first) and ``message_html`` (HTML, the chosen one)."""

    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.views: list[InboxMessage] = []
        self.messages: dict[int, Message] = {}
        self.refresh_button = W.Button(
            description="Refresh", icon="refresh", layout=W.Layout(width="110px")
        )
        self.count = W.HTML()
        self.picker = W.Select(options=[], rows=6, layout=W.Layout(width="100%"))
        self.message_html = W.HTML()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.picker.observe(lambda _c: self.show(self.picker.value), names="value")
        super().__init__(
            [
                W.HBox([self.refresh_button, self.count]),
                self.picker,
                self.message_html,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        """Read the lab's outbox again; keep the chosen message if it is still there."""
        chosen = self.picker.value
        self.messages = {m.id: m for m in self.lab.outbox}
        self.views = inbox_view(self.messages.values(), headers_only=True)
        n = len(self.views)
        self.count.value = (
            f'<span style="color:var(--jp-ui-font-color1, #1a1a1a);line-height:28px">'
            f"{n} message{'s' if n != 1 else ''} received, newest first</span>"
        )
        ids = [m.id for m in self.views]
        self.picker.options = [(option_label(m), m.id) for m in self.views]
        self.picker.value = chosen if chosen in ids else (ids[0] if ids else None)
        self.show(self.picker.value)

    def show(self, message_id: int | None) -> None:
        """Show message ``message_id`` (None: the empty-inbox note)."""
        found = self.messages.get(message_id) if message_id is not None else None
        self.message_html.value = (
            message_html(message_view(found)) if found is not None else list_html([])
        )

    def close(self) -> None:
        close_parts(self)
        super().close()


def inbox(lab: Any) -> Inbox:
    """The lab's inbox: every message its servers received, newest first, one shown in full.

    >>> box = inbox(lab)          # doctest: +SKIP
    >>> box                       # the last line of a cell shows it; Refresh reads new mail
    """
    return Inbox(lab)
