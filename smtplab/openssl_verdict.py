"""OpenSSL's own verdict on a chain that an unverified handshake handed over, in memory.

The probe reads a server's certificate with one handshake that does not verify it (issue 15:
one connection per port, so that a bad certificate can still be described). Whether a
verifying client would have accepted that chain is then asked of OpenSSL itself, here, without
the network: a client :class:`ssl.SSLObject` on the probe's verifying context (its trust store,
host name, purpose, security level and flags) starts a handshake over memory buffers, and is
answered with a TLS 1.2 ServerHello and the chain, exactly as sent, in a Certificate message
(RFC 5246 §7.4.1.3 and §7.4.2). OpenSSL verifies a server's chain as soon as it has the
Certificate message, before anything that would need the server's private key, so the handshake
either fails there with OpenSSL's verification error, or goes on to wait for the next message:
the chain verified. Nothing is sent anywhere; the in-memory session is dropped.

A certificate that verifies is so judged without ``cryptography`` (issue 25, item 9). Every
problem of one that does not is still found by :func:`smtplab.certcheck.verify_chain`.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

__all__ = ["OpenSSLVerdict", "openssl_verdict"]


class OpenSSLVerdict(NamedTuple):
    """What OpenSSL said of a chain: ``verified``, or its error code and message
    (``X509_verify_cert_error_string``: ``certificate has expired``)."""

    verified: bool
    code: int | None = None
    message: str | None = None


#: TLS 1.2 cipher suites to answer with, by the key type of the certificate they need (OpenSSL
#: checks that type only after it has verified the chain). ECDHE with AES-GCM or ChaCha20:
#: what Python's default cipher string offers (RFC 5289 §3.2, RFC 7905 §2).
_RSA_SUITES: Final = (0xC02F, 0xC030, 0xCCA8)
_EC_SUITES: Final = (0xC02B, 0xC02C, 0xCCA9)

_HANDSHAKE: Final = 22  # TLS record content type (RFC 5246 §6.2.1)
_SERVER_HELLO: Final = 2
_CERTIFICATE: Final = 11
_MAX_FRAGMENT: Final = 2**14  # the largest plaintext record (RFC 5246 §6.2.1)
#: The renegotiation_info extension, empty (RFC 5746 §3.6): OpenSSL 3 refuses a server without.
_RENEGOTIATION_INFO: Final = b"\xff\x01\x00\x01\x00"
#: The most certificate bytes a handshake message can carry (a 24-bit length, RFC 5246 §7.4.2).
_MAX_CHAIN: Final = 2**24 - 4


def _offered_suites(client_hello: bytes) -> set[int]:
    """The cipher suites a ClientHello offers (RFC 5246 §7.4.1.2); empty if it cannot be read."""
    try:
        p = 5 + 4 + 2 + 32  # record header, handshake header, client_version, random
        p += 1 + client_hello[p]  # session_id
        (length,) = struct.unpack_from(">H", client_hello, p)
        p += 2
        return {struct.unpack_from(">H", client_hello, i)[0] for i in range(p, p + length, 2)}
    except (IndexError, struct.error):
        return set()


def _message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _records(payload: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(payload), _MAX_FRAGMENT):
        fragment = payload[i : i + _MAX_FRAGMENT]
        out += bytes([_HANDSHAKE, 3, 3]) + len(fragment).to_bytes(2, "big") + fragment
    return bytes(out)


def _server_flight(suite: int, chain: Sequence[bytes]) -> bytes:
    """ServerHello (TLS 1.2, an empty session id, no compression) and Certificate, as records."""
    hello = (
        b"\x03\x03"
        + bytes(32)  # server random: any value but the TLS 1.3 downgrade sentinel
        + b"\x00"
        + suite.to_bytes(2, "big")
        + b"\x00"
        + len(_RENEGOTIATION_INFO).to_bytes(2, "big")
        + _RENEGOTIATION_INFO
    )
    certs = b"".join(len(der).to_bytes(3, "big") + der for der in chain)
    certificate = len(certs).to_bytes(3, "big") + certs
    return _records(_message(_SERVER_HELLO, hello) + _message(_CERTIFICATE, certificate))


def _ask(
    context: ssl.SSLContext, server_name: str, suites: Sequence[int], chain: Sequence[bytes]
) -> OpenSSLVerdict | Literal["retry"] | None:
    """One in-memory handshake: an :class:`OpenSSLVerdict`, ``"retry"`` (the chain verified or
    not, but the leaf's key needs the other kind of suite), or ``None`` (no verdict)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    offered = _offered_suites(outgoing.read())
    suite = next((s for s in suites if s in offered), None)
    if suite is None:
        return None
    incoming.write(_server_flight(suite, chain))
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:  # waiting for ServerKeyExchange: the chain was accepted...
        # ...if OpenSSL did verify this very leaf (its verified chain starts with it)
        return OpenSSLVerdict(True) if _verified_leaf(client) == bytes(chain[0]) else None
    except ssl.SSLCertVerificationError as exc:
        return OpenSSLVerdict(False, exc.verify_code, exc.verify_message)
    except ssl.SSLError as exc:
        return "retry" if exc.reason == "WRONG_CERTIFICATE_TYPE" else None
    return None  # a handshake that completed on these two messages: not one we understand


def _verified_leaf(client: ssl.SSLObject) -> bytes | None:
    """The first certificate of the chain OpenSSL verified, as DER (``None``: none yet). The C
    object's call works mid-handshake on 3.10 and later; 3.13 returns DER, earlier Pythons
    certificate objects."""
    get = getattr(getattr(client, "_sslobj", None), "get_verified_chain", None)
    chain = get() if get is not None else None
    if not chain:
        return None
    first = chain[0]
    if isinstance(first, (bytes, bytearray)):
        return bytes(first)
    return bytes(first.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]


def openssl_verdict(
    chain: Sequence[bytes], server_name: str, context: ssl.SSLContext
) -> OpenSSLVerdict | None:
    """Would a client on ``context`` (a verifying one: ``CERT_REQUIRED``, ``check_hostname``)
    accept ``chain`` (DER, leaf first, as the server sent it) from ``server_name``?

    ``None`` when OpenSSL gives no verdict this way (no chain, a context that does not verify
    or offers no TLS 1.2 ECDHE suite, anything unexpected): then judge the chain another way.
    Never raises.
    """
    if (
        not chain
        or context.verify_mode != ssl.CERT_REQUIRED
        or not context.check_hostname
        or sum(3 + len(der) for der in chain) > _MAX_CHAIN
    ):
        return None
    try:
        for suites in (_RSA_SUITES, _EC_SUITES):
            answer = _ask(context, server_name, suites, chain)
            if answer != "retry":
                return answer
    except (ssl.SSLError, ValueError, TypeError, OSError):  # a name ssl refuses, and the like
        return None
    return None
