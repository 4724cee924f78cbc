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

from smtplab.schema import OUTCOME_MEANING, progress_rank
from smtplab.widgets._render import as_record, close_parts, esc, outcome_badge

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
    "implicit_tls": "implicit TLS (called SSL/TLS in mail programs)",
    "starttls": "STARTTLS",
    "either": "STARTTLS (the provider also accepts no TLS: always switch TLS on)",
    "none": "no TLS documented: do not send a password this way",
}
_SECURITY_RANK: Final = {"implicit_tls": 0, "starttls": 1, "either": 1, "none": 3}
_PORT_RANK: Final = {465: 0, 587: 1, 2525: 2, 25: 9}
_STANDARD: Final = {465: "implicit_tls", 587: "starttls", 2525: "starttls"}
_GOOD_OUTCOMES: Final = ("open",)


@dataclass(frozen=True)
class Recommendation:
    """What :func:`choose_port` answers.

    ``port`` (None when nothing is left to recommend), ``security`` (how to connect, in words),
    ``steps`` (the reasoning, in order), ``contrast`` (the common advice vs RFC 8314),
    ``alternatives`` (other ports that would work, best first) and ``host`` (the provider's
    server name, when known).
    """

    port: int | None
    security: str
    steps: tuple[str, ...]
    contrast: Mapping[str, str] = field(default_factory=lambda: dict(CONTRAST))
    alternatives: tuple[int, ...] = ()
    host: str | None = None


def _evidence(results: Any) -> dict[int, dict[str, Any]]:
    """The best probe result per port (``open`` beats everything else)."""
    if results is None:
        return {}
    if hasattr(results, "to_dict") and hasattr(results, "columns"):
        from smtplab.records import frame_to_records

        items: Iterable[Any] = frame_to_records(results)
    elif hasattr(results, "to_record") or isinstance(results, Mapping):
        items = [results]
    else:
        items = results
    best: dict[int, dict[str, Any]] = {}
    for item in items:
        rec = as_record(item)
        port = int(rec["port"])
        old = best.get(port)
        if old is None or _outcome_rank(rec) < _outcome_rank(old):
            best[port] = rec
    return best


def _outcome_rank(rec: Mapping[str, Any]) -> int:
    outcome = str(rec.get("outcome"))
    return progress_rank(outcome)


def _provider_rows(provider: str, sender: str) -> list[dict[str, Any]]:
    from smtplab import reference

    df = reference.providers()
    rows = df[df["provider"] == provider]
    if rows.empty:
        known = ", ".join(sorted(df["provider"].unique()))
        raise ValueError(f"unknown provider {provider!r}; known: {known}")
    purposes = ("submission", "alt", "relay") if sender == "relay" else ("submission", "alt")
    out = rows[rows["purpose"].isin(purposes)]
    if out.empty:
        out = rows
    return [dict(r) for r in out.to_dict("records")]


def _ports_words(cands: Mapping[int, str]) -> str:
    return ", ".join(f"{p} ({_SECURITY_WORDS[s].split(' (')[0]})" for p, s in cands.items())


def choose_port(
    sender: str = "client",
    blocked: Iterable[int] = (),
    provider: str | None = None,
    results: Any = None,
) -> Recommendation:
    """Recommend a port for ``sender`` (``"client"``, ``"plugin"`` or ``"relay"``).

    ``blocked``: ports the learner's network blocks. ``provider``: a provider name from
    :func:`smtplab.reference.providers` (None: not sure, or your own server). ``results``: probe
    results (ProbeResults, records or a DataFrame) as evidence: a port that did not answer
    ``open`` is left out, a port that did is preferred.
    """
    if sender not in SENDERS:
        raise ValueError(f"sender must be one of {', '.join(SENDERS)}, not {sender!r}")
    blocked_set = {int(p) for p in blocked}
    evidence = _evidence(results)
    steps: list[str] = []
    host: str | None = None
    sources: dict[int, str] = {}

    # 1. What kind of sending is this?
    if sender == "client":
        steps.append(
            "A mail client hands your mail to your provider's server with your password: that "
            "is message submission (RFC 6409), done on 465 or 587. Port 25 is for servers "
            "relaying to servers."
        )
    elif sender == "plugin":
        steps.append(
            "A website plugin is a mail client that lives on a web server: it logs in to a "
            "mail provider and submits the mail, so it uses a submission port (465 or 587) too. "
            "Web hosts often block port 25 outright."
        )
    elif provider:
        steps.append(
            f"Your server hands its mail to {provider} to deliver (a 'smarthost'): it logs in "
            "and submits, so it uses the provider's submission ports."
        )
    else:
        steps.append(
            "A mail server that delivers straight to other domains' mail servers (their MX) "
            "must use port 25: it is the only port MX servers listen on (RFC 5321)."
        )

    # 2. Which ports are candidates?
    candidates: dict[int, str]
    if provider:
        rows = _provider_rows(provider, sender)
        candidates = {}
        for r in sorted(
            rows,
            key=lambda r: (_SECURITY_RANK.get(r["security"], 5), _PORT_RANK.get(int(r["port"]), 5)),
        ):
            candidates.setdefault(int(r["port"]), str(r["security"]))
            sources.setdefault(int(r["port"]), str(r.get("source") or ""))
            if (
                host is None
                and isinstance(r.get("host"), str)
                and "." in r["host"]
                and " " not in r["host"]
            ):
                host = r["host"]
        steps.append(f"{provider} documents these ports: {_ports_words(candidates)}.")
    elif sender == "relay":
        candidates = {25: "starttls"}
    else:
        candidates = dict(_STANDARD)
        steps.append(
            "Without a provider chosen, the candidates are the submission ports: 465 (implicit "
            "TLS), 587 (STARTTLS) and 2525 (unofficial, but offered by many sending services)."
        )

    # 3. What the network blocks, and what the probes saw.
    def drop(port: int, why: str) -> None:
        if port in candidates:
            del candidates[port]
            steps.append(why)

    for port in sorted(blocked_set):
        drop(port, f"Your network blocks port {port}, so {port} is out.")
    for port, rec in sorted(evidence.items()):
        outcome = str(rec.get("outcome"))
        if port in candidates and outcome not in _GOOD_OUTCOMES:
            drop(
                port,
                f"Your probe of port {port} came back {outcome}: "
                f"{OUTCOME_MEANING.get(outcome, '')} So {port} is out.",
            )
        elif port in candidates:
            steps.append(f"Your probe reached port {port}: {outcome}, so it works from here.")

    if sender == "relay" and not provider and not candidates:
        steps.append(
            "With port 25 closed to you, this server cannot deliver mail directly. Relay through "
            "a sending service (a smarthost) on a submission port instead, or ask the network "
            "or cloud provider to lift the block."
        )
        candidates = {
            p: s
            for p, s in _STANDARD.items()
            if p not in blocked_set
            and (p not in evidence or evidence[p].get("outcome") in _GOOD_OUTCOMES)
        }

    if not candidates:
        steps.append(
            "Every candidate port is blocked here. Ask the network's administrator to allow 465 "
            "or 587, use your provider's HTTPS sending API, or send from another network."
        )
        return Recommendation(None, "", tuple(steps), dict(CONTRAST), (), host)

    # 4. Rank what is left.
    def rank(item: tuple[int, str]) -> tuple[int, int, int]:
        port, security = item
        proven = 0 if evidence.get(port, {}).get("outcome") in _GOOD_OUTCOMES else 1
        return (proven if evidence else 0, _SECURITY_RANK.get(security, 5), _PORT_RANK.get(port, 5))

    ordered = sorted(candidates.items(), key=rank)
    port, security = ordered[0]
    if port == 25:
        steps.append("So: port 25, with STARTTLS whenever the receiving server offers it.")
    else:
        why = {
            "implicit_tls": "implicit TLS is preferred (RFC 8314): the connection is encrypted "
            "before a single SMTP word is said",
            "starttls": "STARTTLS upgrades the connection before the password is sent",
            "either": "it is the provider's main port; switch TLS on (STARTTLS)",
            "none": "it is all that is left, but without TLS your password travels readable",
        }[security]
        if evidence.get(port, {}).get("outcome") in _GOOD_OUTCOMES and evidence:
            why += ", and your probe showed it answers"
        steps.append(f"So: port {port}, because {why}.")
    src = sources.get(port)
    if src:
        steps.append(f"Source for {provider}'s port {port}: {src}")
    return Recommendation(
        port=port,
        security=_SECURITY_WORDS.get(security, security),
        steps=tuple(steps),
        contrast=dict(CONTRAST),
        alternatives=tuple(p for p, _ in ordered[1:]),
        host=host,
    )


def recommendation_html(rec: Recommendation) -> str:
    """The recommendation as HTML: the answer, the numbered steps and the contrast box."""
    if rec.port is None:
        head = (
            '<div style="font-size:22px;font-weight:bold;color:#A33A00">'
            "✖ No port to recommend from here</div>"
        )
    else:
        where = f" on {esc(rec.host)}" if rec.host else ""
        head = (
            f'<div style="font-size:22px;font-weight:bold">➜ Use port '
            f'<span style="font-size:28px;color:#00684C">{rec.port}</span>{where}, '
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
        f'color:#111">{head}<ol>{steps}</ol>'
        f'<div style="font-weight:bold;margin-top:6px">Two kinds of advice</div>'
        f'<div style="display:flex;flex-wrap:wrap">{contrast}</div>'
        + (f"<div><i>{esc(agree)}</i></div>" if agree else "")
        + "</div>"
    )


def _evidence_html(results: Any) -> str:
    ev = _evidence(results)
    if not ev:
        return ""
    items = " ".join(
        f"<b>{p}</b> {outcome_badge(str(r.get('outcome')))}" for p, r in sorted(ev.items())
    )
    return f'<div style="font-size:15px;margin:4px 0">Your probe results: {items}</div>'


class PortChooser(W.VBox):
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
        from smtplab import reference

        self.results = results
        self.sender = W.ToggleButtons(
            options=[(label.split(" (")[0], key) for key, label in SENDERS.items()],
            tooltips=[label for label in SENDERS.values()],
            value=sender,
            description="Sending:",
            style={"button_width": "170px"},
        )
        names = sorted(reference.providers()["provider"].unique())
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
            for p in (25, 465, 587, 2525)
        }
        self.result_html = W.HTML()
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
                    ]
                ),
                self.provider,
                W.HTML(_evidence_html(results)),
                self.result_html,
            ]
        )
        self.add_class("smtplab-port-chooser")
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
