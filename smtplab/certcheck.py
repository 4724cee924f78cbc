"""Every certificate problem, and a chain verified against the probe's trust store.

The second half of :mod:`smtplab.tls` (which re-exports every name here): what is wrong with a
server certificate, read from the certificate itself with ``cryptography`` (imported when
first needed, not before), and :func:`verify_chain`, which decides as a verifying handshake
would from the chain one unverified handshake handed over. The path from the leaf to a trusted
root is built and checked as OpenSSL's verifier does (:mod:`smtplab.certpath`), and it agrees
with ``openssl verify -purpose sslserver -auth_level 2`` (tests/test_cert_openssl.py). A probe
asks OpenSSL itself first (:mod:`smtplab.openssl_verdict`, in memory): a chain it accepts is
verified without ``cryptography``; one it refuses is described here, problem by problem.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import os
import re
import ssl
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from smtplab.openssl_verdict import OpenSSLVerdict, openssl_verdict
from smtplab.schema import CERT_PROBLEMS

if TYPE_CHECKING:
    from cryptography import x509

    from smtplab.certpath import ChainPath

#: A CA file in OpenSSL's hashed directory (``/etc/ssl/certs/1a2b3c4d.0``).
_HASHED: Final = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


# --- every certificate problem, from the certificate itself ----------------------------------

#: The certificate problems, in the order they are reported (findings map each to a code):
#: one list, kept with the findings that name them.
CERT_PROBLEM_KINDS: Final = CERT_PROBLEMS

#: Signature algorithms whose hash has practical collisions: MD2, MD4, MD5 (RFC 6151) and SHA-1
#: (RFC 9155), with RSA, DSA and ECDSA. By OID, since cryptography cannot even name MD2/MD4.
_WEAK_SIGNATURES: Final = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.3": "md4WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.3.14.3.2.29": "sha1WithRSAEncryption (OIW)",
    "1.2.840.10040.4.3": "dsa-with-sha1",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
}

#: Smallest acceptable keys: RSA and DSA 2048 bits (NIST SP 800-131A Rev. 2; the CA/Browser
#: Forum's Baseline Requirements §6.1.5), elliptic curves 224 bits (P-224 and up): 112 bits of
#: security, what OpenSSL's security level 2 asks of every key a TLS client relies on (Python's
#: ``ssl`` sets that level), so that the probe's judge and the handshake agree.
MIN_RSA_BITS: Final = 2048
MIN_EC_BITS: Final = 224


@dataclass(frozen=True)
class CertProblem:
    """One thing wrong with a server certificate: a ``kind`` from :data:`CERT_PROBLEM_KINDS` and
    a short ``detail`` in OpenSSL's words where OpenSSL has some (``certificate has expired``)."""

    kind: str
    detail: str


@dataclass(frozen=True)
class ChainVerdict:
    """The verdict on a certificate chain: ``verified`` as a verifying TLS client would decide
    (chain to a trusted root, valid now, issued for a TLS server, right name, strong enough),
    every problem found, and
    one line naming them all for the record's ``cert_error`` (``None`` when verified)."""

    verified: bool
    problems: tuple[CertProblem, ...]
    error: str | None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(p.kind for p in self.problems)


def _norm_dns(name: str) -> str | None:
    """A DNS name in comparable form: lower-case A-labels, no trailing dot."""
    name = name.strip().rstrip(".").lower()
    if not name:
        return None
    try:
        return name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None


def name_matches(server_name: str, pattern: str) -> bool:
    """Whether a certificate's DNS name (``pattern``) covers ``server_name`` (RFC 6125 §6.4).

    Case-insensitive, compared as A-labels. A wildcard is only the whole left-most label
    (``*.example.org``), stands for exactly one non-empty label, and needs at least two labels
    after it (``*.org`` covers nothing) — partial wildcards such as ``w*.example.org`` are
    refused, as Python's ssl module (OpenSSL's NO_PARTIAL_WILDCARDS) and RFC 9525 refuse them.
    """
    host, pat = _norm_dns(server_name), _norm_dns(pattern)
    if host is None or pat is None:
        return False
    if "*" not in pat:
        return host == pat
    first, _, rest = pat.partition(".")
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False
    label, _, host_rest = host.partition(".")
    return bool(label) and host_rest == rest


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return None


def _name_ok(cert: x509.Certificate, server_name: str) -> bool:
    """RFC 6125 §6.4: an address against iPAddress SANs only; a name against dNSName SANs, and
    against the subject CN only when the certificate has no dNSName at all (§6.4.4)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = list(san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = [], []
    addr = _ip(server_name)
    if addr is not None:
        return any(addr == a for a in ips)
    if not dns:
        dns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return any(name_matches(server_name, d) for d in dns)


def _der_items(der: bytes) -> list[tuple[int, bytes]]:
    """The (tag, contents) of each DER element in ``der``, in order: enough of X.690 to walk
    a SubjectPublicKeyInfo. Raises ``ValueError`` on a truncated or indefinite length."""
    items: list[tuple[int, bytes]] = []
    i = 0
    while i < len(der):
        if i + 2 > len(der):
            raise ValueError("truncated DER")
        tag, length = der[i], der[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            if n == 0 or n > 4 or i + n > len(der):
                raise ValueError("bad DER length")
            length = int.from_bytes(der[i : i + n], "big")
            i += n
        if i + length > len(der):
            raise ValueError("truncated DER")
        items.append((tag, der[i : i + length]))
        i += length
    return items


def _dsa_bits(cert: x509.Certificate) -> int | None:
    """The size of a DSA key (the bit length of its prime ``p``), read from the certificate's
    SubjectPublicKeyInfo: loading it as a key object is deprecated since cryptography 51."""
    try:
        ((_, tbs),) = _der_items(cert.tbs_certificate_bytes)
        fields = _der_items(tbs)
        # TBSCertificate: [0] version (optional), serial, signature, issuer, validity, subject,
        # subjectPublicKeyInfo (RFC 5280 §4.1).
        start = 1 if fields[0][0] == 0xA0 else 0
        spki = _der_items(fields[start + 5][1])
        algorithm = _der_items(spki[0][1])
        p = _der_items(algorithm[1][1])[0][1]  # Dss-Parms: p, q, g (RFC 3279 §2.3.2)
        return int.from_bytes(p, "big").bit_length()
    except (ValueError, IndexError):
        return None


#: Key algorithms whose size is read from the loaded key (none of them deprecated).
_SIZED_KEYS: Final = (
    "1.2.840.113549.1.1.1",  # rsaEncryption
    "1.2.840.113549.1.1.10",  # RSASSA-PSS
    "1.2.840.10045.2.1",  # id-ecPublicKey
)


def _key_weakness(cert: x509.Certificate) -> str | None:
    """A key too small to rely on, judged by the algorithm the certificate names for its key
    (so no deprecated key type is ever loaded), or ``None``."""
    from cryptography.x509.oid import PublicKeyAlgorithmOID

    algorithm = cert.public_key_algorithm_oid
    if algorithm == PublicKeyAlgorithmOID.DSA:
        bits = _dsa_bits(cert)
        if bits is None:
            return "DSA key of unreadable size"
        return f"DSA {bits} bits" if bits < MIN_RSA_BITS else None
    if algorithm.dotted_string not in _SIZED_KEYS:
        return None
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"EC {key.curve.name} ({key.curve.key_size} bits)"
    return None


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def certificate_problems(
    leaf_der: bytes,
    chain_der: Sequence[bytes],
    server_name: str | None,
    *,
    now: dt.datetime,
    trusted: bool | None,
) -> tuple[CertProblem, ...]:
    """Every problem of a server certificate, read from the certificate itself.

    ``chain_der`` is what the server sent (the leaf first, or not at all); ``trusted`` says
    whether the chain leads to a trusted root (:func:`verify_chain` finds out; ``None`` when
    unknown). Checks: the validity dates of the leaf and of the intermediates sent at ``now``; a
    self-signed leaf (not a problem when it is itself trusted, as a pinned certificate is); an
    unknown issuer (``trusted`` is False and the leaf is not self-signed); the purpose (an
    Extended Key Usage without serverAuth, a Key Usage a TLS server cannot use); critical
    extensions OpenSSL does not handle; the name (:func:`name_matches`, skipped when
    ``server_name`` is empty); RSA/DSA keys under 2048 bits and curves under 224; MD5 or SHA-1
    signatures on the leaf and the intermediates sent (a root's own signature is never relied
    on). An unreadable leaf is one ``unknown_issuer`` problem saying so.
    """
    from cryptography import x509

    from smtplab.certpath import ChainPath, is_self_signed

    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
    except ValueError as exc:
        return (CertProblem("unknown_issuer", f"unreadable certificate: {exc}"),)
    others = []
    for der in chain_der:
        if der == leaf_der:
            continue
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        if not is_self_signed(cert):  # a root sent along is not relied on
            others.append(cert)
    path = ChainPath((leaf, *others), 1 + len(others), trusted is True, None)
    return _problems(path, server_name, now=_utc(now), trusted=trusted)


def _problems(
    path: ChainPath,
    server_name: str | None,
    *,
    now: dt.datetime,
    trusted: bool | None,
) -> tuple[CertProblem, ...]:
    """Every problem of the certificates on ``path`` (the leaf first), one per kind, in
    :data:`CERT_PROBLEM_KINDS` order."""
    from smtplab.certpath import is_self_signed, path_problems

    leaf = path.certs[0]
    found: dict[str, str] = {}
    for kind, detail in path_problems(path, now):
        found.setdefault(kind, detail)
    if is_self_signed(leaf) and trusted is not True:
        found["self_signed"] = "self-signed certificate"
        found.pop("unknown_issuer", None)  # a self-signed leaf has no issuer to look up
    elif trusted is False:
        found["unknown_issuer"] = (
            f"unable to get local issuer certificate for {leaf.issuer.rfc4514_string()}"
        )
    if server_name and not _name_ok(leaf, server_name):
        what = "IP address" if _ip(server_name) is not None else "Hostname"
        found["name_mismatch"] = f"{what} mismatch, certificate is not valid for {server_name!r}"
    # The leaf's key is used in every handshake and each issuer's is relied on (OpenSSL checks
    # the root's too); every signature is relied on but a root's own.
    weak_key = next((w for c in path.certs if (w := _key_weakness(c))), None)
    if weak_key:
        found["weak_key"] = f"certificate key too weak: {weak_key}"
    signed = list(path.certs)
    if is_self_signed(signed[-1]):
        signed.pop()
    weak_sig = next(
        (
            _WEAK_SIGNATURES[c.signature_algorithm_oid.dotted_string]
            for c in signed
            if c.signature_algorithm_oid.dotted_string in _WEAK_SIGNATURES
        ),
        None,
    )
    if weak_sig:
        found["weak_signature"] = f"certificate signature algorithm too weak: {weak_sig}"
    return tuple(CertProblem(k, found[k]) for k in CERT_PROBLEM_KINDS if k in found)


# --- checking a chain against the probe's trust store ------------------------------------------


def _load_certs(data: bytes) -> list[x509.Certificate]:
    """Every certificate in PEM text (a bundle) or one DER; a broken PEM block is skipped.

    System bundles hold old roots that cryptography warns about (a serial number of zero):
    OpenSSL trusts them, so they load here too, quietly.
    """
    from cryptography import x509

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if b"-----BEGIN" not in data:
            try:
                return [x509.load_der_x509_certificate(data)]
            except ValueError:
                return []
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            pass
        out = []
        pem = rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----"
        for block in re.findall(pem, data, re.S):
            try:
                out.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
        return out


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


@functools.lru_cache(maxsize=8)
def _trust_store(
    cafile: str | None, capath: str | None, cadata: bytes | None, default: tuple[str | None, ...]
) -> tuple[Mapping[str, tuple[x509.Certificate, ...]], frozenset[bytes]]:
    """The trusted certificates by subject (:func:`smtplab.certpath.name_key`), and as DER (to
    find a pinned leaf)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from smtplab.certpath import name_key

    if cafile is None and capath is None and cadata is None:
        # The system's bundle; its hashed directory only when there is no bundle (on Debian
        # both hold the same CAs, and reading both doubles the ~35 ms this costs once).
        cafile, capath = default[0], None if default[0] else default[1]
        if cafile is None and capath is None and default[2]:
            cafile = default[2]  # no system store at all: certifi's, if installed
    certs: list[x509.Certificate] = []
    if cadata:
        certs += _load_certs(cadata)
    if cafile:
        certs += _load_certs(_read(cafile))
    if capath and os.path.isdir(capath):
        with os.scandir(capath) as entries:
            names = sorted(e.path for e in entries if _HASHED.match(e.name))
        for name in names:
            certs += _load_certs(_read(name))
    ders = {c.public_bytes(Encoding.DER): c for c in certs}
    index: dict[str, list[x509.Certificate]] = {}
    for cert in ders.values():
        index.setdefault(name_key(cert.subject), []).append(cert)
    return MappingProxyType({k: tuple(v) for k, v in index.items()}), frozenset(ders)


def _default_paths() -> tuple[str | None, ...]:
    """Where the probe's verifying context finds its CAs: OpenSSL's default file and directory
    (``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` win, as for :func:`client_context`), and certifi's
    bundle as a last resort."""
    paths = ssl.get_default_verify_paths()
    capath = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
    try:
        import certifi

        fallback: str | None = certifi.where()
    except ImportError:
        fallback = None
    return paths.cafile, capath, fallback


def verify_chain(
    chain_der: Sequence[bytes],
    server_name: str | None,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    extra_ca_pem: bytes | str | None = None,
    now: dt.datetime | None = None,
) -> ChainVerdict:
    """Verify a chain the server sent (leaf first) as the probe's verifying handshake would.

    The trust store is the one :func:`client_context` uses: with ``cafile``, ``capath`` or
    ``extra_ca_pem`` (the lab's CA, PEM) exactly those, as ``ssl.create_default_context(cafile=,
    cadata=)`` does; without them, the system's (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured). A
    leaf found in the store itself is trusted as it stands (a pinned self-signed certificate).
    The path is built and checked as OpenSSL's verifier does (:mod:`smtplab.certpath`); every
    problem is listed, not the first one only.
    """
    from cryptography import x509

    from smtplab.certpath import build_path

    if not chain_der:
        return ChainVerdict(False, (), "the server sent no certificate")
    now = _utc(now or dt.datetime.now(dt.timezone.utc))
    if isinstance(extra_ca_pem, str):
        extra_ca_pem = extra_ca_pem.encode()
    store, pinned = _trust_store(cafile, capath, extra_ca_pem, _default_paths())
    leaf_der = bytes(chain_der[0])
    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
    except ValueError as exc:
        problem = CertProblem("unknown_issuer", f"unreadable certificate: {exc}")
        return ChainVerdict(False, (problem,), problem.detail)
    sent = []
    for der in chain_der[1:]:
        try:
            sent.append(x509.load_der_x509_certificate(bytes(der)))
        except ValueError:
            continue  # an unreadable extra certificate cannot help build the chain
    path = build_path(leaf, sent, store, pinned=leaf_der in pinned)
    reason = path.reason if store or path.trusted else "no trusted certificates found"
    problems = _problems(path, server_name, now=now, trusted=path.trusted)
    details = [
        f"{p.detail} ({reason})"
        if p.kind == "unknown_issuer" and reason and reason not in p.detail
        else p.detail
        for p in problems
    ]
    return ChainVerdict(not problems, problems, "; ".join(details) if details else None)


def leaf_problems(
    leaf_der: bytes, server_name: str | None, *, verify_error: str | None, now: dt.datetime
) -> tuple[CertProblem, ...]:
    """Every problem of a certificate that OpenSSL rejected, when only the leaf is at hand (a
    Python without :func:`unverified_chain_der`: the leaf read on an unverified reconnection).

    Whether the issuer was trusted comes from OpenSSL's complaint
    (:func:`trust_from_verify_error`); the rest from the certificate. The problem OpenSSL named
    is always among them, in its words.
    """
    trusted = trust_from_verify_error(verify_error)
    found = {
        p.kind: p
        for p in certificate_problems(leaf_der, [leaf_der], server_name, now=now, trusted=trusted)
    }
    for kind, words in verify_error_parts(verify_error):
        if kind not in found and not (kind == "unknown_issuer" and "self_signed" in found):
            found[kind] = CertProblem(kind, words)
    if not found and verify_error:
        found["unknown_issuer"] = CertProblem("unknown_issuer", verify_error)
    return tuple(found[k] for k in CERT_PROBLEM_KINDS if k in found)


def unverified_chain_der(sslobj: object) -> list[bytes] | None:
    """The certificates the server sent, leaf first, as DER — even from a handshake that did not
    verify them (``CERT_NONE``). ``sslobj`` is an ``ssl.SSLObject`` (asyncio's ``ssl_object``)
    or ``ssl.SSLSocket``. Python 3.13 hands the chain over (``get_unverified_chain()``); 3.10
    to 3.12 have the same call on the C object underneath (``_ssl._SSLSocket``, made public in
    3.13 unchanged but for returning DER), which is used there. Without either this returns
    ``None``, and only the leaf can be had (``getpeercert(binary_form=True)``). An empty list:
    nothing was sent.
    """
    get = getattr(sslobj, "get_unverified_chain", None)
    if get is not None:
        return [bytes(der) for der in get() or ()]
    get = getattr(getattr(sslobj, "_sslobj", None), "get_unverified_chain", None)
    if get is None:
        return None
    try:
        import _ssl

        return [bytes(c.public_bytes(_ssl.ENCODING_DER)) for c in get() or ()]
    except Exception:  # a private call that changed shape: read the certificate another way
        return None


def _hands_over_chain() -> bool:
    if hasattr(ssl.SSLObject, "get_unverified_chain"):
        return True
    try:
        import _ssl

        inner = getattr(_ssl, "_SSLSocket", None)  # the C object under SSLObject and SSLSocket
        return hasattr(inner, "get_unverified_chain") and hasattr(_ssl, "ENCODING_DER")
    except (ImportError, AttributeError):
        return False


#: This Python hands over the chain of a handshake that did not verify it
#: (:func:`unverified_chain_der`): one handshake is enough to judge a certificate.
HANDS_OVER_CHAIN: Final = _hands_over_chain()


def judge_session_certificate(
    sslobj: object,
    server_name: str,
    *,
    cafile: str | None = None,
    cadata: str | None = None,
    verify_error: str | None = None,
    now: dt.datetime | None = None,
    context: ssl.SSLContext | None = None,
) -> ChainVerdict | None:
    """The verdict on the certificate of a TLS session that did not verify it (``CERT_NONE``).

    Where Python hands over the chain (:func:`unverified_chain_der`), OpenSSL is asked first,
    in memory, whether a client on the verifying ``context`` would accept it
    (:func:`smtplab.openssl_verdict.openssl_verdict`): if so, it is verified, and that is all
    (no ``cryptography``). Otherwise the chain is verified here against the trust store a
    verifying handshake would use (``cafile``, the lab's CA as ``cadata``, or the system's), and
    every problem named; a chain OpenSSL refused is never called verified. That one handshake is
    enough. Elsewhere only the leaf can be had, and only a certificate OpenSSL already rejected
    (``verify_error``, from an earlier verifying handshake) is judged: its every problem
    (:func:`leaf_problems`). ``None`` when there is nothing to judge with. ``now`` (a test's
    clock) leaves OpenSSL out, since it verifies at the present time only.
    """
    chain = unverified_chain_der(sslobj)
    said = None
    if chain and context is not None and now is None:
        said = openssl_verdict(chain, server_name, context)
        if said is not None and said.verified:
            return ChainVerdict(True, (), None)
    when = _utc(now or dt.datetime.now(dt.timezone.utc))
    try:
        if chain is not None:
            verdict = verify_chain(chain, server_name, cafile=cafile, extra_ca_pem=cadata, now=when)
            return verdict if said is None or not verdict.verified else _refused(said)
        if verify_error is None:
            return None
        leaf = sslobj.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        if not leaf:
            return None
        problems = leaf_problems(leaf, server_name, verify_error=verify_error, now=when)
    except Exception as exc:  # a certificate cryptography cannot read is never a verified one
        problem = CertProblem("unknown_issuer", f"unreadable certificate: {exc}")
        return ChainVerdict(False, (problem,), verify_error or problem.detail)
    return ChainVerdict(False, problems, verify_error)


def _refused(said: OpenSSLVerdict) -> ChainVerdict:
    """OpenSSL's refusal, in its words, where the chain judge found nothing wrong."""
    words = said.message or "certificate verify failed"
    parts = verify_error_parts(words) or (("unknown_issuer", words),)
    return ChainVerdict(False, tuple(CertProblem(k, w) for k, w in parts), words)


#: OpenSSL's verification messages and the problem each names (X509_verify_cert_error_string).
_VERIFY_WORDS: Final = (
    ("self-signed certificate in certificate chain", "unknown_issuer"),
    ("self signed certificate in certificate chain", "unknown_issuer"),
    ("not yet valid", "not_yet_valid"),
    ("expired", "expired"),
    ("self-signed", "self_signed"),
    ("self signed", "self_signed"),
    ("hostname mismatch", "name_mismatch"),
    ("ip address mismatch", "name_mismatch"),
    ("doesn't match", "name_mismatch"),
    ("key too weak", "weak_key"),
    ("key too small", "weak_key"),
    ("md too weak", "weak_signature"),
    ("digest algorithm too weak", "weak_signature"),
    ("signature algorithm too weak", "weak_signature"),
    ("unsuitable certificate purpose", "wrong_purpose"),
    ("unhandled critical extension", "bad_extension"),
    ("invalid or inconsistent certificate extension", "bad_extension"),
    ("invalid ca certificate", "unknown_issuer"),
    ("path length constraint exceeded", "unknown_issuer"),
    ("subtree violation", "unknown_issuer"),
    ("certificate signature failure", "unknown_issuer"),
    ("issuer", "unknown_issuer"),
    ("unknown authority", "unknown_issuer"),
    ("unknown ca", "unknown_issuer"),
)


def verify_error_parts(message: str | None) -> tuple[tuple[str, str], ...]:
    """The problems a verification message names, each with the words that name it.

    OpenSSL names one problem (``certificate has expired``); :attr:`ChainVerdict.error` names
    each, separated by ``;``. Parts that name no known problem are left out.
    """
    out: list[tuple[str, str]] = []
    for part in (message or "").split(";"):
        low = part.strip().lower()
        kind = next((k for words, k in _VERIFY_WORDS if words in low), None)
        if kind is not None and kind not in (k for k, _ in out):
            out.append((kind, part.strip()))
    return tuple(out)


def problems_from_verify_error(message: str | None) -> tuple[str, ...]:
    """The problem kinds a verification message names (see :func:`verify_error_parts`)."""
    return tuple(kind for kind, _ in verify_error_parts(message))


def trust_from_verify_error(message: str | None) -> bool | None:
    """Whether the chain reached a trusted root, judged from OpenSSL's first complaint.

    OpenSSL builds the chain before it checks names, key sizes and dates, and stops at the first
    error: a complaint about the issuer (or a self-signed leaf) means no trusted root was found;
    a complaint about the dates, the name or the key means one was. ``None`` when the message
    says neither.
    """
    kinds = problems_from_verify_error(message)
    if not kinds:
        return None
    return kinds[0] not in ("unknown_issuer", "self_signed")
