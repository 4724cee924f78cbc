"""The conversation: what the probe says, when, and what each answer means.

It drives the sans-IO core of :mod:`smtplab.protocol` (its own reply parser, in
:class:`~smtplab.engine.replies.Replies`) over the byte streams of any
:class:`~smtplab.engine.wire.Network`, and writes what it learns into the
:class:`~smtplab.engine.result.ProbeState`, each event as a kind with its data. A conversation
ends by returning (the server spoke SMTP to the end) or with :class:`_Stop` and the outcome
word; it never lets a network error escape.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any, Final

from smtplab.catalogue import live_finding
from smtplab.engine.checks import RELAY_CHECK_RCPT, SessionChecks
from smtplab.engine.events import sentence
from smtplab.engine.options import ROUND_TRIPS, RoundTrips
from smtplab.engine.replies import Replies
from smtplab.engine.result import ProbeState
from smtplab.engine.wire import (
    ConnectFailed,
    LiveNetwork,
    NameLookupFailed,
    Network,
    NetworkFactory,
    Stream,
    TLSFailed,
    TLSRejected,
    WireClosed,
    WireTimeout,
)
from smtplab.protocol import (
    MAX_COMMAND,
    Capabilities,
    ProtocolError,
    Reply,
    build_command,
    parse_ehlo,
)
from smtplab.tls import client_context, describe_handshake_error

__all__ = ["CONNECT_OUTCOMES", "RELAY_CHECK_RCPT", "Conversation"]


class _Stop(Exception):
    """Ends the conversation with an outcome."""

    def __init__(self, outcome: str, error: str | None = None) -> None:
        super().__init__(error or outcome)
        self.outcome = outcome
        self.error = error


class _CutShort(Exception):
    """An adaptive connect wait passed (see :class:`~smtplab.engine.options.RoundTrips`)."""

    def __init__(self, seconds: float, rtt_ms: float) -> None:
        super().__init__(f"connect timed out after {seconds:g} s")
        self.seconds = seconds
        self.rtt_ms = rtt_ms


class _Silent(_Stop):
    def __init__(self, error: str) -> None:
        super().__init__("silent", error)


class _CertRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _CleartextOnTLSPort(_Stop):
    def __init__(self, error: str) -> None:
        super().__init__("tls_failed", error)


#: Auto mode's grace before it tries implicit TLS beside a silent cleartext connection: this
#: many times the connect time (a few round trips), and never less than GRACE_MIN_S seconds.
GRACE_CONNECTS: Final = 4
GRACE_MIN_S: Final = 0.25


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 3)


#: The outcome word for each way a connection can fail to open.
CONNECT_OUTCOMES: Final = {
    "timeout": "filtered",
    "refused": "refused",
    "reset": "reset",
    "unreachable": "unreachable",
    "other": "error",
}

#: The sentence of a handshake's start, by (verify, judge the chain after it).
_HANDSHAKE_VARIANTS: Final = {
    (True, False): "verifying",
    (False, False): "not_verifying",
    (True, True): "reading",
    (False, True): "not_verifying",
}


def _local_name(stream: Stream) -> str:
    """An honest EHLO name: our own address as an RFC 5321 address literal."""
    sockname = stream.get_extra_info("sockname")
    if not sockname:
        return "[127.0.0.1]"
    ip = ipaddress.ip_address(str(sockname[0]).split("%")[0])
    return f"[IPv6:{ip}]" if ip.version == 6 else f"[{ip}]"


class Conversation(SessionChecks):
    """What the probe says and when, over the streams of any
    :class:`~smtplab.engine.wire.Network`: live sockets, a replayed recording, or a server in
    memory."""

    def __init__(self, st: ProbeState, make_network: NetworkFactory | None = None) -> None:
        self.st = st
        self.o = st.opts
        self.net: Network = (make_network or LiveNetwork)(st.opts, self._handshake_bytes)
        self.stream: Stream | None = None
        self.rx: Replies | None = None
        self.raced = False  # auto mode raced implicit TLS against a silent greeting already

    def _handshake_bytes(self, n: int) -> None:
        self.st.bytes_in_phase += n

    async def send(self, verb: str, arg: str | None = None, *, limit: int = MAX_COMMAND) -> None:
        assert self.stream is not None and self.rx is not None
        await self.rx.drain()
        n = self.rx.pending()
        if n:  # the probe never pipelines: a reply waiting now answers nothing we sent
            self.st.event("unasked_replies", count=n, command=verb)
            raise _Stop(
                "open" if self.st.values.get("outcome") == "open" else "error",
                f"the server sent {n} reply(ies) nobody asked for: the conversation is out of step",
            )
        data = build_command(verb, arg, limit=limit)
        shown = self.st.client(data.decode("utf-8", "replace").rstrip("\r\n"))
        try:
            await self.stream.write(data, self.o.timeout)
        except WireClosed as exc:
            what = shown.split(" ", 1)[0]  # the redacted form: never a secret in an error
            self.st.event("send_failed", command=what, detail=str(exc))
            raise _Stop("reset", f"connection lost while sending {what}: {exc}") from None

    async def reply(self, what: str, timeout: float | None = None) -> Reply:
        assert self.rx is not None
        st = self.st
        try:
            return await self.rx.read_reply(self.o.timeout if timeout is None else timeout)
        except WireTimeout:
            st.event("reply_timeout", command=what, seconds=self.o.timeout)
            raise _Stop("open", f"no reply to {what} within {self.o.timeout:g} s") from None
        except ProtocolError as exc:
            st.event("protocol_error", detail=str(exc))
            raise _Stop("open", f"the server broke SMTP after {what}: {exc}") from None
        except WireClosed as exc:
            st.event("closed", detail=str(exc))
            raise _Stop("reset", f"{exc} (waiting for the reply to {what})") from None

    async def tls_handshake(self, verify: bool, server_hostname: str | None) -> None:
        """The TLS handshake. Verifying, where this Python can hand over the chain of a
        handshake that did not verify it, means: one handshake that reads the certificate,
        then :meth:`judge_certificate` (issue 15: one connection per port)."""
        o, st = self.o, self.st
        assert self.stream is not None and self.rx is not None
        judge_after = verify and self.net.hands_over_chain
        ctx = client_context(verify=verify and not judge_after, cadata=o.cadata, cafile=o.cafile)
        t = time.monotonic()
        st.phase = "tls"
        st.event(
            "tls_handshake",
            _HANDSHAKE_VARIANTS[(verify, judge_after)],
            verify=verify,
            judge=judge_after,
        )
        implicit = st.values.get("tls_mode") == "implicit"
        try:
            self.stream = await self.stream.start_tls(ctx, server_hostname, o.timeout)
        except TLSRejected as exc:
            reason = str(exc)
            st.event("tls_rejected", detail=reason)
            st.cert_rejected = reason
            raise _CertRejected(reason) from None
        except TLSFailed as exc:
            msg = describe_handshake_error(exc)
            if exc.cleartext and not implicit:
                # After STARTTLS's 220 this is no implicit/STARTTLS mix-up: the server agreed to
                # TLS and then did not speak it.
                msg = f"{exc} — the server agreed to STARTTLS, then answered in cleartext, not TLS"
            st.event("tls_failed", detail=str(exc), cleartext=exc.cleartext, words={"message": msg})
            if exc.cleartext and implicit:
                raise _CleartextOnTLSPort(msg) from None
            raise _Stop("tls_failed", msg) from None
        except WireTimeout as exc:
            st.bytes_in_phase = max(st.bytes_in_phase, exc.received)
            st.event("tls_timeout", seconds=o.timeout, bytes=exc.received)
            if st.bytes_in_phase == 0 and implicit:
                raise _Silent(f"no TLS handshake reply within {o.timeout:g} s") from None
            raise _Stop("tls_failed", f"TLS handshake timed out after {o.timeout:g} s") from None
        except WireClosed as exc:
            st.event("closed", "tls", detail=str(exc))
            raise _Stop("tls_failed", f"connection lost during the TLS handshake: {exc}") from None
        self.rx.restart(self.stream)  # nothing read before TLS may be trusted after it
        st.set(tls_ms=_ms(t))
        version, cipher, facts, chain = self.stream.get_extra_info("tls_facts")
        st.set(tls_version=version, tls_cipher=cipher)
        if facts is not None:
            st.set(
                cert_subject=facts.subject,
                cert_issuer=facts.issuer,
                cert_not_after=facts.not_after,
                cert_san=list(facts.san),
            )
        if chain is not None:
            st.set(
                cert_chain=[subject for subject, _ in chain],
                cert_chain_issuers=[issuer for _, issuer in chain],
            )
        judged: dict[str, Any] = {}
        if verify and not judge_after:
            st.set(cert_verified=True, cert_error=None)
            st.cert_problems = ()
        elif judge_after or st.cert_rejected is not None:
            judged = await self.judge_certificate(first_look=judge_after)
        st.event(
            "tls_established",
            version=version,
            cipher=cipher,
            subject=facts.subject if facts else None,
            issuer=facts.issuer if facts else None,
            not_after=facts.not_after if facts else None,
            san=list(facts.san) if facts and facts.san else None,
            chain=[subject for subject, _ in chain] if chain else None,
            chain_issuers=[issuer for _, issuer in chain] if chain else None,
            **judged,
        )

    async def judge_certificate(self, first_look: bool) -> dict[str, Any]:
        """Judge the certificate of the session that just came up without verifying it: on the
        first look (the chain handed over), or on a reconnection after OpenSSL rejected it.
        Returns the verdict as event data (empty if it could not be judged)."""
        o, st = self.o, self.st
        assert self.stream is not None
        verdict = await self.net.judge_certificate(
            self.stream, o.host, cafile=o.cafile, cadata=o.cadata, verify_error=st.cert_rejected
        )
        if verdict is None:
            return {}
        st.cert_problems = verdict.kinds
        judged = {
            "verified": verdict.verified,
            "problems": list(verdict.kinds),
            "detail": verdict.error,
        }
        if not first_look:
            return judged  # OpenSSL's reason stays the record's cert_error
        if verdict.verified:
            st.event("cert_verdict", "verified", verified=True)
            st.set(cert_verified=True, cert_error=None)
            return judged
        reason = verdict.error or "the certificate was not verified"
        st.event("cert_verdict", "not_verified", verified=False, detail=reason)
        st.cert_rejected = reason
        return judged

    async def session(self, implicit: bool, verify: bool) -> None:
        """One connection: connect, [TLS], greeting, EHLO, [STARTTLS, EHLO], [relay check], QUIT."""
        o, st = self.o, self.st
        st.reset_session()
        try:
            address, port = await self.net.resolve(o.host, o.port, o.timeout)
        except NameLookupFailed as exc:
            st.event("dns_failed", exc.cause, cause=exc.cause, detail=str(exc))
            raise _Stop("dns_failed", _lookup_error(o.host, exc)) from None
        st.set(address=address)
        sni = o.host  # ssl verifies an address literal as one and sends no SNI for it
        st.set(tls_mode="implicit" if implicit else "none")
        st.phase = "connect"
        lab = o.connect_to is not None
        st.event(
            "connecting",
            "lab" if lab else None,
            address=address,
            port=port,
            lab=lab,
            words={"host": o.host, "logical_port": o.port},
        )
        t = time.monotonic()
        trips = ROUND_TRIPS.get() if o.adaptive else None
        try:
            self.stream = await self.connect(address, port, trips)
        except _CutShort as cut:
            words: dict[str, object] = {"rtt_ms": cut.rtt_ms, "timeout": o.timeout}
            st.event(
                "connect_failed", "adaptive", cause="timeout", seconds=cut.seconds, words=words
            )
            raise _Stop(
                "filtered", sentence("connect_failed", "adaptive", seconds=cut.seconds, **words)
            ) from None
        except ConnectFailed as exc:
            seconds = o.timeout if exc.cause == "timeout" else None
            st.event("connect_failed", exc.cause, cause=exc.cause, detail=str(exc), seconds=seconds)
            if exc.cause == "refused" and trips is not None:
                trips.add(o.host, time.monotonic() - t)  # a refusal is one round trip too
            msg = {
                "timeout": f"connect timed out after {o.timeout:g} s",
                "refused": "connection refused",
                "reset": "connection reset",
            }.get(exc.cause, str(exc))
            raise _Stop(CONNECT_OUTCOMES[exc.cause], msg) from None
        if trips is not None:
            trips.add(o.host, time.monotonic() - t)
        st.connected = True
        st.event("connected")
        st.set(connect_ms=_ms(t))
        self.rx = Replies(st, self.stream)
        try:
            await self._speak(implicit, verify, sni)
        finally:
            self.stream.close()

    async def connect(self, address: str, port: int, trips: RoundTrips | None) -> Stream:
        """The network's connect, within the probe's ``timeout``, or sooner once ``trips``
        shows that other ports of this host answered far faster (:class:`RoundTrips`): then
        :class:`_CutShort`. The wait is looked at again as other ports answer."""
        o = self.o
        if trips is None:
            return await self.net.connect(address, port, o.timeout)
        loop = asyncio.get_running_loop()
        start = loop.time()
        task = asyncio.ensure_future(self.net.connect(address, port, o.timeout))
        try:
            while True:
                wait = trips.wait(o)
                left = start + wait - loop.time()
                if left <= 0 and wait < o.timeout:
                    # a loop that was busy may wake this timer before the finished connect's
                    # callbacks have run: give them one more look before calling it dropped
                    await asyncio.wait({task}, timeout=0.05)
                    if task.done():
                        return task.result()
                    r = trips.seen.get(o.host.lower(), 0.0)
                    raise _CutShort(round(wait, 2), round(r * 1000))
                # look again every 50 ms: another port may answer and shorten the wait
                await asyncio.wait({task}, timeout=max(0.005, min(left, 0.05)))
                if task.done():
                    return task.result()
        finally:
            task.cancel()  # a no-op once done; else asyncio closes the half-open socket

    async def _speak(self, implicit: bool, verify: bool, sni: str) -> None:
        """The SMTP part of a session, once connected."""
        o, st = self.o, self.st
        if implicit:
            st.bytes_in_phase = 0
            await self.tls_handshake(verify, sni)
        await self.greeting()
        caps = await self.ehlo(first=True)
        refused = None
        if o.tls_required_check and not implicit and caps is not None:
            refused = await self.tls_required_check()
        if not implicit and caps is not None and o.mode in ("auto", "starttls"):
            if caps.starttls:
                caps = await self.starttls(verify, sni) or caps
            elif o.mode == "starttls":
                st.event("starttls_not_offered")
                st.extra.append(
                    live_finding(
                        "no_starttls",
                        "high" if o.port != 25 else "low",
                        "STARTTLS was asked for but the server does not offer it.",
                    )
                )
        if refused is not None:
            await self.why_mail_was_refused(refused)
        if o.auth is not None and await self.auth_check(caps) and o.send_test:
            await self.send_test_message(o.send_test)
        if o.relay_check:
            await self.relay_check()
        await self.quit()

    async def greeting(self) -> None:
        o, st = self.o, self.st
        assert self.rx is not None
        st.phase = "greeting"
        st.bytes_in_phase = 0
        t = time.monotonic()
        try:
            reply = await self.read_greeting()
        except WireTimeout:
            n = self.rx.received
            if n and st.values.get("tls_mode") != "implicit":
                if self.rx.reply_started():
                    # A greeting was arriving, too slowly: a tarpit. Not "not_smtp" (what came
                    # looks like SMTP), and no implicit-TLS retry (it spoke cleartext).
                    st.event("greeting_timeout", "tarpit", seconds=o.timeout, bytes=n, started=True)
                    raise _Stop(
                        "silent",
                        f"the greeting was still arriving after {o.timeout:g} s "
                        f"({n} bytes so far): a tarpit",
                    ) from None
                st.event("greeting_timeout", "garbage", seconds=o.timeout, bytes=n, started=False)
                raise _Stop(
                    "not_smtp", "the server sent data that is not an SMTP greeting"
                ) from None
            st.event("greeting_timeout", seconds=o.timeout, bytes=0)
            raise _Silent(f"no greeting within {o.timeout:g} s") from None
        except ProtocolError as exc:
            st.event("protocol_error", "greeting", detail=str(exc))
            raise _Stop("not_smtp", _not_smtp_reason(exc)) from None
        except WireClosed as exc:
            st.event("closed", detail=str(exc))
            raise _Stop("reset", f"{exc} before any greeting") from None
        st.set(banner_ms=_ms(t), banner_code=reply.code, banner=reply.text)
        if reply.code == 220:
            st.set(outcome="open")
            return
        if reply.code in (421, 554) or reply.code >= 400:
            raise _Stop("rejected", f"the server greeted with {reply.code}: {reply.text}")
        raise _Stop("not_smtp", f"greeting code {reply.code} is not an SMTP greeting (220)")

    async def read_greeting(self) -> Reply:
        """The greeting. In auto mode, a cleartext connection still silent after a short grace
        (:data:`GRACE_CONNECTS` times the connect time, at least :data:`GRACE_MIN_S`) has
        implicit TLS tried on a second connection meanwhile, happy-eyeballs style: the first
        that speaks wins. TLS first ends this connection as silent (:class:`_Silent`), and the
        implicit-TLS session follows at once instead of after the whole timeout."""
        o, st = self.o, self.st
        assert self.rx is not None and self.stream is not None
        connect_s = float(st.values.get("connect_ms") or 0.0) / 1000.0
        grace = None
        if not self.raced and o.mode == "auto" and st.values.get("tls_mode") == "none":
            grace = self.net.race_grace(round(max(GRACE_MIN_S, GRACE_CONNECTS * connect_s), 3))
        if grace is None or grace >= o.timeout:
            return await self.rx.read_reply(o.timeout)
        self.raced = True  # once per probe: the retry is the TLS session itself
        try:
            return await self.rx.read_reply(grace)
        except WireTimeout:
            if self.rx.received:  # something is arriving: give it the whole timeout
                return await self.rx.read_reply(o.timeout - grace)
        st.event("tls_race", seconds=grace)
        left = o.timeout - grace
        # the TLS try first: a recorded network takes its place in the recording at once
        tls_try = asyncio.ensure_future(self.net.tls_answers(self.stream, o.host, left))
        greeting = asyncio.ensure_future(self.rx.read_reply(left))
        try:
            done, _ = await asyncio.wait({greeting, tls_try}, return_when=asyncio.FIRST_COMPLETED)
            tls_first = greeting not in done and tls_try.result()
            if not tls_first:
                reply = await greeting
        finally:
            for task in (greeting, tls_try):
                task.cancel()
        if tls_first:
            st.event("race_tls_first")
            raise _Silent(f"no cleartext greeting within {grace:g} s; implicit TLS answered")
        st.event("race_cleartext_first")
        return reply

    async def ehlo(self, first: bool) -> Capabilities | None:
        o, st = self.o, self.st
        assert self.stream is not None
        st.phase = "ehlo"
        name = o.ehlo_name or _local_name(self.stream)
        t = time.monotonic()
        await self.send("EHLO", name)
        reply = await self.reply("EHLO")
        if first:
            st.set(ehlo_ms=_ms(t))
        tls_now = st.values.get("tls_mode") in ("implicit", "starttls") and st.values.get(
            "tls_version"
        )
        if reply.code != 250:
            if reply.code >= 500 and first:
                await self.send("HELO", name)
                helo = await self.reply("HELO")
                st.set(esmtp=False, extensions=[], starttls_offered=False)
                if helo.code == 250:
                    st.set(**({"auth_after_tls": []} if tls_now else {"auth_before_tls": []}))
                return None
            raise _Stop("open", f"EHLO was answered with {reply.code}: {reply.text}")
        caps = parse_ehlo(reply)
        if first:
            st.set(
                esmtp=True,
                extensions=list(caps.as_sent),
                size_limit=caps.size_limit,
                starttls_offered=caps.starttls,
            )
        else:
            st.set(extensions=list(caps.as_sent), size_limit=caps.size_limit)
        if tls_now:
            st.set(auth_after_tls=list(caps.auth))
        else:
            st.set(auth_before_tls=list(caps.auth))
        return caps

    async def starttls(self, verify: bool, sni: str | None) -> Capabilities | None:
        st = self.st
        assert self.rx is not None
        st.phase = "starttls"
        await self.send("STARTTLS")
        reply = await self.reply("STARTTLS")
        if reply.code != 220:
            st.event("starttls_refused", code=reply.code)
            st.extra.append(
                live_finding(
                    "starttls_refused",
                    "high",
                    f"STARTTLS is offered but was refused with {reply.code}: {reply.text}",
                )
            )
            return None
        await self.rx.drain()
        leftover = self.rx.leftover()
        if leftover:
            st.event("starttls_injection", count=leftover)
            st.extra.append(
                live_finding(
                    "starttls_injection",
                    "high",
                    "The server (or something on the way) sent extra data right after agreeing to "
                    "STARTTLS: a response-injection risk (CVE-2011-0411 style); it was discarded.",
                )
            )
        st.set(tls_mode="starttls")
        await self.tls_handshake(verify, sni)
        return await self.ehlo(first=False)

    async def quit(self) -> None:
        """Say QUIT and hang up without waiting for the 221. RFC 5321 §4.1.1.10 says a client
        SHOULD wait for it; a probe that has learnt what it came for does not, to save the
        round trip (issue 15 #4): the server has nothing left to say. QUIT is still said, so
        the server ends the session as a normal one (Exim logs no TLS error for it:
        tests/test_exim.py)."""
        self.st.phase = "quit"
        try:
            await self.send("QUIT")
        except _Stop:
            pass


def _not_smtp_reason(exc: ProtocolError) -> str:
    text = str(exc)
    if "HTTP/" in text:
        return f"an HTTP server answered, not SMTP ({text})"
    if "SSH-" in text:
        return f"an SSH server answered, not SMTP ({text})"
    return f"not an SMTP greeting: {text}"


def _lookup_error(host: str, exc: NameLookupFailed) -> str:
    """The record's error for a name that did not resolve."""
    if exc.cause == "lookup":
        return f"{host} could not be resolved: {exc}"
    if exc.cause == "timeout":
        return f"looking up {host} timed out"
    return str(exc)
