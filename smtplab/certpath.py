"""A server's certificate chain, built and checked as OpenSSL's verifier does.

:func:`smtplab.tls.verify_chain` asks two things of the chain a server sent: does it lead to a
trusted root (:func:`build_path`), and is every certificate on that path fit for what it is used
for (:func:`path_problems`). Both follow OpenSSL 3's ``X509_verify_cert`` with the purpose
``sslserver`` and the security level 2 a TLS client sets, so that the probe's one judge and the
handshake Python's ``ssl`` makes agree: issuers are looked up in the trust store first
(``X509_V_FLAG_TRUSTED_FIRST``), then among the certificates the server sent; the purpose is
asked of every certificate on the path, the trusted ones too (a store of plain PEM certificates
carries no trust settings that could lift it); every issuer must be a CA; no certificate may
carry a critical extension OpenSSL does not handle.

Problems come back as ``(kind, detail)`` pairs, each detail in OpenSSL's own words first
(``unsuitable certificate purpose``), so that a detail read back from a record names its kind
(:func:`smtplab.tls.verify_error_parts`).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

    from cryptography import x509

    IPAddress = IPv4Address | IPv6Address | IPv4Network | IPv6Network

__all__ = [
    "OPENSSL_HANDLED_EXTENSIONS",
    "SERVER_AUTH_USAGES",
    "ChainPath",
    "build_path",
    "is_self_signed",
    "name_key",
    "path_problems",
    "signed_by",
]

#: Extended Key Usages that make a certificate fit for a TLS server, as OpenSSL 3 counts them
#: (``check_purpose_ssl_server``: ``XKU_SSL_SERVER | XKU_SGC``). anyExtendedKeyUsage
#: (2.5.29.37.0) is not among them: OpenSSL 3.0 refuses a server whose only usage it is.
SERVER_AUTH_USAGES: Final = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "2.16.840.1.113730.4.1": "nsSGC",
    "1.3.6.1.4.1.311.10.3.3": "msSGC",
}

_USAGE_NAMES: Final = {
    **SERVER_AUTH_USAGES,
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}

#: The extensions OpenSSL 3 handles (``X509_supported_extension``): a critical extension not in
#: this list makes it refuse the certificate (RFC 5280 §4.2), even one as harmless as a key
#: identifier.
OPENSSL_HANDLED_EXTENSIONS: Final = frozenset(
    {
        "2.16.840.1.113730.1.1",  # Netscape certificate type
        "2.5.29.15",  # keyUsage
        "2.5.29.17",  # subjectAltName
        "2.5.29.19",  # basicConstraints
        "2.5.29.32",  # certificatePolicies
        "2.5.29.31",  # cRLDistributionPoints
        "2.5.29.37",  # extKeyUsage
        "1.3.6.1.5.5.7.1.7",  # sbgp-ipAddrBlock (RFC 3779)
        "1.3.6.1.5.5.7.1.8",  # sbgp-autonomousSysNum (RFC 3779)
        "1.3.6.1.5.5.7.48.1.5",  # id-pkix-ocsp-nocheck
        "2.5.29.36",  # policyConstraints
        "1.3.6.1.5.5.7.1.14",  # proxyCertInfo
        "2.5.29.30",  # nameConstraints
        "2.5.29.33",  # policyMappings
        "2.5.29.54",  # inhibitAnyPolicy
    }
)

_NS_CERT_TYPE: Final = "2.16.840.1.113730.1.1"
_NS_SSL_SERVER: Final = 0x40
_NS_ANY_CA: Final = 0x07  # SSL CA, S/MIME CA, object-signing CA

#: How many certificates a path may hold before the search gives up (OpenSSL's default depth is
#: 100; no public chain is longer than five).
MAX_PATH: Final = 16


@dataclass(frozen=True)
class ChainPath:
    """A path from the leaf towards a trusted root.

    ``certs`` starts with the leaf; ``untrusted`` is how many of them the server sent (the rest
    came from the trust store); ``trusted`` whether the path reached the store, and ``reason``
    in OpenSSL's words why not.
    """

    certs: tuple[x509.Certificate, ...]
    untrusted: int
    trusted: bool
    reason: str | None


def name_key(name: x509.Name) -> str:
    """A name in a form to look issuers up by (case-folded RFC 4514 text)."""
    return name.rfc4514_string().casefold()


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` names and signed ``cert``. Quiet about deprecated key types (DSA): a
    warning must not reach a learner's screen, and a key that cannot be read signed nothing."""
    if cert.issuer != issuer.subject:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cert.verify_directly_issued_by(issuer)
            return True
        except ValueError:  # an algorithm it will not check (SHA-1): check it by hand
            pass
        except Exception:  # a bad signature, a key of the wrong type: not this issuer
            return False
        try:
            _check_signature(cert, issuer)
        except Exception:
            return False
    return True


def _check_signature(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Check a signature cryptography's ``verify_directly_issued_by`` refuses to (SHA-1, which
    OpenSSL checks, then refuses under ``weak_signature``). Raises when it does not hold."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key: Any = issuer.public_key()
    params = cert.signature_algorithm_parameters
    digest = cert.signature_hash_algorithm
    if isinstance(params, ec.ECDSA):
        key.verify(cert.signature, cert.tbs_certificate_bytes, params)
    elif params is not None:  # RSA: PKCS #1 v1.5 or PSS padding
        key.verify(cert.signature, cert.tbs_certificate_bytes, params, digest)
    else:  # DSA
        key.verify(cert.signature, cert.tbs_certificate_bytes, digest)


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issued by itself: the same name as subject and issuer (a bad self-signature still makes
    it no CA's certificate)."""
    return cert.subject == cert.issuer


def build_path(
    leaf: x509.Certificate,
    sent: Iterable[x509.Certificate],
    store: Mapping[str, tuple[x509.Certificate, ...]],
    *,
    pinned: bool = False,
) -> ChainPath:
    """The path from ``leaf`` to a trusted root: issuers from ``store`` (by :func:`name_key` of
    their subject) first, then from the certificates the server ``sent``. A ``pinned`` leaf (in
    the store itself) is trusted as it stands."""
    if pinned:
        return ChainPath((leaf,), 1, True, None)
    pool = list(sent)
    path = [leaf]
    while len(path) < MAX_PATH:
        cur = path[-1]
        trusted = next((c for c in store.get(name_key(cur.issuer), ()) if signed_by(cur, c)), None)
        if trusted is not None:
            untrusted = len(path)
            path.append(trusted)
            _extend_from_store(path, store)
            return ChainPath(tuple(path), untrusted, True, None)
        if is_self_signed(cur):
            why = "self-signed certificate" + ("" if len(path) == 1 else " in certificate chain")
            return ChainPath(tuple(path), len(path), False, why)
        issuer = next((c for c in pool if c not in path and signed_by(cur, c)), None)
        if issuer is None:
            return ChainPath(
                tuple(path), len(path), False, "unable to get local issuer certificate"
            )
        path.append(issuer)
    return ChainPath(tuple(path), len(path), False, "certificate chain too long")


def _extend_from_store(
    path: list[x509.Certificate], store: Mapping[str, tuple[x509.Certificate, ...]]
) -> None:
    """Go on from a trusted certificate up to its root, in the store only (so that the root's
    key and dates are checked too, as OpenSSL checks them)."""
    while len(path) < MAX_PATH and not is_self_signed(path[-1]):
        cur = path[-1]
        up = next((c for c in store.get(name_key(cur.issuer), ()) if signed_by(cur, c)), None)
        if up is None or up in path:
            return
        path.append(up)


# --- what each certificate on the path must be -------------------------------------------------


def _ext(cert: x509.Certificate, oid: str) -> object | None:
    """The parsed value of one extension, or ``None`` when it is absent."""
    for e in cert.extensions:
        if e.oid.dotted_string == oid:
            return e.value
    return None


def _ns_cert_type(cert: x509.Certificate) -> int | None:
    """The first byte of a Netscape certificate type (a BIT STRING), or ``None`` without one."""
    value = _ext(cert, _NS_CERT_TYPE)
    raw = getattr(value, "value", None)
    if not isinstance(raw, bytes):
        return None
    return raw[3] if len(raw) >= 4 and raw[0] == 0x03 else 0


def _usage_problem(cert: x509.Certificate, leaf: bool, who: str) -> str | None:
    """Why OpenSSL would find ``cert`` unfit for a TLS server (``check_purpose_ssl_server``),
    or ``None``: an Extended Key Usage without serverAuth; and on the leaf, a Key Usage without
    digitalSignature, keyEncipherment or keyAgreement, or a Netscape type without SSL server."""
    from cryptography import x509 as _x509

    eku = _ext(cert, "2.5.29.37")
    if isinstance(eku, _x509.ExtendedKeyUsage):
        oids = [u.dotted_string for u in eku]
        if not any(o in SERVER_AUTH_USAGES for o in oids):
            named = ", ".join(_USAGE_NAMES.get(o, o) for o in oids) or "nothing"
            return f"{who}'s Extended Key Usage allows {named}, not serverAuth"
    if not leaf:
        return (
            None if _is_ca(cert) else f"{who} is not a CA, so it cannot issue server certificates"
        )
    ku = _ext(cert, "2.5.29.15")
    if isinstance(ku, _x509.KeyUsage) and not (
        ku.digital_signature or ku.key_encipherment or ku.key_agreement
    ):
        return (
            f"{who}'s Key Usage allows neither digitalSignature, keyEncipherment nor keyAgreement"
        )
    ns = _ns_cert_type(cert)
    if ns is not None and not ns & _NS_SSL_SERVER:
        return f"{who}'s Netscape certificate type is not SSL server"
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    """Whether OpenSSL lets ``cert`` issue certificates (``X509_check_ca``, not strict): a Key
    Usage, if any, with keyCertSign; then basicConstraints' CA flag; without one, a v1
    self-signed root, a Key Usage with keyCertSign or a Netscape CA type."""
    from cryptography import x509 as _x509

    ku = _ext(cert, "2.5.29.15")
    if isinstance(ku, _x509.KeyUsage) and not ku.key_cert_sign:
        return False
    bc = _ext(cert, "2.5.29.19")
    if isinstance(bc, _x509.BasicConstraints):
        return bc.ca
    if cert.version == _x509.Version.v1 and is_self_signed(cert):
        return True
    return isinstance(ku, _x509.KeyUsage) or bool((_ns_cert_type(cert) or 0) & _NS_ANY_CA)


def _path_length_exceeded(certs: tuple[x509.Certificate, ...]) -> bool:
    """RFC 5280 §4.2.1.9: a CA's pathLenConstraint counts the CAs below it (self-issued ones
    not counted), down to the leaf."""
    from cryptography import x509 as _x509

    below = 0
    for i, cert in enumerate(certs):
        if i >= 2 and not is_self_signed(certs[i - 1]):
            below += 1
        try:
            bc = _ext(cert, "2.5.29.19") if i else None
        except Exception:  # unreadable extensions: named as bad_extension already
            continue
        limit = bc.path_length if isinstance(bc, _x509.BasicConstraints) else None
        if limit is not None and limit < below:
            return True
    return False


def _names_of(cert: x509.Certificate) -> tuple[list[str], list[IPAddress]]:
    """The DNS names and addresses a certificate vouches for: its SAN entries, and its subject
    CN when it has no dNSName (OpenSSL's ``NAME_CONSTRAINTS_check_CN``)."""
    from cryptography import x509 as _x509
    from cryptography.x509.oid import NameOID

    san = _ext(cert, "2.5.29.17")
    dns, ips = [], []
    if isinstance(san, _x509.SubjectAlternativeName):
        dns = [str(n).lower() for n in san.get_values_for_type(_x509.DNSName)]
        ips = list(san.get_values_for_type(_x509.IPAddress))
    if not dns:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        dns = [str(a.value).lower() for a in cns if "." in str(a.value)]
    return dns, ips


def _dns_within(name: str, base: str) -> bool:
    """RFC 5280 §4.2.1.10 as OpenSSL's ``nc_dns`` reads it: ``example.org`` holds itself and
    every name below; ``.example.org`` only the names below."""
    base = base.lower()
    if not base:
        return True
    if len(name) > len(base) and not base.startswith(".") and name[-len(base) - 1] != ".":
        return False
    return name.endswith(base)


def _name_constraint_violation(ca: x509.Certificate, below: x509.Certificate) -> str | None:
    """Whether ``below`` names a host or address that ``ca``'s name constraints forbid, in
    OpenSSL's words; ``None`` when none do (or ``ca`` has none)."""
    from cryptography import x509 as _x509

    nc = _ext(ca, "2.5.29.30")
    if not isinstance(nc, _x509.NameConstraints):
        return None
    dns, ips = _names_of(below)
    permitted = list(nc.permitted_subtrees or ())
    excluded = list(nc.excluded_subtrees or ())
    for kind, names, within in (
        (_x509.DNSName, dns, lambda n, b: _dns_within(n, str(b))),
        (_x509.IPAddress, ips, lambda n, b: n in b),
    ):
        allowed = [t.value for t in permitted if isinstance(t, kind)]
        barred = [t.value for t in excluded if isinstance(t, kind)]
        for name in names:
            if allowed and not any(within(name, b) for b in allowed):
                return f"permitted subtree violation: {name} ({_who(ca, 1)})"
            if any(within(name, b) for b in barred):
                return f"excluded subtree violation: {name} ({_who(ca, 1)})"
    return None


def _who(cert: x509.Certificate, depth: int) -> str:
    return "certificate" if depth == 0 else f"issuer {cert.subject.rfc4514_string()}"


def _time_problems(path: ChainPath, now: dt.datetime) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for depth, cert in enumerate(path.certs):
        before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
        who = _who(cert, depth)
        if now > after:  # the leaf's words as the probe has always recorded them
            out.append(("expired", f"{who} has expired (not after {after.isoformat()})"))
        if now < before:
            out.append(("not_yet_valid", f"{who} is not yet valid until {before}"))
    return out


def path_problems(path: ChainPath, now: dt.datetime) -> list[tuple[str, str]]:
    """What OpenSSL refuses in a path, apart from the leaf's name, keys and signatures (which
    :func:`smtplab.tls.certificate_problems` reads): the dates of every certificate on it;
    extensions it cannot process; the purpose of every certificate; issuers that are no CA or
    exceed a path length. Each kind once, the first reason found."""
    out = _time_problems(path, now)
    for depth, cert in enumerate(path.certs):
        try:
            unhandled = [
                e.oid.dotted_string
                for e in cert.extensions
                if e.critical and e.oid.dotted_string not in OPENSSL_HANDLED_EXTENSIONS
            ]
        except Exception:  # duplicated or malformed extensions: cryptography will not read them
            what = f"invalid or inconsistent certificate extension ({_who(cert, depth)})"
            out.append(("bad_extension", what))
            continue
        if unhandled:
            out.append(
                (
                    "bad_extension",
                    f"unhandled critical extension {', '.join(unhandled)} ({_who(cert, depth)})",
                )
            )
        if depth and not _is_ca(cert):
            out.append(
                ("unknown_issuer", f"invalid CA certificate: {_who(cert, depth)} is not a CA")
            )
        who = "the certificate" if depth == 0 else _who(cert, depth)
        if why := _usage_problem(cert, depth == 0, who):
            out.append(("wrong_purpose", f"unsuitable certificate purpose: {why}"))
    if _path_length_exceeded(path.certs):
        out.append(("unknown_issuer", "path length constraint exceeded"))
    for depth in range(1, len(path.certs)):
        try:
            why = _name_constraint_violation(path.certs[depth], path.certs[0])
        except Exception:  # unreadable extensions: named as bad_extension already
            continue
        if why:
            out.append(("unknown_issuer", why))
    seen: dict[str, str] = {}
    for kind, detail in out:
        seen.setdefault(kind, detail)
    return list(seen.items())
