"""TLS contexts and certificate facts for the probe.

Two questions are kept apart on purpose, because Python's own ``smtplib`` blurs them: is the
connection **encrypted** (a TLS handshake happened, with this version and cipher), and is the
server **authenticated** (its certificate chains to a trusted CA and names the host we asked
for). A self-signed certificate gives the first without the second.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import os
import ssl
import warnings
from dataclasses import dataclass

from smtplab.certcheck import (  # the second half of this module, re-exported
    _HASHED,
    CERT_PROBLEM_KINDS,
    HANDS_OVER_CHAIN,
    MIN_EC_BITS,
    MIN_RSA_BITS,
    CertProblem,
    ChainVerdict,
    certificate_problems,
    judge_session_certificate,
    leaf_problems,
    name_matches,
    problems_from_verify_error,
    trust_from_verify_error,
    unverified_chain_der,
    verify_chain,
    verify_error_parts,
)

__all__ = [
    "CERT_PROBLEM_KINDS",
    "HANDS_OVER_CHAIN",
    "MIN_EC_BITS",
    "MIN_RSA_BITS",
    "CertFacts",
    "CertProblem",
    "ChainVerdict",
    "cert_chain_names",
    "cert_facts",
    "cert_facts_from_dict",
    "certificate_problems",
    "client_context",
    "describe_handshake_error",
    "describe_verify_error",
    "judge_session_certificate",
    "leaf_dict",
    "leaf_problems",
    "name_matches",
    "problems_from_verify_error",
    "trust_from_verify_error",
    "unverified_chain_der",
    "verify_chain",
    "verify_error_parts",
    "warm_up",
]


@dataclass(frozen=True)
class CertFacts:
    """What a server certificate says, read with ``cryptography``."""

    subject: str | None
    issuer: str | None
    not_after: str | None  # ISO-8601 UTC
    san: tuple[str, ...]
    self_signed: bool


@functools.lru_cache(maxsize=16)
def client_context(
    *, verify: bool, cadata: str | None = None, cafile: str | None = None
) -> ssl.SSLContext:
    """A client context for probing.

    ``verify=True`` checks the chain and the host name (the system CAs, or the given CA, such as
    the lab's). ``verify=False`` accepts any certificate so that its facts can still be read, and
    admits TLS 1.0 and 1.1 so that an outdated server is *reported* (RFC 8997) rather than missed.
    Contexts are cached (loading the system CAs takes tens of milliseconds) and never changed
    after creation, so sharing them is safe.
    """
    if verify:
        ctx = (
            _system_store_context()
            if cadata is None and cafile is None
            else (ssl.create_default_context(cadata=cadata, cafile=cafile))
        )
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():  # deprecated on purpose: we report old TLS, not use it
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):  # a build without old protocols: report what we can
            pass
    return ctx


def warm_up(cafile: str | None = None, cadata: str | None = None) -> None:
    """Read the trust store of the verifying context ahead of need: the one OpenSSL judges a
    handed-over chain against (a probe does it in a thread while it waits for the network)."""
    client_context(verify=True, cafile=cafile, cadata=cadata)


def _system_store_context() -> ssl.SSLContext:
    """A verifying context on the system's trusted CAs, loaded lazily where the system allows.

    ``create_default_context()`` reads the whole CA bundle (about 25 ms, every process). Where
    the system keeps a hashed CA directory (Debian's /etc/ssl/certs), OpenSSL can look up just
    the issuer it needs there instead. ``SSL_CERT_FILE``/``SSL_CERT_DIR`` keep their meaning.
    """
    paths = ssl.get_default_verify_paths()
    capath = paths.capath
    if (
        capath
        and not os.environ.get(paths.openssl_cafile_env)
        and not os.environ.get(paths.openssl_capath_env)
        and os.path.isdir(capath)
    ):
        with os.scandir(capath) as entries:
            hashed = any(_HASHED.match(e.name) for e in entries)
        if hashed:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(capath=capath)
            return ctx
    return ssl.create_default_context()


# Python's decoded-certificate names -> the RFC 4514 short names cryptography prints, so both
# paths write the same text into records.
_RDN_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def _rfc4514_escape(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def _rfc4514(name: object) -> str | None:
    rdns = []
    for rdn in name or ():  # type: ignore[attr-defined]
        parts = []
        for attr, value in rdn:
            short = _RDN_NAMES.get(attr)
            if short is None:
                return None  # an attribute we cannot name as cryptography does: parse the DER
            parts.append(f"{short}={_rfc4514_escape(value)}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


def cert_facts_from_dict(cert: dict[str, object] | None) -> CertFacts | None:
    """Facts from ``SSLObject.getpeercert()`` (only filled in for a verified session)."""
    if not cert:
        return None
    subject, issuer = _rfc4514(cert.get("subject")), _rfc4514(cert.get("issuer"))
    not_after = cert.get("notAfter")
    if subject is None or issuer is None or not isinstance(not_after, str):
        return None

    names = []
    for kind, value in cert.get("subjectAltName", ()) or ():  # type: ignore[attr-defined]
        if kind == "DNS":
            names.append(str(value))
        elif kind == "IP Address":
            names.append(str(ipaddress.ip_address(str(value).strip())))
    dns = [n for n in names if not _is_ip_text(n)]
    ips = [n for n in names if _is_ip_text(n)]
    when = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), dt.timezone.utc)
    return CertFacts(subject, issuer, when.isoformat(), tuple(dns + ips), subject == issuer)


def leaf_dict(sslobj: object) -> dict[str, object] | None:
    """The server's certificate decoded by Python itself, like ``getpeercert()`` of a verified
    session, from the handed-over chain of a session that did not verify it (``None`` where
    this Python does not hand it over)."""
    get = getattr(getattr(sslobj, "_sslobj", None), "get_unverified_chain", None)
    if get is None:
        return None
    try:
        certs = get() or ()
        info = certs[0].get_info() if certs else None
    except Exception:  # a private call that changed shape: cryptography reads the DER
        return None
    return info if isinstance(info, dict) else None


def cert_chain_names(sslobj: object) -> tuple[tuple[str, str], ...] | None:
    """The subject and issuer of each certificate the server sent, leaf first, read from the
    certificates Python decodes itself (no ``cryptography``), verified session or not.
    ``None`` where this Python does not hand over the chain (or a name cannot be spelt as
    RFC 4514 short names)."""
    # The C object's own call: decoded certificates on 3.10 to 3.13 alike (3.13's public
    # get_unverified_chain() turns them into DER, which would need cryptography to read)
    get = getattr(getattr(sslobj, "_sslobj", sslobj), "get_unverified_chain", None)
    if get is None:
        return None
    try:
        certs = get() or ()
        out = []
        for c in certs:
            info = c.get_info()
            subject, issuer = _rfc4514(info.get("subject")), _rfc4514(info.get("issuer"))
            if subject is None or issuer is None:
                return None
            out.append((subject, issuer))
        return tuple(out)
    except Exception:  # a private call that changed shape: the chain stays unknown
        return None


def _is_ip_text(text: str) -> bool:

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def cert_facts(der: bytes | None) -> CertFacts | None:
    """Subject, issuer, expiry and names of a DER certificate (``None`` if there is none)."""
    if not der:
        return None
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return CertFacts(None, None, None, (), False)
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = [str(n) for n in san_ext.value.get_values_for_type(x509.DNSName)]
        names += [str(a) for a in san_ext.value.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    not_after = cert.not_valid_after_utc
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=not_after.isoformat(),
        san=tuple(names),
        self_signed=cert.subject == cert.issuer,
    )


def describe_verify_error(exc: BaseException) -> str:
    """A short, stable reason for a failed verification (``certificate has expired``, …)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        msg = exc.verify_message or str(exc)
        return msg
    return str(exc) or type(exc).__name__


def describe_handshake_error(exc: BaseException) -> str:
    """Explain a TLS handshake failure, naming the commonest mix-up in plain words."""
    text = str(exc) or type(exc).__name__
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text.lower():
        return (
            f"{text} — the server answered in cleartext: this port expects plain SMTP with "
            "STARTTLS, not implicit TLS"
        )
    return text
