"""How ``smtplab doctor`` looks: the same console, width, wrapping and colours as ``probe``.

The report is a list of parts, printed in this order, each as soon as it is known (see
:mod:`smtplab.cli.doctor_cmd`): the header, the settings to type (once the evidence decides
them), the ports one line each, then what to try if that fails, comparisons and next steps.

Every text from outside (host, labels, banners, certificate errors, file names) goes through
:func:`~smtplab.safe_text.safe_text` into a ``rich`` :class:`~rich.text.Text`, never markup.
Colours say the same as the words beside them: a verdict is always written out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from smtplab.advice import Advice, PortVerdict, Setting
from smtplab.advice.facts import STANDARDS, ProviderFacts
from smtplab.cli.render import make_console
from smtplab.safe_text import safe_text

__all__ = [
    "VERDICT_STYLE",
    "Compared",
    "compared_parts",
    "header_parts",
    "port_part",
    "render_text",
    "report_text",
    "settings_parts",
    "tail_parts",
    "unresolved_line",
]

#: Verdict -> colour: green works; yellow the network in the way; red never send a password.
VERDICT_STYLE: dict[str, str] = {
    "works": "bold green",
    "blocked here": "yellow",
    "nothing listens": "blue",
    "not offered": "dim",
    "intercepted": "bold red",
    "unsafe": "bold red",
    "relay only": "cyan",
    "undocumented": "yellow",
}

_TITLES = {
    "mail-client": "Type this into your mail program:",
    "website-plugin": "Type this into the plugin's SMTP settings:",
    "mail-server": "Configure your mail server to send this way:",
}

PORT_WIDTH = 5
VERDICT_WIDTH = max(len(v) for v in VERDICT_STYLE)
LABEL_WIDTH = len("Server (outgoing, SMTP)")


@dataclass(frozen=True)
class Compared:
    """One ``--compare`` file: its name, and how many records of the host it held from which
    vantages (labels that file gave itself: evidence from elsewhere, not measured here)."""

    path: str
    records: int
    vantages: tuple[str, ...]


def _t(value: object, style: str = "") -> Text:
    return Text(safe_text(value), style=style)


class Hanging:
    """``head`` then ``body`` wrapped between words to the console's width, each further line
    indented under the body's start (a word longer than a line is folded, never lost), with no
    trailing spaces, so a pipe gets the same lines as the terminal."""

    def __init__(self, head: Text, body: Text) -> None:
        self.head = head
        self.body = body

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        indent = self.head.cell_len
        width = max(12, options.max_width - indent)
        for n, line in enumerate(self.body.wrap(console, width, overflow="fold")):
            out = self.head.copy() if n == 0 else Text(" " * indent)
            line.rstrip()
            out.append_text(line)
            yield out


def _para(text: str, indent: int = 2, style: str = "") -> RenderableType:
    """A paragraph wrapped between words to the console's width, indented."""
    return Hanging(Text(" " * indent), _t(text, style))


def unresolved_line(host: str) -> Text:
    """The one line for a name that does not resolve: no per-port verdicts follow."""
    return _t(f"{host} does not resolve: check the spelling.", "bold yellow")


def header_parts(
    host: str, purpose: str, vantage: str, facts: ProviderFacts | None, guessed: bool
) -> list[RenderableType]:
    head = Text()
    head.append("smtplab doctor: ", style="bold")
    head.append(safe_text(host), style="bold")
    head.append(f" ({safe_text(purpose)}), probed from {safe_text(vantage)}")
    if facts is None or facts is STANDARDS:
        said = "Provider: unknown; advising from the standards (RFC 8314, RFC 6409)."
    else:
        how = " (guessed from the host name)" if guessed else ""
        said = f"Provider: {facts.name}{how}."
    return [head, _t(said)]


def _setting_rows(rec: Setting) -> list[RenderableType]:
    rows = [
        ("Server (outgoing, SMTP)", _t(rec.host, "bold")),
        ("Port", _t(rec.port, "bold")),
        ("Security", _t(rec.security_words, "bold")),
    ]
    if rec.auth != "none":
        rows += [("User name", _t(rec.user_name)), ("Log in with", _t(rec.auth))]
    else:
        rows.append(("Log in with", _t("no login (relay between servers)")))
    return [Hanging(Text(f"  {label:<{LABEL_WIDTH}}  "), value) for label, value in rows]


def _login_notes(auth: str, facts: ProviderFacts | None) -> list[RenderableType]:
    """Where the credential is made and the dated changes, from the provider knowledge base."""
    if auth == "none" or facts is None or facts is STANDARDS:
        return []
    parts = [_para(f"Credential: {facts.credential}.")] if facts.credential else []
    return parts + [_para(f"Changed: {change}.") for change in facts.changes]


def first_choice(advice: Advice) -> tuple[Setting | None, bool]:
    """The setting shown first and whether it is only a last resort (then no sentence may say
    that no port is safe: the last resort is safe, only not the first choice)."""
    if advice.recommended is not None:
        return advice.recommended, False
    if advice.fallbacks:
        return advice.fallbacks[0], True
    return None, False


def settings_parts(advice: Advice, facts: ProviderFacts | None) -> list[RenderableType]:
    """The settings to type, why, and how sure; or that no port is safe from here."""
    rec, last_resort = first_choice(advice)
    if rec is None:
        return [_t("No port is safe to use from here.", "bold red"), *_how_sure(advice)]
    title = _TITLES[advice.purpose]
    parts: list[RenderableType] = []
    if last_resort:
        parts.append(_t("Only a last resort gets through from here.", "bold yellow"))
    parts += [_t(title, "bold green" if not last_resort else "bold"), *_setting_rows(rec)]
    parts.append(_para(f"Why: {rec.reason}."))
    parts += _login_notes(rec.auth, facts)
    return parts + _how_sure(advice)


def _how_sure(advice: Advice) -> list[RenderableType]:
    style = {"high": "green", "medium": "yellow", "low": "red"}.get(advice.confidence, "")
    line = Text("How sure: ")
    line.append(safe_text(advice.confidence), style=style)
    line.append(f". {safe_text(advice.confidence_reason)}")
    return [Hanging(Text("  "), line)]


def port_part(v: PortVerdict) -> RenderableType:
    """One port's line: number, verdict word (coloured), the evidence wrapped under itself."""
    head = Text(f"  {safe_text(v.port):<{PORT_WIDTH}} ")
    head.append(safe_text(v.verdict), style=VERDICT_STYLE.get(v.verdict, ""))
    head.append(" " * (VERDICT_WIDTH - len(v.verdict) + 1))
    evidence = _t(v.evidence)
    if not v.elsewhere:
        return Hanging(head, evidence)
    return Group(Hanging(head, evidence), Hanging(Text(" " * head.cell_len), _t(v.elsewhere)))


def compared_parts(compared: Sequence[Compared], vantage: str) -> list[RenderableType]:
    if not compared:
        return []
    parts: list[RenderableType] = [
        Text(""),
        _t("Compared with records from elsewhere (not measured here):", "bold"),
    ]
    for c in compared:
        seen = f"vantage {', '.join(c.vantages)}" if c.vantages else "none of this host"
        if vantage in c.vantages:
            seen += f" (a file can copy the label {vantage}: only this run measures here)"
        parts.append(_para(f"- {c.path}: {c.records} record(s), {seen}"))
    return parts


def tail_parts(
    advice: Advice, compared: Sequence[Compared] = (), vantage: str = ""
) -> list[RenderableType]:
    """After the ports: the other settings to try, the comparisons, what to try now."""
    parts: list[RenderableType] = []
    shown, _ = first_choice(advice)
    others = [f for f in advice.fallbacks if f is not shown]
    if others:
        parts += [Text(""), _t("If that fails, try:", "bold")]
        for f in others:
            flag = " (last resort)" if f.last_resort else ""
            parts.append(_para(f"{f.port} with {f.security_words}{flag}: {f.reason}."))
    parts += compared_parts(compared, vantage)
    if advice.next_steps:
        title = "What to try now:" if shown is None else "To be surer:"
        parts += [Text(""), _t(title, "bold")]
        parts += [_para(f"- {step}") for step in advice.next_steps]
    return parts


def report_parts(
    advice: Advice,
    vantage: str,
    facts: ProviderFacts | None,
    *,
    guessed: bool = False,
    compared: Sequence[Compared] = (),
) -> list[RenderableType]:
    """The whole report, in the order it streams."""
    parts = header_parts(advice.host, advice.purpose, vantage, facts, guessed)
    if advice.ports and {v.outcome for v in advice.ports} == {"dns_failed"}:
        return [unresolved_line(advice.host)]
    parts += [Text(""), *settings_parts(advice, facts), Text(""), _t("Port by port:", "bold")]
    parts += [port_part(v) for v in advice.ports]
    return parts + tail_parts(advice, compared, vantage)


def render_text(parts: Sequence[RenderableType], width: int = 100) -> str:
    """``parts`` as plain text ``width`` columns wide (trailing spaces dropped)."""
    buffer = io.StringIO()
    console = make_console(buffer, plain=True, force_terminal=False, width=width)
    for part in parts:
        console.print(part)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def report_text(
    advice: Advice,
    vantage: str,
    facts: ProviderFacts | None,
    *,
    guessed: bool = False,
    compared: Sequence[Compared] = (),
    width: int = 100,
) -> str:
    """The advice for people as plain text (what the command prints, without colour)."""
    parts = report_parts(advice, vantage, facts, guessed=guessed, compared=compared)
    return render_text(parts, width)


def print_parts(console: Console | Any, parts: Sequence[RenderableType]) -> None:
    for part in parts:
        console.print(part)
