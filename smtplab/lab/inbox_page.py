"""The lab's inbox as HTML, and as a small web page served on loopback (Starlette on uvicorn).

:func:`message_html` and :func:`list_html` draw :class:`~smtplab.lab.inbox.InboxMessage` views;
the page (:class:`InboxServer`, what ``smtplab lab`` serves) and the notebook widget
(:func:`smtplab.widgets.inbox`) both use them. Every piece of a message is escaped; an HTML body
is shown as its source and never rendered; the page also sends a Content-Security-Policy that
allows no script at all, so even a mistake in escaping could run nothing. Colours are
JupyterLab's CSS variables with light fallbacks (and dark ones on a dark system page).
"""

from __future__ import annotations

import html
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from smtplab.lab.inbox import InboxMessage, inbox_view
from smtplab.lab.servers import Message

__all__ = ["InboxServer", "list_html", "make_app", "message_html", "page_html"]

_FG: Final = "var(--jp-ui-font-color1, #1a1a1a)"
_DIM: Final = "var(--jp-ui-font-color2, #555)"
_BG2: Final = "var(--jp-layout-color2, #eeeeee)"
_LINE: Final = "var(--jp-border-color2, #bbbbbb)"
_GOOD: Final = "var(--jp-success-color0, #1b5e20)"
_WARN: Final = "var(--jp-warn-color0, #8a4b00)"
_MONO: Final = "font-family:var(--jp-code-font-family, 'DejaVu Sans Mono', Menlo, monospace)"
_PRE: Final = (
    f"{_MONO};white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0 8px;padding:6px;"
    f"background:{_BG2};color:{_FG};border-radius:3px;max-height:24em;overflow:auto"
)

#: The Content-Security-Policy of the page: no script, no frames, no images from anywhere.
CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _security(m: InboxMessage) -> str:
    tls = (
        f'<span style="color:{_GOOD}">encrypted (TLS)</span>'
        if m.tls
        else f'<span style="color:{_WARN}">not encrypted</span>'
    )
    auth = f"logged in as {_e(m.auth_user)}" if m.auth_user else "not logged in"
    return f"{tls}, {auth}"


def message_html(m: InboxMessage) -> str:
    """One message: envelope, Received lines, headers, text, HTML source and attachments."""
    dt = f'style="font-weight:bold;color:{_DIM};padding-right:12px;vertical-align:top"'
    envelope = "".join(
        f"<tr><td {dt}>{label}</td><td>{value}</td></tr>"
        for label, value in (
            ("MAIL FROM", f"&lt;{_e(m.mail_from)}&gt;"),
            ("RCPT TO", ", ".join(f"&lt;{_e(r)}&gt;" for r in m.rcpt_tos)),
            ("arrived at", f"{_e(m.host)}:{m.port} (answered as {_e(m.server)})"),
            ("security", _security(m)),
            ("received", _e(m.received_at.strftime("%Y-%m-%d %H:%M:%S UTC"))),
            ("size", _size(m.size) + (" (shown in part)" if m.truncated else "")),
        )
    )
    received = "".join(f'<div style="{_PRE}">Received: {_e(r)}</div>' for r in m.received)
    headers = "".join(
        f'<tr><td {dt}>{_e(n)}</td><td style="overflow-wrap:anywhere">{_e(v)}</td></tr>'
        for n, v in m.headers
    )
    parts = [
        f'<div class="smtplab-inbox-message" style="color:{_FG};line-height:1.4">',
        f'<h3 style="margin:4px 0">{_e(m.subject) or "(no subject)"}</h3>',
        f'<table style="border-collapse:collapse">{envelope}</table>',
        '<h4 style="margin:10px 0 2px">Received: each hop, newest first</h4>',
        received or f'<div style="color:{_DIM}">(none)</div>',
        '<details><summary style="font-weight:bold;cursor:pointer">Every header '
        f'({len(m.headers)})</summary><table style="border-collapse:collapse">{headers}'
        "</table></details>",
        '<h4 style="margin:10px 0 2px">Text</h4>',
        f'<pre style="{_PRE}">{_e(m.text)}</pre>'
        if m.text
        else f'<div style="color:{_DIM}">(no text part)</div>',
    ]
    if m.html_source:
        parts += [
            '<h4 style="margin:10px 0 2px">HTML part, as its source (never rendered here)</h4>',
            f'<pre style="{_PRE}">{_e(m.html_source)}</pre>',
        ]
    if m.attachments:
        items = "".join(
            f"<li>{_e(a.name)} ({_e(a.content_type)}, {_size(a.size)})</li>" for a in m.attachments
        )
        parts.append(f'<h4 style="margin:10px 0 2px">Attachments</h4><ul>{items}</ul>')
    parts.append("</div>")
    return "".join(parts)


def list_html(messages: Sequence[InboxMessage], link: Callable[[int], str] | None = None) -> str:
    """A table of messages (give them newest first): time, from, to, subject, port, security.
    ``link(id)`` makes each subject a link to that message's view."""
    if not messages:
        return f'<p style="color:{_DIM}">No mail yet. Send some to the lab: it shows up here.</p>'
    th = f'style="text-align:left;padding:2px 8px;border-bottom:1px solid {_LINE}"'
    td = 'style="padding:2px 8px;vertical-align:top;overflow-wrap:anywhere"'
    rows = []
    for m in messages:
        subject = _e(m.subject) or "(no subject)"
        if link is not None:
            subject = f'<a href="{_e(link(m.id))}">{subject}</a>'
        rows.append(
            f"<tr><td {td}>{m.id}</td><td {td}>{_e(m.received_at.strftime('%H:%M:%S'))}</td>"
            f"<td {td}>{_e(m.mail_from)}</td><td {td}>{_e(', '.join(m.rcpt_tos))}</td>"
            f"<td {td}>{subject}</td><td {td}>{m.port}</td>"
            f"<td {td}>{'TLS' if m.tls else 'plain'}{' · AUTH' if m.auth_user else ''}</td></tr>"
        )
    head = "".join(
        f"<th {th}>{h}</th>" for h in ("#", "time", "from", "to", "subject", "port", "security")
    )
    return (
        f'<table style="border-collapse:collapse;color:{_FG}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


_PAGE_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;margin:16px;background:#fff;color:#1a1a1a}"
    "a{color:#0b57d0}"
    "@media (prefers-color-scheme: dark){body{background:#111;color:#eee}a{color:#8ab4f8}"
    ":root{--jp-ui-font-color1:#eee;--jp-ui-font-color2:#bbb;--jp-layout-color2:#222;"
    "--jp-border-color2:#555;--jp-success-color0:#81c784;--jp-warn-color0:#ffb74d}}"
)


def page_html(title: str, body: str) -> str:
    """A whole page around ``body`` (``title`` is escaped)."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_PAGE_STYLE}</style></head><body>{body}</body></html>"
    )


def make_app(messages: Callable[[], Iterable[Message]]) -> Any:
    """The Starlette app: ``/`` lists the messages newest first, ``/message/{id}`` shows one."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}

    async def index(request: Request) -> HTMLResponse:
        views = inbox_view(messages(), headers_only=True)
        body = (
            "<h1>The lab's inbox</h1>"
            f"<p>{len(views)} message{'s' if len(views) != 1 else ''} received, newest first "
            "(reload the page for new ones).</p>" + list_html(views, link=lambda i: f"/message/{i}")
        )
        return HTMLResponse(page_html("smtplab lab inbox", body), headers=headers)

    async def one(request: Request) -> HTMLResponse:
        wanted = request.path_params["id"]
        found = [m for m in messages() if m.id == wanted]
        if not found:
            body = f'<p>No message {int(wanted)} in the inbox.</p><p><a href="/">All mail</a></p>'
            return HTMLResponse(page_html("not found", body), status_code=404, headers=headers)
        view = inbox_view(found)[0]
        body = f'<p><a href="/">← all mail</a></p>{message_html(view)}'
        return HTMLResponse(page_html(f"message {view.id}", body), headers=headers)

    return Starlette(
        routes=[Route("/", index), Route("/message/{id:int}", one)],
    )


class InboxServer:
    """The inbox page on a loopback ``host``:``port`` (0: any free port), on a thread.

    ``messages`` is called for each request (say, ``lambda: lab.outbox``). Only loopback: the
    page shows what learners sent, so it is never offered to the network."""

    def __init__(
        self,
        messages: Callable[[], Iterable[Message]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the inbox page serves loopback only, not {host}")
        from smtplab.webserver import WebServer

        self._web = WebServer(
            make_app(messages), host=host, port=port, name="smtplab-lab-inbox",
            limit_concurrency=50, backlog=64,
        )  # fmt: skip
        self.address: tuple[str, int] = self._web.address

    @property
    def url(self) -> str:
        return f"{self._web.url}/"

    def start(self) -> InboxServer:
        self._web.start()
        return self

    def stop(self) -> None:
        self._web.stop()

    def __enter__(self) -> InboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
