"""``explain()``: an SMTP reply, as pasted from a mail program, a plug-in's log or a bounce, in
plain words: what the code means (RFC 5321, RFC 3463), what the provider says (the knowledge base),
whose side the problem is on, and what to do, each with its source.

Pure: no sockets, no files but the knowledge base. It accepts the reply as people find it::

    535 5.7.139 Authentication unsuccessful, basic authentication is disabled.
    534-5.7.9 Application-specific password required. Learn more at
    534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor ...
    smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted. ...')
    Error: Invalid login: 535-5.7.8 Username and Password not accepted.
    host mx.example.org[192.0.2.1] said: 550 5.1.1 <bob@example.org>: Recipient address rejected

Hostile input is data: control characters are shown escaped, more than :data:`MAX_INPUT`
characters is refused with one line (:class:`ExplainError`), and nothing is ever executed.
:func:`explain_transcript` explains the refusals in a probe's transcript with the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from smtplab.advice import codes
from smtplab.advice.diagnoses import RULES, Parsed
from smtplab.errors import SmtplabError
from smtplab.knowledge import Fact, Provider, knowledge

__all__ = [
    "MAX_INPUT",
    "SIDES",
    "ExplainError",
    "Explanation",
    "explain",
    "explain_transcript",
]

#: One SMTP reply line is at most 512 octets (RFC 5321 §4.5.3.1.5); a long multi-line reply, a
#: bounce's diagnostic block or a plug-in's log entry around it fits in a few KB. 64 KiB is far
#: beyond any of them and small enough to scan instantly; more is not one reply.
MAX_INPUT: Final = 64 * 1024

#: Whose side the problem is on, in the words the explanation uses.
SIDES: Final = (
    "your login",
    "your client's settings",
    "the network",
    "the server",
    "the recipient",
    "your message",
    "nobody: it worked",
)

_CODE_LINE: Final = re.compile(r"(?<![\w.])([2-5][0-9][0-9])(?:[ -]|$)")
_TUPLE: Final = re.compile(r"\(\s*([2-5][0-9][0-9])\s*,\s*b?['\"]")
_ENHANCED: Final = re.compile(r"(?<![\w.])([245])\.([0-9]{1,3})\.([0-9]{1,3})(?![\w.])")
#: C0/C1 controls, DEL, bidirectional and invisible format characters (as smtplab.cli.text).
_UNSAFE: Final = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb\ud800-\udfff]"
)


class ExplainError(SmtplabError, ValueError):
    """The text holds no SMTP reply, or is far too long to be one: one line says which."""


@dataclass(frozen=True)
class Explanation:
    """What one SMTP reply means and what to do about it."""

    #: The reply as read (control characters escaped, one line per reply line).
    reply: str
    code: int | None
    #: ``"5.7.8"`` or None.
    enhanced: str | None
    #: RFC 5321: the code's meaning, its class and where that is written.
    basic: str
    basic_source: str
    #: RFC 3463: class, subject and detail of the enhanced code (None without one).
    enhanced_meaning: str | None
    enhanced_source: str | None
    #: The provider whose documented refusal this is (or who was named), and what it says.
    provider: str | None
    provider_text: str | None
    provider_source: str | None
    #: Whose side the problem is on (one of :data:`SIDES`) and what it means, in plain words.
    side: str
    meaning: str
    todo: tuple[str, ...]
    #: Every source used above, the rule's first.
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The explanation for people, a few short paragraphs."""
        out = [f"Reply: {self.reply}"]
        if self.code is not None:
            out.append(f"  {self.code}: {self.basic} ({self.basic_source})")
        if self.enhanced:
            out.append(f"  {self.enhanced}: {self.enhanced_meaning} ({self.enhanced_source})")
        if self.provider_text:
            out.append(f"  {self.provider}: {self.provider_text}")
        out.append(f"Whose side: {self.side}. {self.meaning}")
        out.append("What to do:")
        out += [f"  - {step}" for step in self.todo]
        out.append("Sources: " + "; ".join(self.sources))
        return out


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _clean(text: str) -> str:
    """Escaped for display: controls visible as ``\\x1b``, lines kept."""
    return _UNSAFE.sub(_escape, text)


# --------------------------------------------------------------------------- reading the reply


def _parse(text: str) -> Parsed:
    if not isinstance(text, str):
        raise ExplainError("the reply must be text")
    if len(text) > MAX_INPUT:
        raise ExplainError(
            f"that is {len(text):,} characters; one SMTP reply is at most a few thousand "
            f"(paste at most {MAX_INPUT:,})"
        )
    # Python's repr of bytes ("b'...\\n5.7.8 ...'") and logs with literal \n become real lines.
    unescaped = text.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\r\n", "\n")
    lines = [ln.strip() for ln in unescaped.replace("\r", "\n").split("\n") if ln.strip()]
    code: int | None = None
    start = 0
    for i, line in enumerate(lines):
        m = _TUPLE.search(line) or _CODE_LINE.search(line)
        if m:
            code, start = int(m.group(1)), i
            break
    enhanced = None
    for line in lines[start:] or lines:
        e = _ENHANCED.search(line)
        if e:
            enhanced = (int(e.group(1)), int(e.group(2)), int(e.group(3)))
            break
    if code is None and enhanced is None:
        raise ExplainError(
            "no SMTP reply found: paste the line with the 3-digit code (such as 535) or the "
            "enhanced code (such as 5.7.8)"
        )
    if code is not None and enhanced is not None and enhanced[0] != code // 100:
        enhanced = None  # a 5.x.x next to a 4xx belongs to something else
    reply_lines = lines[start:] if code is not None else lines
    words = " ".join(
        _ENHANCED.sub(" ", re.sub(r"^[^0-9]*?[2-5][0-9][0-9][ -]", " ", ln)) for ln in reply_lines
    )
    return Parsed(code, enhanced, " ".join(words.lower().split()), _clean(" | ".join(reply_lines)))


# --------------------------------------------------------------------------- the rules


# --------------------------------------------------------------------------- providers


def _norm(text: str) -> str:
    text = _ENHANCED.sub(" ", re.sub(r"^\s*[2-5][0-9][0-9][ -]", " ", text))
    return " ".join(text.lower().split()).strip(" .")


def _provider_refusal(p: Parsed, named: Provider | None) -> tuple[Provider, Fact] | None:
    """The knowledge base's refusal this reply is (the named provider's first)."""
    kb = knowledge()
    providers = list(kb.providers.values())
    if named is not None:
        providers.remove(named)
        providers.insert(0, named)
    for provider in providers:
        for fact in provider.of("refusal"):
            words = _norm(fact.value.split(" Learn more")[0])
            if words and words in p.words:
                return provider, fact
    return None


def _login_steps(provider: Provider) -> list[str]:
    from smtplab.advice.facts import provider_facts

    facts = provider_facts(provider.name)
    steps = [f"{provider.name}: user name {facts.user_name}; log in with {facts.login}."]
    if facts.credential:
        steps.append(f"{provider.name}, where the credential comes from: {facts.credential}.")
    steps += [f"{provider.name}: {change}" for change in facts.changes]
    return steps


def explain(text: str, *, provider: str | None = None) -> Explanation:
    """What the SMTP reply in ``text`` means, whose side the problem is on and what to do.

    ``text``: one reply, or a log line or bounce around it (see the module docstring).
    ``provider``: the provider you send through (a name or alias such as ``gmail`` or
    ``office365``), to tailor the login advice; otherwise it is recognised from the reply where
    the knowledge base knows the reply. Raises :class:`ExplainError` (one line) when ``text``
    holds no reply or is longer than :data:`MAX_INPUT`, ``ValueError`` for an unknown provider.
    """
    parsed = _parse(text)
    named = None
    if provider:
        named = knowledge().resolve(provider)
        if named is None:
            from smtplab.advice.facts import provider_facts

            provider_facts(provider)  # raises ValueError naming the known providers
    rule = next(r for r in RULES if r.test(parsed))
    match = _provider_refusal(parsed, named)
    who = match[0] if match else named
    todo = list(rule.todo)
    if who is not None and rule.side == "your login":
        todo += _login_steps(who)
    basic, basic_source = _basic(parsed.code, parsed.enhanced)
    enhanced_meaning, enhanced_source = _enhanced(parsed.enhanced)
    sources: list[str] = []
    for text_ in (rule.source, basic_source, enhanced_source):
        for part in (text_ or "").split("; "):
            if part and part not in sources:
                sources.append(part)
    if match and match[1].source not in sources:
        sources.append(match[1].source)
    return Explanation(
        reply=parsed.shown,
        code=parsed.code,
        enhanced=".".join(map(str, parsed.enhanced)) if parsed.enhanced else None,
        basic=basic,
        basic_source=basic_source,
        enhanced_meaning=enhanced_meaning,
        enhanced_source=enhanced_source,
        provider=who.name if who else None,
        provider_text=(
            f"its documented refusal {match[1].value!r} ({match[1].evidence}, checked "
            f"{match[1].checked.isoformat()})"
            if match
            else None
        ),
        provider_source=match[1].source if match else None,
        side=rule.side,
        meaning=rule.meaning,
        todo=tuple(todo),
        sources=tuple(sources),
    )


def _basic(code: int | None, enhanced: tuple[int, int, int] | None) -> tuple[str, str]:
    if code is None:
        first = enhanced[0] if enhanced else 5
        return (
            f"no 3-digit code given; the enhanced code's class {first} is "
            + codes.BASIC_CLASS.get(first, "unknown"),
            "RFC 5321 §4.2.1",
        )
    klass = codes.BASIC_CLASS[code // 100]
    subject = codes.BASIC_SUBJECT.get(code // 10 % 10, "Unspecified")
    if code in codes.BASIC:
        text, source = codes.BASIC[code]
        return f"{text}. Class: {klass} (second digit: {subject})", f"{source}; RFC 5321 §4.2.1"
    return f"{klass} (second digit: {subject})", "RFC 5321 §4.2.1"


def _enhanced(enhanced: tuple[int, int, int] | None) -> tuple[str | None, str | None]:
    if enhanced is None:
        return None, None
    klass, subject, detail = enhanced
    parts = [
        f"class {klass}: {codes.ENHANCED_CLASS.get(klass, 'unknown')}",
        f"subject {subject}: {codes.ENHANCED_SUBJECT.get(subject, 'not defined by RFC 3463')}",
    ]
    known = codes.ENHANCED_DETAIL.get((subject, detail))
    if known:
        parts.append(f"detail {detail}: {known[0]}")
        return "; ".join(parts), f"RFC 3463 §2; {known[1]}"
    parts.append(
        f"detail {detail}: not in the IANA registry of enhanced status codes (a server's own "
        "code; its text says what it means)"
    )
    return "; ".join(parts), "RFC 3463 §2"


def explain_transcript(lines: Iterable[Any]) -> list[Explanation]:
    """The refusals (4xx and 5xx replies) of a probe's transcript, explained.

    ``lines``: TranscriptLines or their dicts (``dir``, ``text``). A multi-line reply is read as
    one. Used by the doctor and the probe's findings so that a reply reads the same everywhere.
    """
    out: list[Explanation] = []
    pending: list[str] = []
    for line in lines:
        d = line if isinstance(line, Mapping) else getattr(line, "to_dict", lambda: {})()
        if d.get("dir") != "server":
            continue
        text = str(d.get("text", ""))
        m = re.match(r"^([2-5][0-9][0-9])([ -]|$)", text)
        if not m:
            continue
        pending.append(text)
        if m.group(2) == "-":
            continue
        if pending and pending[0][0] in "45":
            try:
                out.append(explain("\n".join(pending)))
            except ExplainError:  # pragma: no cover - a 4xx/5xx line always parses
                pass
        pending = []
    return out
