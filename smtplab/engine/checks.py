"""The checks a probe may make on a session once it is up, each only when asked: a login
(``auth``), a test message after it (``send_test``), whether the port refuses mail before TLS
(``tls_required_check``) and whether it relays to a foreign domain (``relay_check``).

They are the second half of :class:`~smtplab.engine.conversation.Conversation`, which inherits
them: they speak through its :meth:`send` and :meth:`reply`, and write what they learn into its
:class:`~smtplab.engine.result.ProbeState` as findings.
"""

from __future__ import annotations

from typing import Final

from smtplab.catalogue import live_finding
from smtplab.engine.options import ProbeOptions
from smtplab.engine.result import ProbeState
from smtplab.engine.wire import Stream
from smtplab.findings import Finding
from smtplab.protocol import MAX_AUTH_LINE, MAX_COMMAND, Capabilities, Reply
from smtplab.rules import AUTH_TLS_VERSIONS, TLS_PORTS

__all__ = ["RELAY_CHECK_RCPT", "SessionChecks", "test_message"]

#: Where the relay check sends its test recipient: a domain reserved by RFC 2606, so even an
#: open relay could never deliver (and we never send DATA anyway).
RELAY_CHECK_RCPT: Final = "smtplab-relay-check@example.net"


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


class SessionChecks:
    """The optional checks of a session; :class:`~smtplab.engine.conversation.Conversation`
    provides the state, the stream and the two ways to speak."""

    st: ProbeState
    o: ProbeOptions
    stream: Stream | None

    async def send(self, verb: str, arg: str | None = None, *, limit: int = MAX_COMMAND) -> None:
        raise NotImplementedError  # the conversation's

    async def reply(self, what: str, timeout: float | None = None) -> Reply:
        raise NotImplementedError  # the conversation's

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

    async def _try_mail(self) -> Reply:
        """MAIL FROM the probe's own address, and nothing more: never RCPT or DATA; a ``250``
        is taken back at once with RSET."""
        await self.send("MAIL", "FROM:<smtplab-probe@example.org>")
        mail = await self.reply("MAIL")
        if mail.code == 250:
            await self.send("RSET")
            await self.reply("RSET")
        return mail

    async def tls_required_check(self) -> Reply | None:
        """Before any TLS, try MAIL FROM: a submission port must refuse it (RFC 8314 §3.3 asks
        servers to require TLS; aiosmtpd, Postfix and Exchange answer 530). Never RCPT or DATA.
        Returns the refusal, whose reason :meth:`why_mail_was_refused` finds out after TLS."""
        st, o = self.st, self.o
        st.phase = "tls-required"
        st.event("check", "tls_required", check="tls_required")
        mail = await self._try_mail()
        if mail.code == 250:
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
        after = await self._try_mail()
        if after.code == 250:
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
