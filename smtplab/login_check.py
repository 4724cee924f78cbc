"""Try the login on the port the advice chose: ``smtplab doctor HOST --login USER``.

>>> report = check_login(advice, "student", secret, lab=lab)          # doctest: +SKIP
>>> report.status, report.line()                                      # doctest: +SKIP

Two halves. :func:`plan_login` is pure: from an :class:`~smtplab.advice.Advice` it picks the
recommended setting and refuses, before any connection, when the evidence does not make that
port safe for a secret (no recommendation, a relay with no login, a port whose verdict is not
``works``, a setting without TLS). :func:`check_login` then logs in through the probe engine
(:func:`smtplab.probe` with ``auth=``), the one path that sends credentials: it sends them only
over TLS whose certificate verified for the name dialled, else it reports
``auth_skipped_unverified`` and the secret stays here. The mode is pinned (``tls`` on an
implicit-TLS port, ``starttls`` elsewhere), so a port that stops offering STARTTLS between the
advice and the login gets no secret either. The secret is never in the report: the engine's
redaction keeps it out of the transcript, and the report keeps no transcript.

A refusal is explained with :func:`smtplab.advice.explain`, the one explainer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from smtplab.advice import Advice, Explanation, Setting, explain, explain_transcript
from smtplab.advice.facts import LAB_OAUTH_LOGIN

__all__ = [
    "METHODS",
    "STATUSES",
    "LoginPlan",
    "LoginReport",
    "check_login",
    "plan_login",
    "valid_address",
]

#: How the secret travels: ``auto`` (a token where the server is OAuth-only, else a password),
#: ``password`` (AUTH PLAIN, else LOGIN) or ``token`` (AUTH XOAUTH2).
METHODS: Final = ("auto", "password", "token")

#: ``ok``: logged in; ``refused``: the server refused the login; ``not_tried``: no secret was
#: sent (the evidence or the connection did not make it safe); ``failed``: the connection or
#: the server broke before a verdict.
STATUSES: Final = ("ok", "refused", "not_tried", "failed")

#: A test recipient: one plain address, no spaces, brackets or control characters (it goes
#: into ``RCPT TO:<...>``; the command builder refuses CR and LF as well).
_ADDRESS: Final = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}")


@dataclass(frozen=True)
class LoginPlan:
    """Where and how the login will be tried: the setting, the probe mode, the mechanism."""

    setting: Setting
    mode: str
    mechanism: str

    @property
    def method_words(self) -> str:
        return "an OAuth token (XOAUTH2)" if self.mechanism == "XOAUTH2" else "a password"


@dataclass(frozen=True)
class LoginReport:
    """What the login check did. Never holds the secret."""

    status: str
    host: str
    port: int | None
    security: str | None
    #: ``password`` or ``XOAUTH2`` (None when nothing was tried).
    mechanism: str | None
    #: One plain sentence: what happened.
    message: str
    #: The server's refusal, explained (None on success or when nothing was sent).
    explanation: Explanation | None = None
    #: ``--send-test``: None when not asked, else True when the message was accepted.
    test_sent: bool | None = None
    #: The probe's finding codes for this login (``auth_ok``, ``auth_skipped_unverified``, ...).
    findings: tuple[str, ...] = ()

    @property
    def secret_sent(self) -> bool:
        """The secret left this machine (only ever over verified TLS)."""
        return self.status in ("ok", "refused")

    def line(self) -> str:
        where = f"{self.host} port {self.port}" if self.port is not None else self.host
        return f"Login check on {where}: {self.message}"


def valid_address(text: str) -> bool:
    """``text`` is one plain address a test message may go to (``--send-test``)."""
    return bool(_ADDRESS.fullmatch(text))


class LoginRefused(Exception):
    """The evidence does not make any port safe for the secret; nothing was sent."""


def plan_login(advice: Advice, *, method: str = "auto") -> LoginPlan:
    """Where the login goes, from the advice alone (pure: no socket, no clock).

    Raises :class:`LoginRefused` (one sentence) when the evidence says no port is safe for a
    secret: nothing recommended, a relay that takes no login, a port whose verdict is not
    ``works`` (blocked, intercepted, stripped, unverified, old TLS), or a setting without TLS."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    rec = advice.recommended
    if rec is None:
        raise LoginRefused(
            "not tried: no port is safe to send a password or token to from here "
            "(see the port verdicts above)."
        )
    if rec.auth == "none":
        raise LoginRefused(f"not tried: port {rec.port} is a relay that takes no login.")
    verdict = advice.verdict(rec.port)
    if verdict is None or verdict.verdict != "works":
        said = verdict.verdict if verdict else "not probed"
        raise LoginRefused(f"not tried: the evidence for port {rec.port} says {said}.")
    if rec.security not in ("implicit", "starttls"):
        raise LoginRefused(f"not tried: port {rec.port} has no TLS to carry the secret.")
    oauth = rec.auth == LAB_OAUTH_LOGIN
    mechanism = "XOAUTH2" if method == "token" or (method == "auto" and oauth) else "password"
    mode = "tls" if rec.security == "implicit" else "starttls"
    return LoginPlan(rec, mode, mechanism)


def check_login(
    advice: Advice,
    user: str,
    secret: str,
    *,
    method: str = "auto",
    lab: Any = None,
    send_test: str | None = None,
    timeout: float = 5.0,
    cafile: str | None = None,
    probe: Callable[[Any], Any] | None = None,
) -> LoginReport:
    """Log in as ``user`` with ``secret`` (a password, or an OAuth token with
    ``method="token"``) on the port ``advice`` recommends, and say what happened.

    Refuses before any connection when :func:`plan_login` does (the report's status is
    ``not_tried``). The login goes through the probe engine, which sends the secret only over
    TLS verified for the host. ``send_test``: after a login that succeeded, in the same session,
    a short test message to that address only. ``lab``: a running :class:`smtplab.Lab`.
    ``probe``: what runs the login (default :func:`smtplab.engine.probe`), given the options.
    Raises ``ValueError`` for a bad ``user``, ``secret``, ``method`` or ``send_test``, with the
    secret never in the message."""
    if send_test is not None and not valid_address(send_test):
        raise ValueError("--send-test wants one plain e-mail address, such as you@example.org")
    try:
        plan = plan_login(advice, method=method)
    except LoginRefused as exc:
        return LoginReport("not_tried", advice.host, None, None, None, str(exc))
    from smtplab.engine import ProbeInputError, ProbeOptions
    from smtplab.engine import probe as run_probe

    rec = plan.setting
    try:
        opts = ProbeOptions.create(
            rec.host, rec.port, mode=plan.mode, timeout=timeout, lab=lab, cafile=cafile,
            auth=(user, secret),
        )  # fmt: skip
    except ProbeInputError as exc:
        raise ValueError(str(exc)) from None  # its messages never repeat the secret
    mech = "XOAUTH2" if plan.mechanism == "XOAUTH2" else "auto"
    opts = dataclasses.replace(opts, auth_mechanism=mech, send_test=send_test)
    result = (probe or run_probe)(opts)
    return _report(plan, result, send_test is not None, advice.provider)


def _report(plan: LoginPlan, result: Any, asked_test: bool, provider: str | None) -> LoginReport:
    rec = plan.setting
    codes = tuple(f.code for f in result.findings)
    base: dict[str, Any] = {
        "host": rec.host,
        "port": rec.port,
        "security": rec.security_words,
        "mechanism": plan.mechanism,
        "findings": codes,
    }
    test = ("test_sent" in codes) if asked_test else None
    if "auth_ok" in codes:
        said = f"logged in with {plan.method_words} over verified TLS."
        if asked_test:
            said += (
                " The test message was accepted."
                if test
                else " The test message was refused: " + _finding(result, "test_refused")
            )
        return LoginReport("ok", message=said, test_sent=test, **base)
    if "auth_failed" in codes:
        explained = _auth_refusal(result.transcript, provider)
        reply = explained.reply if explained else _finding(result, "auth_failed")
        said = f"the server refused {plan.method_words}: {reply}"
        return LoginReport("refused", message=said, explanation=explained, test_sent=test, **base)
    for code in ("auth_skipped_unverified", "auth_not_attempted", "auth_unavailable"):
        if code in codes:
            said = "not tried: " + _finding(result, code)
            return LoginReport("not_tried", message=said, test_sent=test, **base)
    why = result.error or f"the probe ended {result.outcome} before the login"
    return LoginReport("failed", message=f"not tried: {why}.", test_sent=test, **base)


def _finding(result: Any, code: str) -> str:
    return next((f.message for f in result.findings if f.code == code), code)


def _auth_refusal(transcript: Sequence[Any], provider: str | None) -> Explanation | None:
    """The explanation of the reply that refused the login: the last refusal from the first
    AUTH line on (the AUTH lines themselves are redacted), told for ``provider`` where the
    knowledge base knows it (its login steps: an app password, a token, ...)."""
    lines = [t if isinstance(t, Mapping) else t.to_dict() for t in transcript]
    start = next(
        (
            i
            for i, d in enumerate(lines)
            if d.get("dir") == "client" and str(d.get("text", "")).upper().startswith("AUTH")
        ),
        None,
    )
    if start is None:
        return None
    refusals = explain_transcript(lines[start:])
    if not refusals:
        return None
    if provider:
        try:
            return explain(refusals[-1].reply, provider=provider)
        except ValueError:  # a provider the explainer does not know: the plain explanation
            pass
    return refusals[-1]
