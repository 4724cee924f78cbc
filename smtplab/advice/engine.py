"""``advise()``: probe records and provider facts in, the port and settings to use out.

Pure: no sockets, no clock. It reads records (dicts in the record schema, ProbeResults or a
DataFrame), the rules table (:mod:`smtplab.advice.rules`) and the provider facts
(:mod:`smtplab.advice.facts`), and says what a careful mail administrator would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from smtplab.advice import evidence as ev
from smtplab.advice.facts import (
    LAB_OAUTH_LOGIN,
    STANDARDS,
    ProviderFacts,
    guess_provider,
    provider_facts,
)
from smtplab.advice.rules import PURPOSES, Rule, port_kind, rule_for
from smtplab.records.normalise import as_records
from smtplab.schema import progress_rank

__all__ = [
    "VERDICTS",
    "VERDICT_PHRASES",
    "Advice",
    "PortVerdict",
    "Setting",
    "advise",
    "as_records",
]

#: The verdict words, one per port.
VERDICTS: Final = (
    "works",
    "blocked here",
    "not offered",
    "intercepted",
    "unsafe",
    "relay only",
    "nothing listens",
    "undocumented",
)

#: Each verdict as the end of a sentence "Port 587 ...", for views that write sentences.
VERDICT_PHRASES: Final = {
    "works": "works from here",
    "blocked here": "is blocked on this network",
    "not offered": "is not offered by this server",
    "intercepted": "is intercepted on the way",
    "unsafe": "is unsafe from here",
    "relay only": "is for relay between servers only",
    "nothing listens": "has nothing listening on the server",
    "undocumented": "answers, but your provider does not document it",
}

_SECURITY_WORDS: Final = {
    "implicit": "SSL/TLS (implicit TLS)",
    "starttls": "STARTTLS",
    "none": "none",
}


@dataclass(frozen=True)
class Setting:
    """What to type into a mail program for one port."""

    host: str
    port: int
    #: ``implicit`` or ``starttls`` (``none`` only for a mail server's relay on 25).
    security: str
    #: How to log in: password, app password, OAuth 2.0, ... or none (relay).
    auth: str
    user_name: str
    reason: str
    last_resort: bool = False

    @property
    def security_words(self) -> str:
        return _SECURITY_WORDS.get(self.security, self.security)

    def line(self) -> str:
        """One line: ``server H, port P, security S, user U, log in with A``."""
        text = f"server {self.host}, port {self.port}, security {self.security_words}"
        if self.security != "none" or self.auth != "none":
            text += f", user {self.user_name}, log in with {self.auth}"
        return text


@dataclass(frozen=True)
class PortVerdict:
    port: int
    verdict: str
    #: One plain sentence: outcome, findings, greeting name, certificate.
    evidence: str
    outcome: str | None
    #: What other networks saw on this port, said as coming from elsewhere (None when there is
    #: nothing to compare). It never changes the verdict: that is what was measured here.
    elsewhere: str | None = None
    #: The vantage labels of the records from elsewhere that ``elsewhere`` speaks of.
    elsewhere_vantages: tuple[str, ...] = ()

    @property
    def sentence(self) -> str:
        """The verdict as a sentence: ``Port 587 is blocked on this network.``"""
        return f"Port {self.port} {VERDICT_PHRASES.get(self.verdict, self.verdict)}."


@dataclass(frozen=True)
class Advice:
    host: str
    purpose: str
    provider: str | None
    recommended: Setting | None
    fallbacks: tuple[Setting, ...]
    ports: tuple[PortVerdict, ...]
    #: high, medium or low, and why.
    confidence: str
    confidence_reason: str
    #: What to try when nothing works (or to make the advice surer).
    next_steps: tuple[str, ...]
    #: Ports worth probing or trying that no record covers yet, best first.
    to_try: tuple[int, ...]

    def verdict(self, port: int) -> PortVerdict | None:
        return next((v for v in self.ports if v.port == port), None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        rec = d["recommended"]
        if rec is not None:
            rec["security_words"] = self.recommended.security_words  # type: ignore[union-attr]
        return d

    def summary(self) -> str:
        """A few lines for people: the setting, then the fallbacks."""
        if self.recommended is None:
            head = f"No port to recommend for {self.host} ({self.purpose})."
        else:
            head = f"Use {self.recommended.line()}."
        lines = [head]
        for f in self.fallbacks:
            flag = " (last resort)" if f.last_resort else ""
            lines.append(f"  then port {f.port}, {f.security_words}{flag}: {f.reason}")
        return "\n".join(lines)


def _best(recs: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """The furthest-reaching record per port; among equals the cleanest (verified TLS, not
    intercepted or stripped), then the latest."""
    best: dict[int, Mapping[str, Any]] = {}
    for r in recs:
        port = int(r["port"])
        old = best.get(port)
        if old is None or _key(r) < _key(old):
            best[port] = r
    return best


def _key(r: Mapping[str, Any]) -> tuple[int, int, str]:
    clean = ev.verified_tls(r) and not ev.intercepted(r) and not ev.stripped(r)
    return (progress_rank(str(r.get("outcome"))), 0 if clean else 1, _neg_time(r))


def _neg_time(r: Mapping[str, Any]) -> str:
    # later ISO timestamps sort higher; invert by sorting on the complement of each character
    return "".join(chr(0x10FFFF - ord(c)) for c in str(r.get("started_at") or ""))


def _verdict(
    rec: Mapping[str, Any],
    kind: str,
    needs_auth: bool,
    purpose: str,
    documented: bool,
    stripped_hint: bool = False,
) -> tuple[str, str]:
    """(verdict, evidence sentence) for one open-or-not record of a port."""
    text = ev.describe(rec)
    port = int(rec["port"])
    if rec.get("outcome") != "open":
        if not documented:
            return "not offered", text + " Nothing documents a mail service there."
        return "blocked here", text + " The port is documented, so the network is in the way."
    if ev.intercepted(rec):
        return "intercepted", (
            text + f" Something on the way answered instead of {rec.get('host')}: the greeting "
            "names another site and no certificate proves it is the server you asked for."
        )
    if ev.stripped(rec):
        harm = "never send a password there" if needs_auth else "mail would cross unencrypted"
        return "unsafe", text + f" Something on the way strips STARTTLS: {harm}."
    if kind == "relay25" and purpose != "mail-server":
        return "relay only", text + " Port 25 is for relay between servers."
    old = ev.old_tls(rec)
    if needs_auth and old:
        return "unsafe", text + (
            f" A password would cross {old}, older than TLS 1.2: RFC 8997 deprecates it for "
            "mail submission, and a careful mail program refuses it."
        )
    if needs_auth and not ev.verified_tls(rec):
        if rec.get("tls_mode") in ("implicit", "starttls"):
            why = " A password would cross TLS whose certificate is not valid for the name."
        else:
            why = " A password would cross in cleartext."
            if stripped_hint:
                why += " Your provider documents TLS here, so something on the way may strip it."
        return "unsafe", text + why
    if needs_auth and rec.get("auth_after_tls") == [] and not rec.get("auth_before_tls"):
        return "relay only", text + " It takes no login, so it only accepts mail for its domains."
    if kind == "undocumented":
        return "undocumented", text + (
            f" But your provider does not document port {port} for sending, so it is not "
            "advised: it may change without notice."
        )
    return "works", text


def _compare(
    rec: Mapping[str, Any],
    here_bad: bool,
    others: Sequence[Mapping[str, Any]],
    refused_here: bool = False,
) -> tuple[str | None, tuple[str, ...]]:
    """Server or my network? Records of the same host and port from other networks say, as
    evidence from elsewhere: a sentence that names their vantages, and those vantages."""
    port, host = int(rec["port"]), str(rec.get("host")).lower()
    seen = [r for r in others if int(r["port"]) == port and str(r.get("host")).lower() == host]
    if not seen or not here_bad:
        return None, ()
    good = sorted(
        {
            str(r.get("vantage"))
            for r in seen
            if r.get("outcome") == "open" and not ev.intercepted(r) and not ev.stripped(r)
        }
    )
    vantages = tuple(sorted({str(r.get("vantage")) for r in seen}))
    if good:
        then = (
            "so something does listen, and a firewall on your network rejects it here"
            if refused_here
            else "so the server is fine and your network is in the way"
        )
        return (
            f"From elsewhere (vantage {', '.join(good)}), not measured here: port {port} "
            f"answers cleanly there, {then}.",
            tuple(good),
        )
    return (
        f"From elsewhere (vantage {', '.join(vantages)}), not measured here: port {port} fails "
        "there too, so the server itself may not serve it, or be down.",
        vantages,
    )


def _setting(host: str, rec: Mapping[str, Any], rule: Rule, facts: ProviderFacts) -> Setting:
    auth = rule.auth
    security = "implicit" if rec.get("tls_mode") == "implicit" else "starttls"
    if not auth and rec.get("tls_mode") not in ("implicit", "starttls"):
        security = "none"
    return Setting(
        host=host,
        port=int(rec["port"]),
        security=security,
        auth=(LAB_OAUTH_LOGIN if ev.oauth_only(rec) else facts.login) if auth else "none",
        user_name=facts.user_name if auth else "none",
        reason=rule.reason,
        last_resort=rule.last_resort,
    )


def _admissible(rec: Mapping[str, Any], kind: str, purpose: str, auth: bool) -> bool:
    """The never-bend rules, checked one last time whatever the table says."""
    if rec.get("outcome") != "open" or ev.intercepted(rec) or ev.stripped(rec):
        return False
    if auth and (not ev.verified_tls(rec) or ev.old_tls(rec)):
        return False
    if kind == "undocumented":
        return False
    if kind == "implicit" and rec.get("tls_mode") != "implicit":
        return False  # 465 (or a documented implicit port) that did not speak implicit TLS
    return not (purpose != "mail-server" and int(rec["port"]) == 25 and kind != "sub25")


def _facts_for(provider: Any, host: str) -> tuple[ProviderFacts, bool]:
    if isinstance(provider, ProviderFacts):
        return provider, True
    if provider:
        return provider_facts(str(provider), host), True
    guessed = guess_provider(host) if host else None
    if guessed:
        return provider_facts(guessed, host), True
    return STANDARDS, False


def _pick_host(recs: list[dict[str, Any]], host: str | None) -> str:
    if host:
        return host
    counts = Counter(str(r.get("host")) for r in recs)
    return counts.most_common(1)[0][0] if counts else ""


def advise(
    records: Any,
    *,
    provider: str | ProviderFacts | None = None,
    purpose: str = "mail-client",
    host: str | None = None,
    vantage: str | None = None,
    blocked: Iterable[int] = (),
    elsewhere: Any = (),
) -> Advice:
    """The port and settings to use, from probe ``records`` and the provider's facts.

    ``records``: ProbeResults, record dicts or a DataFrame. ``provider``: a provider name from
    :func:`smtplab.reference.providers` (None: guessed from the host name, else the standards).
    ``purpose``: ``mail-client``, ``website-plugin`` or ``mail-server``. ``host``: the server
    advised on (default: the host most records name). ``vantage``: the network you are on
    (default: the first record's); records from other vantages answer "server or my network?".
    ``blocked``: ports you know your network blocks, with or without a probe.
    ``elsewhere``: records from other networks (say, files someone sent you), whatever vantage
    label they carry. Evidence from elsewhere only *adds* a comparison to a port's verdict
    (:attr:`PortVerdict.elsewhere`, said as such); the verdicts, the recommendation and how sure
    it is come from what ``records`` measured on this network alone.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    recs = as_records(records)
    name = _pick_host(recs, host)
    if host:
        recs = [r for r in recs if str(r.get("host")).lower() == host.lower()]
    here_v = vantage or (str(recs[0].get("vantage")) if recs else None)
    here = [r for r in recs if str(r.get("vantage")) == here_v]
    others = [r for r in recs if str(r.get("vantage")) != here_v]
    outside = as_records(elsewhere)
    if host:
        outside = [r for r in outside if str(r.get("host")).lower() == host.lower()]
    others += outside  # never among ``here``: a label copied from this network proves nothing
    facts, known = _facts_for(provider, name)
    blocked_set = {int(p) for p in blocked}
    best = _best(here)
    verdicts, candidates = _judge(best, facts, purpose, blocked_set, others)
    server = name or facts.host or "your provider's SMTP server"
    usable = sorted(candidates, key=lambda c: (c[1].last_resort, c[1].rank, c[0]))
    settings = [_setting(server, best[p], rule, facts) for p, rule in usable]
    recommended = next((s for s in settings if not s.last_resort), None)
    fallbacks = tuple(s for s in settings if s is not recommended)
    to_try = _to_try(facts, purpose, best, blocked_set)
    confidence, why = _confidence(recommended, known, facts, best)
    steps = _next_steps(recommended, verdicts, purpose, facts, to_try)
    return Advice(
        host=server,
        purpose=purpose,
        provider=facts.name if known else None,
        recommended=recommended,
        fallbacks=fallbacks,
        ports=tuple(verdicts),
        confidence=confidence,
        confidence_reason=why,
        next_steps=tuple(steps),
        to_try=to_try,
    )


def _judge(
    best: Mapping[int, Mapping[str, Any]],
    facts: ProviderFacts,
    purpose: str,
    blocked: set[int],
    others: Sequence[Mapping[str, Any]],
) -> tuple[list[PortVerdict], list[tuple[int, Any]]]:
    verdicts: list[PortVerdict] = []
    candidates: list[tuple[int, Any]] = []
    for port in sorted(set(best) | blocked):
        kind = port_kind(port, facts, purpose)
        rule = rule_for(purpose, kind)
        rec = best.get(port)
        if rec is None or (port in blocked and rec.get("outcome") != "open"):
            verdicts.append(
                PortVerdict(
                    port, "blocked here", f"You said your network blocks port {port}.", None
                )
            )
            continue
        doc = facts.port(port)
        hint = doc is not None and doc.security in ("starttls", "implicit_tls") and facts.host
        verdict, text = _verdict(rec, kind, rule.auth, purpose, doc is not None, bool(hint))
        if verdict == "blocked here" and rec.get("outcome") == "refused" and _answers(best, port):
            verdict = "nothing listens"
            text = (
                f"Port {port} came back refused (a TCP reset), while the server answers on other "
                "ports: most likely nothing listens on this one (a firewall that rejects looks "
                "the same; records from another network tell them apart)."
            )
        if port in blocked:
            verdict, text = "blocked here", text + " You said your network blocks it."
        bad = verdict in ("blocked here", "intercepted", "unsafe", "nothing listens")
        said, seen = _compare(rec, bad, others, verdict == "nothing listens")
        verdicts.append(PortVerdict(port, verdict, text, str(rec.get("outcome")), said, seen))
        if (
            verdict == "works"
            and rule.rank is not None
            and _admissible(rec, kind, purpose, rule.auth)
        ):
            candidates.append((port, rule))
    return verdicts, candidates


def _answers(best: Mapping[int, Mapping[str, Any]], port: int) -> bool:
    """Whether the server itself answered on a port other than ``port`` (an interceptor's
    greeting proves nothing about the server)."""
    return any(
        p != port and r.get("outcome") == "open" and not ev.intercepted(r) for p, r in best.items()
    )


def _to_try(
    facts: ProviderFacts, purpose: str, best: Mapping[int, Any], blocked: set[int]
) -> tuple[int, ...]:
    ranked = []
    for port in facts.documented_ports:
        rule = rule_for(purpose, port_kind(port, facts, purpose))
        if port in best or port in blocked or rule.rank is None or rule.last_resort:
            continue
        ranked.append((rule.rank, port))
    return tuple(p for _, p in sorted(ranked))


def _confidence(
    rec: Setting | None, known: bool, facts: ProviderFacts, best: Mapping[int, Any]
) -> tuple[str, str]:
    if rec is None:
        if not best:
            return "low", "Nothing was probed from here yet."
        return "low", "No port passed every check from here."
    how = "with verified TLS" if rec.auth != "none" else "as a relay"
    if known:
        return "high", f"Port {rec.port} answered from here {how}, and {facts.name} documents it."
    return "medium", (
        f"Port {rec.port} answered from here {how}, but no provider facts are known for this "
        "host: the advice follows the standards, check your provider's page."
    )


def _next_steps(
    rec: Setting | None,
    verdicts: list[PortVerdict],
    purpose: str,
    facts: ProviderFacts,
    to_try: tuple[int, ...],
) -> list[str]:
    steps: list[str] = []
    words = {v.verdict for v in verdicts}
    if to_try:
        steps.append(f"Not probed yet: {', '.join(map(str, to_try))}; probe them too.")
    if rec is not None:
        return steps
    outcomes = {v.outcome for v in verdicts if v.outcome}
    if outcomes == {"dns_failed"}:
        steps.append("The host name does not resolve: check its spelling, and this network's DNS.")
    if outcomes == {"unreachable"}:
        steps.append(
            "There is no route to the server at all: this network (or a hosted notebook "
            "service) may allow no outgoing connections but the web."
        )
    if "intercepted" in words:
        steps.append(
            "A port is intercepted: never send a password there. A VPN, or another network "
            "such as a phone's hotspot, gets past the interception."
        )
    if "unsafe" in words:
        v465 = next((v.verdict for v in verdicts if v.port == 465), None)
        use_465 = ", or use implicit TLS on 465" if v465 in (None, "works") else ""
        steps.append(
            "A port answers without verified TLS 1.2 or newer (or with STARTTLS stripped): ask the "
            f"network's administrator to turn off SMTP inspection{use_465}."
        )
    if "blocked here" in words:
        steps.append(
            "Ports are blocked on this network: ask its administrator to allow 465 (or 587), "
            "or try from another network to tell the network from the server."
        )
    if purpose == "mail-server":
        steps.append(
            "A mail server that cannot reach 25 can relay through a smarthost (a sending "
            "service) on 465 or 587 with a password, or ask its cloud to lift the port-25 block."
        )
    else:
        steps.append(
            "If your provider offers sending over HTTPS (an API), no mail-port block stops it."
        )
    return steps
