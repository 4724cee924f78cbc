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
from smtplab.findings import Finding
from smtplab.protocol import (
    MAX_AUTH_LINE,
    MAX_COMMAND,
    Capabilities,
    ProtocolError,
    Reply,
    build_command,
    parse_ehlo,
)
from smtplab.rules import AUTH_TLS_VERSIONS, TLS_PORTS
from smtplab.tls import client_context, describe_handshake_error

__all__ = ["CONNECT_OUTCOMES", "RELAY_CHECK_RCPT", "Conversation"]

#: Where the relay check sends its test recipient: a domain reserved by RFC 2606, so even an
#: open relay could never deliver (and we never send DATA anyway).
RELAY_CHECK_RCPT: Final = "smtplab-relay-check@example.net"


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


def test_message(sender: str, to: str, host: str, port: int) -> bytes:
    """The short message ``--send-test`` sends: headers, two lines of text, CRLF endings; no
    line begins with a dot, so no dot-stuffing is needed (RFC 5321 §4.5.2)."""
    import email.utils

    lines = [
        f"From: <{sender}>",
        f"To: <{to}>",
        "Subject: smtplab test message",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"Message-ID: {email.utils.make_msgid(domain='smtplab.invalid')}",
        "",
        f"This is a test from smtplab doctor --send-test, through {host} port {port}.",
        "The login worked and this message was accepted; nothing else was sent.",
    ]
    return "".join(f"{line}\r\n" for line in lines).encode("ascii", "replace")


def _test_refused(what: str, code: int) -> Finding:
    return live_finding(
        "test_refused", "medium", f"The test message was refused at {what}: {code}."
    )


class Conversation:
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

    async def auth_check(self, caps: Capabilities | None) -> bool:
        """Log in once with the given credentials: only over TLS whose certificate was verified
        for the host (or the lab's legacy profile, when allowed). True when the login succeeded.

        ``o.auth_mechanism`` ``XOAUTH2`` sends the secret as an OAuth token (Google's and
        Microsoft's XOAUTH2: ``user=U^Aauth=Bearer T^A^A`` in base64), redacted like PLAIN."""
        o, st = self.o, self.st
        assert o.auth is not None
        st.phase = "auth"
        encrypted = bool(st.values.get("tls_version"))
        if not encrypted and not o.allow_cleartext_auth:
            st.event("auth_skipped", "cleartext", cause="cleartext")
            st.extra.append(
                live_finding(
                    "auth_not_attempted",
                    "info",
                    "The AUTH check did not send the password: the connection is not encrypted.",
                )
            )
            return False
        if encrypted and st.values.get("cert_verified") is not True:
            why = st.cert_rejected or "certificate verification was turned off"
            st.event("auth_skipped", "unverified", cause="unverified")
            st.extra.append(
                live_finding(
                    "auth_skipped_unverified",
                    "info",
                    "The AUTH check did not send the password: the server's certificate was not "
                    f"verified for {o.host} ({why}), so anyone in the middle could have read it.",
                )
            )
            return False
        if encrypted and st.values.get("tls_version") not in AUTH_TLS_VERSIONS:
            st.event("auth_skipped", "old_tls", cause="old_tls")
            st.extra.append(
                live_finding(
                    "auth_skipped_unverified",
                    "info",
                    "The AUTH check did not send the password: the session is "
                    f"{st.values.get('tls_version')}, older than a verifying client accepts.",
                )
            )
            return False
        mechs = tuple(getattr(caps, "auth", ()) or ())
        user, password = o.auth  # used only to build the AUTH lines, which are redacted
        if o.auth_mechanism == "XOAUTH2":
            if "XOAUTH2" not in mechs:
                st.extra.append(
                    live_finding(
                        "auth_unavailable",
                        "medium",
                        "The AUTH check could not send the token: the server does not offer "
                        "XOAUTH2 here.",
                    )
                )
                return False
            import base64

            token = f"user={user}\x01auth=Bearer {password}\x01\x01"
            reply = await self.auth_start("XOAUTH2", base64.b64encode(token.encode()).decode())
            if reply.code == 334:  # an error as a JSON challenge: an empty line asks the verdict
                await self.send("")
                reply = await self.reply("AUTH")
        elif "PLAIN" in mechs:
            import base64

            payload = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            reply = await self.auth_start("PLAIN", payload)
        elif "LOGIN" in mechs:
            import base64

            await self.send("AUTH", "LOGIN")
            reply = await self.reply("AUTH")
            for secret in (user, password):
                if reply.code != 334:
                    break
                await self.send(base64.b64encode(secret.encode()).decode(), limit=MAX_AUTH_LINE)
                reply = await self.reply("AUTH")
        else:
            st.extra.append(
                live_finding(
                    "auth_unavailable",
                    "medium",
                    "The AUTH check could not log in: the server offers neither PLAIN nor LOGIN "
                    "here.",
                )
            )
            return False
        if reply.code == 235:
            where = "over TLS" if encrypted else "IN CLEARTEXT (lab legacy profile)"
            st.extra.append(live_finding("auth_ok", "info", f"The login check succeeded {where}."))
            return True
        st.extra.append(
            live_finding("auth_failed", "medium", f"The login check was refused with {reply.code}.")
        )
        return False

    async def auth_start(self, mechanism: str, initial: str) -> Reply:
        """``AUTH mechanism initial`` when it fits SMTP's 512-octet command line; else, as RFC
        4954 §4 says (the client "MUST NOT use the initial response parameter"), ``AUTH
        mechanism`` alone and the initial response as the answer to the server's empty ``334``
        challenge, on a line of up to 12288 octets (an OAuth token is often longer than 512).
        Returns the reply that follows. Every AUTH line is redacted as it is written."""
        if len(f"AUTH {mechanism} {initial}\r\n") <= MAX_COMMAND:
            await self.send("AUTH", f"{mechanism} {initial}")
            return await self.reply("AUTH")
        await self.send("AUTH", mechanism)
        reply = await self.reply("AUTH")
        if reply.code != 334:
            return reply
        await self.send(initial, limit=MAX_AUTH_LINE)
        return await self.reply("AUTH")

    async def send_test_message(self, to: str) -> None:
        """After a login that succeeded, over the same session: MAIL FROM the user, RCPT TO
        ``to`` only, and a short test message (``smtplab doctor --login U --send-test TO``)."""
        st, o = self.st, self.o
        assert self.stream is not None and o.auth is not None
        st.phase = "send-test"
        st.event("check", "send_test", check="send_test")
        sender = o.auth[0] if "@" in o.auth[0] else f"{o.auth[0]}@{o.host}"
        steps = (("MAIL", f"FROM:<{sender}>"), ("RCPT", f"TO:<{to}>"), ("DATA", None))
        for verb, arg in steps:
            await self.send(verb, arg)
            reply = await self.reply(verb)
            if reply.code not in (250, 251, 354):
                st.extra.append(_test_refused(verb, reply.code))
                await self.send("RSET")
                await self.reply("RSET")
                return
        body = test_message(sender, to, o.host, o.port)
        st.client(f"[a test message of {len(body)} octets]")
        await self.stream.write(body + b".\r\n", o.timeout)
        reply = await self.reply("DATA")
        if reply.code == 250:
            st.extra.append(
                live_finding("test_sent", "info", f"The test message to {to} was accepted.")
            )
        else:
            st.extra.append(_test_refused("the message", reply.code))

    async def tls_required_check(self) -> Reply | None:
        """Before any TLS, try MAIL FROM: a submission port must refuse it (RFC 8314 §3.3 asks
        servers to require TLS; aiosmtpd, Postfix and Exchange answer 530). Never RCPT or DATA.
        Returns the refusal, whose reason :meth:`why_mail_was_refused` finds out after TLS."""
        st, o = self.st, self.o
        st.phase = "tls-required"
        st.event("check", "tls_required", check="tls_required")
        await self.send("MAIL", "FROM:<smtplab-probe@example.org>")
        mail = await self.reply("MAIL")
        if mail.code == 250:
            await self.send("RSET")
            await self.reply("RSET")
            severity = "high" if o.port in TLS_PORTS else "low"
            st.extra.append(
                live_finding(
                    "mail_before_tls_accepted",
                    severity,
                    "The server accepted MAIL before any TLS: a client that does not insist on TLS "
                    "could send its message, and on a submission port its password, unencrypted.",
                )
            )
        elif mail.code >= 500:
            return mail
        else:
            st.extra.append(
                live_finding(
                    "tls_required_unclear",
                    "info",
                    f"Mail before TLS got {mail.code} ({mail.text}), neither a yes nor a refusal.",
                )
            )
        return None

    async def why_mail_was_refused(self, before: Reply) -> None:
        """MAIL was refused before TLS: ask again once TLS is up (still no RCPT, no DATA). A
        server that now accepts wanted encryption; one that gives the same answer wanted a
        login (Haraka's ``550 Authentication required`` on 587), not encryption."""
        st = self.st
        said = f"{before.code} ({before.text})"
        if not st.values.get("tls_version"):  # no TLS came up: the reason stays a guess
            st.extra.append(
                live_finding(
                    "tls_required",
                    "info",
                    f"Mail before TLS was refused with {said}: this port seems to insist on "
                    "encryption first (no TLS session came up to ask again).",
                )
            )
            return
        st.phase = "tls-required"
        st.event("check", "tls_required_again", check="tls_required_again")
        await self.send("MAIL", "FROM:<smtplab-probe@example.org>")
        after = await self.reply("MAIL")
        if after.code == 250:
            await self.send("RSET")
            await self.reply("RSET")
            code, message = "tls_required", "it insists on encryption first, and only that."
        elif (after.code, after.text) == (before.code, before.text):
            code = "mail_needs_login"
            message = (
                "it gave the same answer after STARTTLS: it needs a login, not encryption "
                "(whether it also insists on TLS, this cannot tell)."
            )
        else:
            code = "tls_required"
            message = (
                f"after STARTTLS it answered {after.code} ({after.text}): it insists on "
                "encryption first, and then on a login."
            )
        st.extra.append(
            live_finding(code, "info", f"Mail before TLS was refused with {said}; {message}")
        )

    async def relay_check(self) -> None:
        st = self.st
        st.phase = "relay"
        st.event("check", "relay", check="relay")
        await self.send("MAIL", "FROM:<smtplab-probe@example.org>")
        mail = await self.reply("MAIL")
        if mail.code != 250:
            st.set(relay_check="denied")
            return
        await self.send("RCPT", f"TO:<{RELAY_CHECK_RCPT}>")
        rcpt = await self.reply("RCPT")
        st.set(relay_check="accepted" if rcpt.code in (250, 251) else "denied")
        await self.send("RSET")
        await self.reply("RSET")

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
