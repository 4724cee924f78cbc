"""The port chooser: "which port should I use?", answered with reasons.

:func:`choose_port` is the pure part: a learner's situation (what sends the mail, what the
network blocks, the provider, optional probe results) in, a :class:`Recommendation` out, with
every step of the reasoning written down. The widget only collects the inputs and draws it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import ipywidgets as W

from smtplab.rules import PORTS
from smtplab.widgets._html import BAD, FG, GOOD, ReopenNote, block_layout, theme_part
from smtplab.widgets._render import close_parts, esc, outcome_badge

__all__ = [
    "CONTRAST",
    "SENDERS",
    "PortChooser",
    "Recommendation",
    "choose_port",
    "port_chooser",
    "recommendation_html",
]

#: What can be sending the mail: key → label.
SENDERS: Final = {
    "client": "a mail client (Apple Mail, Outlook, Thunderbird)",
    "plugin": "a website plugin (WordPress WP Mail SMTP, a contact form)",
    "relay": "a mail server (relay / MTA such as Postfix)",
}

#: The two pieces of advice the chooser puts side by side.
CONTRAST: Final = {
    "common advice": (
        "Most how-to pages say: use 587 with STARTTLS; if 587 is blocked, try 2525; use 465 "
        "only as a last resort, since it is 'deprecated'. Never use 25 to submit mail."
    ),
    "RFC 8314 (2018)": (
        "The standard registered 465 as 'submissions' and recommends implicit TLS for "
        "submission: TLS from the first byte, so no one on the path can strip STARTTLS away. "
        "587 with STARTTLS is still fine. The 'deprecated' label is out of date: it dates from "
        "the years when 465's first SMTP-over-SSL registration had been withdrawn (by 2017 "
        "IANA listed 465 as 'urd'), before RFC 8314 registered it again. Port 25 is for relay "
        "between servers, not for submission."
    ),
}

_SECURITY_WORDS: Final = {
    "implicit": "implicit TLS (called SSL/TLS in mail programs)",
    "starttls": "STARTTLS",
    "none": "no TLS (relay between servers: no password is sent)",
}
_DOC_SECURITY: Final = {"implicit_tls": "implicit"}
_PURPOSE: Final = {"client": "mail-client", "plugin": "website-plugin", "relay": "mail-server"}


@dataclass(frozen=True)
class Recommendation:
    """What :func:`choose_port` answers.

    ``port`` (None when nothing is left to recommend), ``security`` (how to connect, in words),
    ``steps`` (the reasoning, in order), ``contrast`` (the common advice vs RFC 8314),
    ``alternatives`` (other ports that would work, best first), ``host`` (the provider's
    server name, when known), ``proven`` (True when a probe from here showed the port works;
    False when it is only the port to try first) and ``advice`` (the
    :class:`smtplab.advice.Advice` it comes from).
    """

    port: int | None
    security: str
    steps: tuple[str, ...]
    contrast: Mapping[str, str] = field(default_factory=lambda: dict(CONTRAST))
    alternatives: tuple[int, ...] = ()
    host: str | None = None
    proven: bool = False
    advice: Any = None


def _evidence(results: Any) -> dict[int, dict[str, Any]]:
    """The best probe result per port (``open`` beats everything else, and an intercepted or
    stripped answer beats only what never got a greeting)."""
    from smtplab.advice import as_records
    from smtplab.outcome_words import shown_outcome, word_rank

    best: dict[int, dict[str, Any]] = {}
    for rec in as_records(results):
        port = int(rec["port"])
        old = best.get(port)
        if old is None or word_rank(shown_outcome(rec)) < word_rank(shown_outcome(old)):
            best[port] = rec
    return best


def _first_step(sender: str, provider: str | None) -> str:
    if sender == "client":
        return (
            "A mail client hands your mail to your provider's server with your password: that "
            "is message submission (RFC 6409), done on 465 or 587. Port 25 is for servers "
            "relaying to servers."
        )
    if sender == "plugin":
        return (
            "A website plugin is a mail client that lives on a web server: it logs in to a "
            "mail provider and submits the mail, so it uses a submission port (465 or 587) too. "
            "Web hosts often block port 25 outright."
        )
    if provider:
        return (
            f"Your server hands its mail to {provider} to deliver (a 'smarthost'): it logs in "
            "and submits, so it uses the provider's submission ports."
        )
    return (
        "A mail server that delivers straight to other domains' mail servers (their MX) "
        "must use port 25: it is the only port MX servers listen on (RFC 5321). If 25 is "
        "closed to it, it can relay through a smarthost on a submission port instead."
    )


def _doc_words(security: str, port: int = 0) -> str:
    if port == 465:  # RFC 8314: 465 is implicit TLS, never STARTTLS, whatever a page's wording
        return "implicit TLS"
    return {"implicit_tls": "implicit TLS", "none": "no TLS documented"}.get(security, "STARTTLS")


def _documented_step(facts: Any, provider: str | None) -> str:
    if provider:
        words = ", ".join(
            f"{d.port} ({_doc_words(d.security, d.port)})"
            for d in sorted(facts.ports, key=lambda d: d.port)
        )
        return f"{provider} documents these ports: {words}."
    return (
        "Without a provider chosen, the candidates are the standard ports: 465 (implicit TLS, "
        "RFC 8314) and 587 (STARTTLS, RFC 6409) for submission, 25 for relay (RFC 5321). "
        "2525 is in no standard: use it only where your provider documents it."
    )


def choose_port(
    sender: str = "client",
    blocked: Iterable[int] = (),
    provider: str | None = None,
    results: Any = None,
) -> Recommendation:
    """Recommend a port for ``sender`` (``"client"``, ``"plugin"`` or ``"relay"``).

    ``blocked``: ports the learner's network blocks. ``provider``: a provider name from
    :func:`smtplab.reference.providers` (None: not sure, or your own server). ``results``: probe
    results (ProbeResults, records or a DataFrame) as evidence. The answer comes from
    :func:`smtplab.advise`: a port is recommended only when a probe showed it open with verified
    TLS and nothing intercepting it; without probes, the chooser names the port to try first.
    """
    from smtplab.advice import advise, provider_facts
    from smtplab.advice.facts import STANDARDS

    if sender not in SENDERS:
        raise ValueError(f"sender must be one of {', '.join(SENDERS)}, not {sender!r}")
    facts = provider_facts(provider) if provider else STANDARDS
    blocked_list = sorted({int(p) for p in blocked})
    advice = advise(results, provider=facts, purpose=_PURPOSE[sender], blocked=blocked_list)
    steps = [_first_step(sender, provider), _documented_step(facts, provider)]
    for p in blocked_list:
        steps.append(f"Your network blocks port {p}, so {p} is out.")
    for v in advice.ports:
        if v.outcome is None:
            continue
        if v.verdict == "works":
            steps.append(f"Your probe reached port {v.port}: {v.evidence}")
        else:
            steps.append(f"{v.sentence} {v.evidence}")  # not "is blocked here from here"
    host = facts.host
    rec = advice.recommended
    if rec is not None:
        port, security, proven = rec.port, rec.security, True
        alternatives = tuple(f.port for f in advice.fallbacks if not f.last_resort)
        steps.append(f"So: port {port}, because {rec.reason}, and your probe showed it answers.")
    elif advice.to_try:
        port, proven = advice.to_try[0], False
        doc = facts.port(port)
        security = _DOC_SECURITY.get(doc.security, "starttls") if doc else "starttls"
        if port == 465:  # implicit TLS by RFC 8314, never STARTTLS
            security = "implicit"
        if port == 25 and sender == "relay" and not getattr(facts, "smarthost", False):
            security = "none"  # direct delivery to an MX; a smarthost's 25 keeps its TLS
        alternatives = advice.to_try[1:]
        from smtplab.advice.rules import port_kind, rule_for

        reason = rule_for(_PURPOSE[sender], port_kind(port, facts, _PURPOSE[sender])).reason
        steps.append(f"So: port {port}, because {reason}. Probe it to be sure it gets out.")
    else:
        port, security, proven, alternatives = None, "", False, ()
        steps.append(
            "Every candidate port is blocked here, or unsafe. "
            + " ".join(advice.next_steps[-2:] if advice.next_steps else ())
        )
    if port is not None and provider:
        doc = facts.port(port)
        if doc and doc.source:
            steps.append(f"Source for {provider}'s port {port}: {doc.source}")
    return Recommendation(
        port=port,
        security=_SECURITY_WORDS.get(security, security),
        steps=tuple(steps),
        contrast=dict(CONTRAST),
        alternatives=alternatives,
        host=host,
        proven=proven,
        advice=advice,
    )


def recommendation_html(rec: Recommendation) -> str:
    """The recommendation as HTML: the answer, the numbered steps and the contrast box."""
    if rec.port is None:
        head = (
            f'<div style="font-size:22px;font-weight:bold;color:{BAD}">'
            "✖ No port to recommend from here</div>"
        )
    else:
        where = f" on {esc(rec.host)}" if rec.host else ""
        head = (
            f'<div style="font-size:22px;font-weight:bold">➜ Use port '
            f'<span style="font-size:28px;color:{GOOD}">{rec.port}</span>{where}, '
            f"with {esc(rec.security)}</div>"
        )
        if rec.alternatives:
            head += (
                f'<div style="font-size:15px">If it fails: '
                f"{esc(', '.join(map(str, rec.alternatives)))}</div>"
            )
    steps = "".join(f"<li>{esc(s)}</li>" for s in rec.steps)
    agree = ""
    if rec.port == 465:
        agree = (
            "Here they differ: the common advice would try 587 first; the standard "
            "prefers 465. Both work where they are not blocked."
        )
    elif rec.port == 587:
        agree = "Here they agree: 587 with STARTTLS is fine by both."
    elif rec.port == 2525:
        agree = (
            "2525 is in neither standard: it is the sending services' detour around blocked ports."
        )
    contrast = "".join(
        f'<div style="flex:1;min-width:260px;padding:8px;border:2px solid '
        f'{"#999" if k == "common advice" else "#0072B2"};border-radius:6px;margin:4px">'
        f"<b>{esc(k)}</b><br>{esc(v)}</div>"
        for k, v in rec.contrast.items()
    )
    return (
        f'<div class="smtplab-recommendation" style="font-size:15px;line-height:1.45;'
        f'color:{FG}">{head}<ol>{steps}</ol>'
        f'<div style="font-weight:bold;margin-top:6px">Two kinds of advice</div>'
        f'<div style="display:flex;flex-wrap:wrap">{contrast}</div>'
        + (f"<div><i>{esc(agree)}</i></div>" if agree else "")
        + "</div>"
    )


def _evidence_html(results: Any) -> str:
    from smtplab.advice import advise
    from smtplab.advice.facts import STANDARDS
    from smtplab.outcome_words import shown_outcome

    ev = _evidence(results)
    if not ev:
        return ""
    # the word shown (an intercepted 25 is never "open"), and the advice's verdict where it
    # says more than the word
    verdicts = {v.port: v.verdict for v in advise(results, provider=STANDARDS).ports}
    items = []
    for p, r in sorted(ev.items()):
        word = shown_outcome(r)
        verdict = verdicts.get(p)
        note = f" <i>({esc(verdict)})</i>" if verdict == "intercepted" != word else ""
        items.append(f"<b>{p}</b> {outcome_badge(word)}{note}")
    return f'<div style="font-size:15px;margin:4px 0">Your probe results: {" ".join(items)}</div>'


class PortChooser(ReopenNote, W.VBox):
    """The widget returned by :func:`port_chooser`; its parts are attributes.

    Inputs: ``sender`` (ToggleButtons: ``"client"``, ``"plugin"``, ``"relay"``), ``blocked``
    (dict port → Checkbox), ``provider`` (Dropdown; value ``""`` = not sure / own server).
    Outputs: ``result_html`` (HTML: the recommendation, its steps and the contrast box) and
    ``recommendation`` (the latest :class:`Recommendation`). ``results`` holds the probe
    results given as evidence.
    """

    def __init__(
        self,
        results: Any = None,
        *,
        sender: str = "client",
        provider: str | None = None,
        blocked: Sequence[int] = (),
    ) -> None:
        from smtplab.advice.facts import provider_facts, provider_names

        self.results = results
        self.sender = W.ToggleButtons(
            options=[(label.split(" (")[0], key) for key, label in SENDERS.items()],
            tooltips=[label for label in SENDERS.values()],
            value=sender,
            description="Sending:",
            style={"button_width": "170px"},
        )
        # every provider of the knowledge base (Yahoo, iCloud, Google Workspace...) and the rest
        # of the port table; an alias given ("office365") selects the provider it names
        names = sorted(provider_names(), key=str.lower)
        if provider and provider not in names:
            provider = provider_facts(provider).name
        self.provider = W.Dropdown(
            options=[("not sure / my own server", ""), *[(n, n) for n in names]],
            value=provider or "",
            description="Provider",
            layout=W.Layout(width="460px"),
        )
        self.blocked: dict[int, W.Checkbox] = {
            p: W.Checkbox(
                value=p in blocked, description=str(p), indent=False, layout=W.Layout(width="80px")
            )
            for p in PORTS
        }
        self.result_html = W.HTML(layout=block_layout())
        self.recommendation: Recommendation | None = None
        for w in (self.sender, self.provider, *self.blocked.values()):
            w.observe(lambda _c: self.update(), names="value")
        super().__init__(
            [
                W.HTML(
                    '<div style="font-size:20px;font-weight:bold">Which port should I use?</div>'
                ),
                self.sender,
                W.HBox(
                    [
                        W.Label("My network blocks:", layout=W.Layout(width="150px")),
                        *self.blocked.values(),
                    ],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                self.provider,
                W.HTML(_evidence_html(results)),
                self.result_html,
                theme_part(),
            ]
        )
        self.add_class("smtplab-port-chooser")
        self.add_class("smtplab-widget")
        self.update()

    def update(self) -> None:
        """Recompute the recommendation from the inputs and show it."""
        try:
            self.recommendation = choose_port(
                self.sender.value,
                [p for p, b in self.blocked.items() if b.value],
                self.provider.value or None,
                self.results,
            )
            self.result_html.value = recommendation_html(self.recommendation)
        except Exception as exc:
            self.result_html.value = f"<b>The chooser could not decide:</b> {esc(exc)}"

    def close(self) -> None:
        close_parts(self)
        super().close()


def port_chooser(
    results: Any = None,
    *,
    sender: str = "client",
    provider: str | None = None,
    blocked: Sequence[int] = (),
) -> PortChooser:
    """A widget answering "which port should I use?" with its reasoning.

    ``results``: optional probe results (ProbeResults, records or a DataFrame) used as evidence.
    ``sender``, ``provider``, ``blocked``: starting values of the inputs.
    Returned, not displayed; see :class:`PortChooser`.
    """
    return PortChooser(results, sender=sender, provider=provider, blocked=blocked)
