"""SMTP servers for ``tests/netns.py``, run inside a test's own network namespace.

    python netns_servers.py '{"25": "impostor", "465": "tls10"}' CAFILE NAME [BIND]

Each port gets one behaviour; the lab's CA is written to CAFILE; "ready" is printed once every
port listens on BIND (default 127.0.0.1, the namespace's own loopback; a namespace that serves
others over its links gives 0.0.0.0). Behaviours:

``good``       aiosmtpd as NAME with a certificate from the lab's CA (STARTTLS; 465: implicit)
``impostor``   an interceptor: aiosmtpd as gw.hotel.example with a self-signed certificate
``tls10``      like ``good``, but TLS 1.0 and nothing newer
``hostile``    a scripted peer whose greeting and EHLO reply carry ESC, C1, BEL and U+202E
``hostile_tls`` implicit TLS with a self-signed certificate whose name carries the same, then
               the hostile greeting
``strip_inject`` ``good`` on port + 20000, behind the lab's STARTTLS-stripping middlebox on
               the port, which also injects ``250-AUTH PLAIN LOGIN`` into the cleartext EHLO

With the variable NETNS_AUTH_LOG naming a file, every AUTH command a ``good`` server receives
(also the one behind ``strip_inject``) appends a line ``PORT AUTH MECHANISM tls|cleartext`` to
that file: the servers' own word on whether a secret reached them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smtplab.lab import certs
from smtplab.lab.middlebox import StripStartTLS

IMPOSTOR = "gw.hotel.example"
HOSTILE_NAME = "gw\x1b]0;owned\x07\x1b[2J\u202eelpmaxe.\u009b31m"
HOSTILE_GREETING = (
    b"220 \x1b[2J\x1b]0;owned\x07mail.test.example \xc2\x9b31m \x07 \xe2\x80\xaeLIAM-E ESMTP\r\n"
)
HOSTILE_EHLO = (
    b"250-\x1b[31mgw.hostile\xe2\x80\xae.example\r\n"
    b"250-AUTH PLAIN \x1b[5mLOGIN\xc2\x9b\r\n"
    b"250 SIZE 1000\r\n"
)


class Handler:
    pass


AUTH_LOG_ENV = "NETNS_AUTH_LOG"
AUTH_LOG: Path | None = None


class Logged(SMTP):
    """aiosmtpd that notes each AUTH command it receives (the mechanism, never the payload)."""

    async def smtp_AUTH(self, arg: str) -> None:
        if AUTH_LOG is not None:
            port = self.transport.get_extra_info("sockname")[1] if self.transport else 0
            mech = (arg or "").split(" ")[0]
            implicit = self.transport and self.transport.get_extra_info("sslcontext")
            tls = "tls" if self.session.ssl is not None or implicit else "cleartext"
            with AUTH_LOG.open("a") as f:
                f.write(f"{port} AUTH {mech} {tls}\n")
        await super().smtp_AUTH(arg)


Logged.smtp_AUTH.__dict__.update(SMTP.smtp_AUTH.__dict__)  # aiosmtpd's syntax and auth marks


def refuse(*args: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


def hostile_context() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE_NAME)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("gw.hostile.example")]), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _context(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def _context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    folder = Path(tempfile.mkdtemp())
    (folder / "c.pem").write_bytes(cert_pem)
    (folder / "k.pem").write_bytes(key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / "c.pem", folder / "k.pem")
    return ctx


def tls10(host: str) -> ssl.SSLContext:
    """A context of its own (the lab's are shared), for TLS 1.0 and nothing newer."""
    pair = certs.certificate(host)
    ctx = _context(pair.cert_pem, pair.key_pem)
    with warnings.catch_warnings():  # deprecated on purpose: this server is outdated
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(HOSTILE_GREETING)
    try:
        for _ in range(20):
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line or line.upper().startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                break
            if line.upper().startswith((b"EHLO", b"HELO")):
                writer.write(HOSTILE_EHLO)
            else:
                writer.write(b"502 5.5.1 \x1b[2Jno\r\n")
            await writer.drain()
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, behaviour: str, name: str, bind: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    implicit = port == 465
    if behaviour in ("hostile", "hostile_tls"):
        ctx = hostile_context() if behaviour == "hostile_tls" else None
        await asyncio.start_server(hostile, bind, port, ssl=ctx)
        return
    if behaviour == "strip_inject":
        await serve(port + 20000, "good", name)  # the server behind, on loopback only
        up = ("127.0.0.1", port + 20000)
        await loop.create_server(lambda: StripStartTLS(loop, up, inject_auth=True), bind, port)
        return
    host, kind = (IMPOSTOR, "self-signed") if behaviour == "impostor" else (name, "lab-ca")
    ctx = tls10(host) if behaviour == "tls10" else certs.server_context(host, kind)

    def factory() -> SMTP:
        return Logged(
            Handler(),
            hostname=host,
            tls_context=None if implicit else ctx,
            auth_require_tls=not implicit,
            authenticator=refuse,
        )

    await loop.create_server(factory, bind, port, ssl=ctx if implicit else None)


async def main() -> None:
    global AUTH_LOG
    plan, cafile, name = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    bind = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
    AUTH_LOG = Path(os.environ[AUTH_LOG_ENV]) if os.environ.get(AUTH_LOG_ENV) else None
    Path(cafile).write_text(certs.ca_pem())
    for port, behaviour in plan.items():
        await serve(int(port), behaviour, name, bind)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
