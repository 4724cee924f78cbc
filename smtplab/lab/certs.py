"""Certificates for the lab: one lab CA, and server certificates good and bad.

A real mail server proves who it is with a certificate that a certificate authority (CA) signed.
The lab plays both parts: it makes its own small CA, hands the CA's certificate to clients
(``lab.ca_pem``), and signs a certificate for each lab host with it. A client that trusts the lab CA
can then verify ``smtp.lab.example`` exactly as it would verify ``smtp.gmail.com`` against the
system's CAs.

Three *bad* certificates teach what verification protects against:

``expired``
    signed by the lab CA, but its validity ended on 1 January 2020;
``self-signed``
    signed by its own key, not by any CA the client trusts;
``wrong-host``
    signed by the lab CA, but issued to another name (``mail.other.example``).

Keys are ECDSA P-256: generating one takes well under a millisecond, where a 2048-bit RSA key takes
tens of milliseconds, so a lab starts fast. Everything is generated once per process, kept in memory
and reused by every lab; nothing is written to disk except for the instant it takes
:meth:`ssl.SSLContext.load_cert_chain` (which only reads files) to read it back. A lab with a
folder (``smtplab lab``) keeps its CA there instead (:func:`keep_ca_in`), so it stays the same
from one run to the next.
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smtplab.lab.folder import LabFolder

__all__ = [
    "CERTIFICATE_KINDS",
    "CertificatePair",
    "ca_pem",
    "certificate",
    "keep_ca_in",
    "server_context",
    "service_certificate",
]

#: The kinds of server certificate the lab can present. ``lab-ca`` is the good one.
CERTIFICATE_KINDS: Final = ("lab-ca", "expired", "self-signed", "wrong-host")

#: The name the ``wrong-host`` certificate is issued to (not the host that presents it).
WRONG_HOST_NAME: Final = "mail.other.example"

# Validity periods.  Good leaf certificates live 90 days, as Let's Encrypt certificates do; the CA
# ten years, a typical private-CA lifetime.  Both start a day in the past so that a client whose
# clock is a little behind still accepts them.
_LEAF_DAYS: Final = 90
_CA_DAYS: Final = 3650
_CLOCK_SKEW: Final = _dt.timedelta(days=1)
# The expired certificate has fixed dates, so lessons can quote them.
_EXPIRED_FROM: Final = _dt.datetime(2019, 1, 1, tzinfo=_dt.timezone.utc)
_EXPIRED_UNTIL: Final = _dt.datetime(2020, 1, 1, tzinfo=_dt.timezone.utc)


@dataclass(frozen=True)
class CertificatePair:
    """A certificate and its private key, both PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes


_lock = threading.Lock()
_ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None
_pairs: dict[tuple[str, str], CertificatePair] = {}
_contexts: dict[tuple[str, str], ssl.SSLContext] = {}


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smtplab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _get_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The process's lab CA (made on first use; call with ``_lock`` held)."""
    global _ca  # noqa: PLW0603  (one CA per process, made lazily under _lock)
    if _ca is None:
        key = _new_key()
        name = _name("smtplab lab CA")
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            # From before the expired certificate's start, so only the leaf is "expired".
            .not_valid_before(_EXPIRED_FROM - _CLOCK_SKEW)
            .not_valid_after(_now() + _dt.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        _ca = (cert, key)
    return _ca


def _leaf(host: str, kind: str) -> CertificatePair:
    """Make a server certificate for ``host`` of the given kind (call with ``_lock`` held)."""
    key = _new_key()
    san_name = WRONG_HOST_NAME if kind == "wrong-host" else host
    if kind == "self-signed":
        issuer_name, signing_key = _name(san_name), key
        issuer_ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    else:
        ca_cert, signing_key = _get_ca()
        issuer_name = ca_cert.subject
        issuer_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    if kind == "expired":
        not_before, not_after = _EXPIRED_FROM, _EXPIRED_UNTIL
    else:
        not_before = _now() - _CLOCK_SKEW
        not_after = _now() + _dt.timedelta(days=_LEAF_DAYS)
    return _signed(
        key, san_name, [x509.DNSName(san_name)], issuer_name, signing_key, issuer_ski,
        not_before, not_after,
    )  # fmt: skip


def _signed(
    key: ec.EllipticCurvePrivateKey,
    subject: str,
    sans: list[x509.GeneralName],
    issuer_name: x509.Name,
    signing_key: ec.EllipticCurvePrivateKey,
    issuer_ski: x509.SubjectKeyIdentifier,
    not_before: _dt.datetime,
    not_after: _dt.datetime,
) -> CertificatePair:
    """A TLS server certificate for ``sans``: the extensions a verifying client (and Python
    3.13's strict mode) expects of a leaf."""
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .sign(signing_key, hashes.SHA256())
    )
    return CertificatePair(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


#: A kept CA is used while it has this long left; nearer its end a new one is made and kept.
_KEEP_MARGIN: Final = _dt.timedelta(days=30)


def keep_ca_in(folder: LabFolder) -> None:
    """Use the CA kept in ``folder`` for this process, or keep this process's new CA there.

    So ``smtplab lab`` and the class collector present certificates from the same CA in every
    run, and a CA file that learners were given once keeps working. The key is kept beside the
    certificate with mode 0600 in the folder (mode 0700), as ``mkcert`` keeps its own. A kept CA
    that cannot be read, does not match its key, has under 30 days left, or whose key file
    others could write, is replaced by a new one. If this process has already made its CA (a
    lab without a folder ran first), that CA stays, and is the one kept."""
    global _ca  # noqa: PLW0603  (one CA per process)
    with _lock:
        if _ca is None:
            _ca = _read_kept(folder)
            if _ca is not None:
                return  # the kept CA, as it is
        cert, key = _get_ca()
        kept = _read_kept(folder)
        if kept is None or kept[0] != cert:
            folder.write_ca_pair(
                cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )


def _read_kept(folder: LabFolder) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    kept = folder.read_ca()
    if kept is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(kept[0])
        key = serialization.load_pem_private_key(kept[1], password=None)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not constraints.ca:
        return None
    if cert.public_key() != key.public_key():
        return None
    if cert.not_valid_after_utc - _now() < _KEEP_MARGIN:
        return None
    return cert, key


def ca_pem() -> str:
    """The PEM text of the lab CA's certificate: what a client must trust to verify the lab."""
    with _lock:
        cert, _ = _get_ca()
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate(host: str, kind: str = "lab-ca") -> CertificatePair:
    """The (cached) server certificate of ``kind`` that ``host`` presents."""
    if kind not in CERTIFICATE_KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}; choose from {CERTIFICATE_KINDS}")
    with _lock:
        pair = _pairs.get((host, kind))
        if pair is None:
            pair = _pairs[(host, kind)] = _leaf(host, kind)
    return pair


def server_context(host: str, kind: str = "lab-ca") -> ssl.SSLContext:
    """A server-side TLS context presenting ``host``'s certificate of ``kind`` (cached per process).

    TLS 1.2 is the floor, as RFC 8996 deprecated TLS 1.0 and 1.1 and RFC 8314 asks submission
    servers for TLS 1.2 or later.
    """
    pair = certificate(host, kind)
    with _lock:
        ctx = _contexts.get((host, kind))
        if ctx is not None:
            return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain() reads only files: write one, read it, delete it at once.
        fd, path = tempfile.mkstemp(prefix="smtplab-cert-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pair.cert_pem + pair.key_pem)
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
        _contexts[(host, kind)] = ctx
    return ctx


def service_certificate(names: list[str]) -> CertificatePair:
    """A server certificate signed by the lab CA for several ``names`` (DNS names or IP
    addresses, each in the subject alternative names as its own kind): for a service on the
    classroom's network, such as the class collector, that learners reach by the teacher's
    address. Not cached: made when asked."""
    import ipaddress

    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    if not sans:
        raise ValueError("a service certificate needs at least one name")
    key = _new_key()
    with _lock:
        ca_cert, ca_key = _get_ca()
    issuer_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return _signed(
        key, names[0], sans, ca_cert.subject, ca_key, issuer_ski,
        _now() - _CLOCK_SKEW, _now() + _dt.timedelta(days=_LEAF_DAYS),
    )  # fmt: skip
