"""The whole probe over one or more connections: :func:`run_sessions`.

One :class:`~smtplab.engine.conversation.Conversation` session, and the retries auto mode
allows: implicit TLS after a silent cleartext try, plain SMTP after a cleartext answer on a
TLS port, and — only where this Python cannot hand over an unverified chain — a reconnect
without verification to read a certificate that failed it.
"""

from __future__ import annotations

from smtplab.engine.conversation import (
    Conversation,
    _CertRejected,
    _CleartextOnTLSPort,
    _Silent,
    _Stop,
)
from smtplab.engine.result import ProbeState
from smtplab.engine.wire import NetworkFactory
from smtplab.findings import Finding

__all__ = ["run_sessions"]


async def run_sessions(st: ProbeState, make_network: NetworkFactory | None = None) -> None:
    """The whole probe: one session, and the retries auto mode allows (implicit TLS after a
    silent cleartext try, plain SMTP after a cleartext answer on a TLS port, a reconnect
    without verification to read a certificate that failed it)."""
    o = st.opts
    conv = Conversation(st, make_network)
    implicit = o.mode == "tls" or (o.mode == "auto" and o.port == 465)
    verify = o.verify
    cert_error: str | None = None
    found_implicit = False
    attempts = 0
    while True:
        attempts += 1
        try:
            await conv.session(implicit, verify)
            break
        except _CertRejected as exc:
            cert_error = exc.reason
            st.event("reconnect")
            verify = False
        except _Silent as exc:
            if o.mode == "auto" and not implicit and attempts == 1:
                first_try = dict(st.values)  # what the cleartext connection found (connect_ms)
                st.event("retry", "implicit_tls", cause="implicit_tls")
                implicit = found_implicit = True
                try:
                    await conv.session(implicit, verify)
                    break
                except _CertRejected as exc2:
                    cert_error = exc2.reason
                    st.event("reconnect")
                    verify = False
                    continue
                except _Stop as stop:
                    found_implicit = False
                    if stop.outcome == "tls_failed":  # TLS answered, too slowly or wrongly
                        raise
                    st.values = first_try  # report the cleartext connection that stayed silent
                    st.event("retry_failed")
            raise _Stop("silent", exc.error) from None
        except _CleartextOnTLSPort:
            if o.mode == "auto" and implicit and attempts == 1:
                st.event("retry", "plain", cause="plain")
                st.extra.append(
                    Finding(
                        "wrong_tls_mode",
                        "medium",
                        f"Port {o.port} speaks plain SMTP (with STARTTLS if offered), not "
                        "implicit TLS: a client set to SSL/TLS here fails with "
                        "WRONG_VERSION_NUMBER.",
                    )
                )
                implicit = False
                continue
            st.extra.append(
                Finding(
                    "wrong_tls_mode",
                    "medium",
                    "The server answered the TLS handshake in cleartext (WRONG_VERSION_NUMBER): "
                    "this port expects plain SMTP with STARTTLS, not implicit TLS. Try mode "
                    "'starttls'.",
                )
            )
            raise
        if attempts > 4:  # pragma: no cover - a safety net; each path above ends sooner
            break
    if found_implicit:  # only now that it answered (a deadline may end the retry first)
        st.extra.append(
            Finding(
                "implicit_tls_detected",
                "info",
                f"Port {o.port} stayed silent in cleartext and answered once TLS was started "
                "first: it speaks implicit TLS.",
            )
        )
    if cert_error is not None:
        st.set(cert_verified=False, cert_error=cert_error)
