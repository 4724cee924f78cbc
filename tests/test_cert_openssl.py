"""One certificate judge that agrees with OpenSSL (issue 23, point 1).

A corpus of bad (and good) server certificates is made here with ``cryptography``; each is
judged by the probe (:func:`smtplab.tls.verify_chain`) and by ``openssl verify -purpose
sslserver -auth_level 2`` with the same trust anchor, intermediates and name, run right here.
Security level 2 is what a TLS client built on OpenSSL asks of every key and signature (Python's
``ssl`` sets it), so ``-auth_level 2`` makes ``openssl verify`` judge as the handshake would.

The rules where the two deliberately differ are stated once, here, and each case names the one
it relies on:

* ``EVERY``: OpenSSL stops at its first error (its ``verify`` command goes on past a few), the
  probe names every problem. So every kind OpenSSL names is among the probe's, never the other
  way round, and the verdict (verified or not) is the same.
* ``PARTIAL_WILDCARD``: ``openssl verify`` matches ``m*.lab.test`` against ``mx.lab.test``;
  Python's ``ssl`` sets ``X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS`` for every handshake and so does
  the probe (RFC 9525 §6.3 forbids them). Here the verdicts differ, on purpose.

At the end, a real TLS server on loopback with a clientAuth-only certificate: no password goes
to it, on both of the probe's paths, and advice never recommends it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import logging
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from servers import PASSWORD, USER, ServerThread

import smtplab
import smtplab.certcheck
from smtplab import openssl_verdict as in_memory
from smtplab.tls import leaf_problems, problems_from_verify_error, verify_chain

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)
HOST = "mx.lab.test"
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION
ANY_EKU = ObjectIdentifier("2.5.29.37.0")

Key = Any  # a private key of any type cryptography makes

# --- making certificates ---------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Made:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _ku(*, sign: bool = False, enc: bool = False, agree: bool = False, ca: bool = False) -> Any:
    return x509.KeyUsage(sign, False, enc, False, agree, ca, ca, False, False)


def _general_names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def _sha1(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with sha1WithRSAEncryption, which cryptography refuses to
    make: the to-be-signed part is re-labelled and signed with SHA-1 by hand."""
    tbs = cert.tbs_certificate_bytes
    sha256_rsa, sha1_rsa = (
        bytes.fromhex("06092a864886f70d01010b"),
        bytes.fromhex("06092a864886f70d010105"),
    )
    assert tbs.count(sha256_rsa) == 1
    tbs = tbs.replace(sha256_rsa, sha1_rsa)
    sig = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    bits = b"\x03" + _der_len(len(sig) + 1) + b"\x00" + sig
    body = tbs + bytes.fromhex("300d06092a864886f70d0101050500") + bits
    return x509.load_der_x509_certificate(b"\x30" + _der_len(len(body)) + body)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def issue(
    cn: str,
    issuer: Made | None,
    *,
    key: Key = None,
    ca: bool | None = False,
    path_length: int | None = None,
    eku: Sequence[ObjectIdentifier] | None = (SERVER_AUTH,),
    ku: Any = None,
    san: Sequence[str] | None = (HOST,),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    sha1: bool = False,
) -> Made:
    """A certificate for ``cn`` signed by ``issuer`` (itself when None). ``ca=None``: no
    basicConstraints at all."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer = issuer.key if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 30 * DAY)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    if ca:  # key identifiers, as Python 3.13's strict verification asks of a CA and below it
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
        b = b.add_extension(aki, critical=False)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if ku is not None:
        b = b.add_extension(ku, critical=True)
    if san is not None:
        b = b.add_extension(x509.SubjectAlternativeName(_general_names(san)), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    cert = b.sign(signer, hashes.SHA256())
    return Made(_sha1(cert, signer) if sha1 else cert, key)


def make_ca(cn: str, issuer: Made | None = None, **kw: Any) -> Made:
    kw.setdefault("eku", None)
    kw.setdefault("ku", _ku(ca=True))
    kw.setdefault("san", None)
    kw.setdefault("ca", True)
    return issue(cn, issuer, **kw)


# --- the corpus --------------------------------------------------------------------------------

EVERY = "EVERY"
PARTIAL_WILDCARD = "PARTIAL_WILDCARD"


@dataclass
class Case:
    """One server chain: the leaf, the intermediates it sends, the name dialled, the anchors
    trusted, and the problem kinds the probe names. ``rule``: where OpenSSL may say less."""

    leaf: Made
    name: str = HOST
    sent: tuple[Made, ...] = ()
    anchors: tuple[Made, ...] = ()
    ours: frozenset[str] = frozenset()
    rule: str = EVERY
    why: str = ""


def bad(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


UNKNOWN_EXT = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")


def _netscape(bits: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(ObjectIdentifier("2.16.840.1.113730.1.1"), bits)


def _purpose_cases(root: Made) -> dict[str, Case]:
    client_inter = make_ca("clientAuth intermediate", root, eku=[CLIENT_AUTH])
    server_inter = make_ca("serverAuth intermediate", root, eku=[SERVER_AUTH])
    pinned_client = issue(HOST, None, eku=[CLIENT_AUTH])
    return {
        "server-auth": Case(issue(HOST, root)),
        "no-eku": Case(issue(HOST, root, eku=None)),
        "client-auth-only": Case(issue(HOST, root, eku=[CLIENT_AUTH]), ours=bad("wrong_purpose")),
        "email-only": Case(issue(HOST, root, eku=[EMAIL]), ours=bad("wrong_purpose")),
        "client-and-email": Case(
            issue(HOST, root, eku=[CLIENT_AUTH, EMAIL]), ours=bad("wrong_purpose")
        ),
        "any-eku-only": Case(
            issue(HOST, root, eku=[ANY_EKU]),
            ours=bad("wrong_purpose"),
            why="OpenSSL 3 does not count anyExtendedKeyUsage as serverAuth",
        ),
        "server-and-any-eku": Case(issue(HOST, root, eku=[SERVER_AUTH, ANY_EKU])),
        "server-and-client": Case(issue(HOST, root, eku=[SERVER_AUTH, CLIENT_AUTH])),
        "ku-cert-sign-only": Case(issue(HOST, root, ku=_ku(ca=True)), ours=bad("wrong_purpose")),
        "ku-digital-signature": Case(issue(HOST, root, ku=_ku(sign=True))),
        "ku-key-agreement": Case(issue(HOST, root, ku=_ku(agree=True))),
        "netscape-client-only": Case(
            issue(HOST, root, extra=[(_netscape(b"\x03\x02\x07\x80"), False)]),
            ours=bad("wrong_purpose"),
        ),
        "netscape-server": Case(issue(HOST, root, extra=[(_netscape(b"\x03\x02\x06\x40"), False)])),
        "intermediate-server-auth": Case(issue(HOST, server_inter), sent=(server_inter,)),
        "intermediate-client-auth": Case(
            issue(HOST, client_inter), sent=(client_inter,), ours=bad("wrong_purpose")
        ),
        "intermediate-client-auth-trusted": Case(
            issue(HOST, client_inter),
            anchors=(root, client_inter),
            ours=bad("wrong_purpose"),
            why="OpenSSL asks the purpose of trusted certificates too (no trust settings in PEM)",
        ),
        "self-signed-pinned-client-auth": Case(
            pinned_client, anchors=(pinned_client,), ours=bad("wrong_purpose")
        ),
    }


def _chain_cases(root: Made) -> dict[str, Case]:
    other = make_ca("a root nobody trusts")
    inter = make_ca("corpus intermediate", root)
    not_ca = make_ca("not a CA", root, ca=False, ku=None)
    no_bc = make_ca("no basicConstraints", root, ca=None, ku=None)
    zero_len = make_ca("pathlen 0", root, path_length=0)
    below_zero = make_ca("below pathlen 0", zero_len)
    old = {"not_before": NOW - 90 * DAY, "not_after": NOW - DAY}
    expired_inter = make_ca("expired intermediate", root, **old)
    self_signed = issue(HOST, None)
    return {
        "intermediate": Case(issue(HOST, inter), sent=(inter,)),
        "intermediate-not-sent": Case(issue(HOST, inter), ours=bad("unknown_issuer")),
        "intermediate-not-ca": Case(
            issue(HOST, not_ca),
            sent=(not_ca,),
            ours=bad("unknown_issuer", "wrong_purpose"),
            why="invalid CA certificate; and unsuitable for a TLS server CA (check_ssl_ca)",
        ),
        "intermediate-no-basic-constraints": Case(
            issue(HOST, no_bc), sent=(no_bc,), ours=bad("unknown_issuer", "wrong_purpose")
        ),
        "path-length-exceeded": Case(
            issue(HOST, below_zero), sent=(below_zero, zero_len), ours=bad("unknown_issuer")
        ),
        "expired": Case(issue(HOST, root, **old), ours=bad("expired")),
        "not-yet-valid": Case(
            issue(HOST, root, not_before=NOW + DAY, not_after=NOW + 90 * DAY),
            ours=bad("not_yet_valid"),
        ),
        "expired-intermediate": Case(
            issue(HOST, expired_inter), sent=(expired_inter,), ours=bad("expired")
        ),
        "self-signed": Case(self_signed, ours=bad("self_signed")),
        "self-signed-pinned": Case(self_signed, anchors=(self_signed,)),
        "unknown-issuer": Case(issue(HOST, other), ours=bad("unknown_issuer")),
        "unknown-root-sent": Case(issue(HOST, other), sent=(other,), ours=bad("unknown_issuer")),
        "expired-client-auth-wrong-name": Case(
            issue(HOST, root, eku=[CLIENT_AUTH], san=["mail.other.test"], **old),
            ours=bad("expired", "wrong_purpose", "name_mismatch"),
        ),
        "self-signed-weak-expired": Case(
            issue(HOST, None, key=rsa.generate_private_key(65537, 1024), **old),
            ours=bad("self_signed", "weak_key", "expired"),
        ),
    }


def _name_constraint_cases(root: Made) -> dict[str, Case]:
    def constrained(cn: str, nc: x509.NameConstraints) -> Made:
        return make_ca(cn, root, extra=[(nc, True)])

    only_lab = constrained("only lab.test", x509.NameConstraints([x509.DNSName("lab.test")], None))
    not_mx = constrained("not mx", x509.NameConstraints(None, [x509.DNSName("mx.lab.test")]))
    # a constraint that permits only a documentation range (RFC 5737), never 127.0.0.1
    doc = x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))
    only_ten = constrained("only 192.0.2/24", x509.NameConstraints([doc], None))
    return {
        "name-constraints-kept": Case(issue(HOST, only_lab), sent=(only_lab,)),
        "name-constraints-permitted-violation": Case(
            issue("x", only_lab, san=["mail.other.test"]),
            name="mail.other.test",
            sent=(only_lab,),
            ours=bad("unknown_issuer"),
        ),
        "name-constraints-cn-violation": Case(
            issue("mail.other.test", only_lab, san=None),
            name="mail.other.test",
            sent=(only_lab,),
            ours=bad("unknown_issuer"),
        ),
        "name-constraints-excluded-violation": Case(
            issue(HOST, not_mx), sent=(not_mx,), ours=bad("unknown_issuer")
        ),
        "name-constraints-ip-violation": Case(
            issue(HOST, only_ten, san=["127.0.0.1"]),
            name="127.0.0.1",
            sent=(only_ten,),
            ours=bad("unknown_issuer"),
        ),
    }


def _name_cases(root: Made) -> dict[str, Case]:
    other = "mail.other.test"
    return {
        "wrong-name": Case(issue(HOST, root, san=[other]), ours=bad("name_mismatch")),
        "ip-san-for-ip": Case(issue(HOST, root, san=["127.0.0.1"]), name="127.0.0.1"),
        "dns-san-for-ip": Case(
            issue(HOST, root, san=[HOST, "localhost"]), name="127.0.0.1", ours=bad("name_mismatch")
        ),
        "ipv6-not-named": Case(
            issue(HOST, root, san=["localhost", "127.0.0.1"]), name="::1", ours=bad("name_mismatch")
        ),
        "ip-san-only-cn-fallback": Case(
            issue(HOST, root, san=["127.0.0.1"]),
            why="no dNSName at all: the subject's CN is the name (RFC 6125 §6.4.4, OpenSSL)",
        ),
        "ip-san-only-other-cn": Case(
            issue(other, root, san=["127.0.0.1"]), ours=bad("name_mismatch")
        ),
        "cn-only": Case(issue(HOST, root, san=None)),
        "cn-only-wrong": Case(issue(other, root, san=None), ours=bad("name_mismatch")),
        "wildcard": Case(issue("*.lab.test", root, san=["*.lab.test"])),
        "wildcard-upper-case": Case(issue("x", root, san=["*.LAB.test"]), name="MX.lab.test"),
        "wildcard-two-labels": Case(
            issue("x", root, san=["*.lab.test"]), name="a.mx.lab.test", ours=bad("name_mismatch")
        ),
        "wildcard-apex": Case(
            issue("x", root, san=["*.lab.test"]), name="lab.test", ours=bad("name_mismatch")
        ),
        "wildcard-tld": Case(
            issue("x", root, san=["*.test"]), name="lab.test", ours=bad("name_mismatch")
        ),
        "wildcard-not-leftmost": Case(
            issue("x", root, san=["mx.*.test"]), ours=bad("name_mismatch")
        ),
        "wildcard-partial": Case(
            issue("x", root, san=["m*.lab.test"]), ours=bad("name_mismatch"), rule=PARTIAL_WILDCARD
        ),
    }


def _key_and_extension_cases(root: Made) -> dict[str, Case]:
    weak_inter = make_ca("weak intermediate", root, key=rsa.generate_private_key(65537, 1024))
    sha1_inter = make_ca("sha1 intermediate", root, sha1=True)
    crit_inter = make_ca("critical", root, extra=[(UNKNOWN_EXT, True)])
    cases = {
        "rsa-1024": Case(
            issue(HOST, root, key=rsa.generate_private_key(65537, 1024)), ours=bad("weak_key")
        ),
        "rsa-2048": Case(issue(HOST, root, key=rsa.generate_private_key(65537, 2048))),
        "p-224": Case(issue(HOST, root, key=ec.generate_private_key(ec.SECP224R1()))),
        "p-384": Case(issue(HOST, root, key=ec.generate_private_key(ec.SECP384R1()))),
        "weak-intermediate-key": Case(
            issue(HOST, weak_inter), sent=(weak_inter,), ours=bad("weak_key")
        ),
        "sha1-signature": Case(issue(HOST, root, sha1=True), ours=bad("weak_signature")),
        "sha1-intermediate": Case(
            issue(HOST, sha1_inter), sent=(sha1_inter,), ours=bad("weak_signature")
        ),
        "critical-unknown-extension": Case(
            issue(HOST, root, extra=[(UNKNOWN_EXT, True)]), ours=bad("bad_extension")
        ),
        "non-critical-unknown-extension": Case(issue(HOST, root, extra=[(UNKNOWN_EXT, False)])),
        "critical-subject-key-identifier": Case(
            issue(HOST, root, extra=[(x509.SubjectKeyIdentifier(b"\x01" * 20), True)]),
            ours=bad("bad_extension"),
            why="OpenSSL does not handle a critical SKI (X509_supported_extension)",
        ),
        "critical-unknown-extension-intermediate": Case(
            issue(HOST, crit_inter), sent=(crit_inter,), ours=bad("bad_extension")
        ),
    }
    try:
        p192 = ec.generate_private_key(ec.SECP192R1())
    except Exception:  # an OpenSSL built without P-192 cannot make one
        return cases
    cases["p-192"] = Case(issue(HOST, root, key=p192), ours=bad("weak_key"))
    return cases


def corpus() -> dict[str, Case]:
    """Every case, under one RSA root (so that SHA-1 signatures can be made by hand)."""
    root = make_ca("corpus root", key=rsa.generate_private_key(65537, 2048))
    cases: dict[str, Case] = {}
    for part in (
        _purpose_cases,
        _chain_cases,
        _name_constraint_cases,
        _name_cases,
        _key_and_extension_cases,
    ):
        cases.update(part(root))
    for case in cases.values():
        case.anchors = case.anchors or (root,)
    return cases


CORPUS = corpus()

# --- OpenSSL's verdict --------------------------------------------------------------------------

#: OpenSSL's verification errors (X509_V_ERR_*, by number) and the problem kind each names.
OPENSSL_ERRORS = {
    2: "unknown_issuer",  # unable to get issuer certificate
    7: "unknown_issuer",  # certificate signature failure
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",  # self-signed certificate (depth zero)
    19: "unknown_issuer",  # self-signed certificate in certificate chain
    20: "unknown_issuer",  # unable to get local issuer certificate
    21: "unknown_issuer",  # unable to verify the first certificate
    24: "unknown_issuer",  # invalid CA certificate (OpenSSL 1.1)
    25: "unknown_issuer",  # path length constraint exceeded
    26: "wrong_purpose",  # unsuitable certificate purpose
    34: "bad_extension",  # unhandled critical extension
    41: "bad_extension",  # invalid or inconsistent certificate extension
    47: "unknown_issuer",  # permitted subtree violation
    48: "unknown_issuer",  # excluded subtree violation
    62: "name_mismatch",  # hostname mismatch
    64: "name_mismatch",  # IP address mismatch
    66: "weak_key",  # EE certificate key too weak
    67: "weak_key",  # CA certificate key too weak
    68: "weak_signature",  # CA signature digest algorithm too weak
    79: "unknown_issuer",  # invalid CA certificate (OpenSSL 3)
}

_ERROR_LINE = re.compile(r"^error (\d+) at (\d+) depth lookup: (.*)$", re.M)


@dataclass
class OpenSSLVerdict:
    verified: bool
    errors: list[tuple[int, str]]  # (number, message), in the order OpenSSL found them

    @property
    def kinds(self) -> set[str]:
        unknown = [e for e in self.errors if e[0] not in OPENSSL_ERRORS]
        assert not unknown, f"an OpenSSL error this test does not map: {unknown}"
        return {OPENSSL_ERRORS[n] for n, _ in self.errors}


@pytest.fixture(scope="module")
def openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("openssl is missing (Debian: apt-get install openssl)")
    return found


def openssl_verify(openssl: str, case: Case, tmp: Path) -> OpenSSLVerdict:
    (tmp / "anchors.pem").write_bytes(b"".join(a.pem for a in case.anchors))
    (tmp / "leaf.pem").write_bytes(case.leaf.pem)
    args = [openssl, "verify", "-purpose", "sslserver", "-auth_level", "2"]
    try:
        ipaddress.ip_address(case.name)
        args += ["-verify_ip", case.name]
    except ValueError:
        args += ["-verify_hostname", case.name]
    args += ["-CAfile", str(tmp / "anchors.pem")]
    if case.sent:
        (tmp / "sent.pem").write_bytes(b"".join(c.pem for c in case.sent))
        args += ["-untrusted", str(tmp / "sent.pem")]
    done = subprocess.run(
        [*args, str(tmp / "leaf.pem")], capture_output=True, text=True, timeout=30, check=False
    )
    out = done.stdout + done.stderr
    errors = [(int(m[1]), m[3].strip()) for m in _ERROR_LINE.finditer(out)]
    assert (done.returncode == 0) == (not errors), out
    return OpenSSLVerdict(done.returncode == 0, errors)


def probe_verdict(case: Case) -> Any:
    return verify_chain(
        [case.leaf.der, *(c.der for c in case.sent)],
        case.name,
        extra_ca_pem=b"".join(a.pem for a in case.anchors),
        now=NOW,
    )


def in_memory_verdict(case: Case) -> in_memory.OpenSSLVerdict | None:
    """OpenSSL's own verdict, asked in memory on a verifying context with the case's anchors:
    what the probe trusts without reading the chain itself (issue 25, item 9)."""
    anchors = b"".join(a.pem for a in case.anchors).decode()
    return in_memory.openssl_verdict(
        [case.leaf.der, *(c.der for c in case.sent)],
        case.name,
        ssl.create_default_context(cadata=anchors),
    )


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_probe_judges_as_openssl_does(name: str, openssl: str, tmp_path: Path) -> None:
    case = CORPUS[name]
    theirs = openssl_verify(openssl, case, tmp_path)
    ours = probe_verdict(case)
    assert set(ours.kinds) == case.ours, (ours.kinds, ours.error, case.why)
    assert ours.verified == (not case.ours)
    # OpenSSL asked in memory, as a verifying handshake on this Python would decide (so with
    # NO_PARTIAL_WILDCARDS too), gives the same verdict, naming one of the problems found
    said = in_memory_verdict(case)
    assert said is not None and said.verified == ours.verified, (said, ours.kinds)
    if not said.verified:
        assert set(problems_from_verify_error(said.message)) <= set(ours.kinds), said
    if case.rule == PARTIAL_WILDCARD:
        # openssl verify cannot be told NO_PARTIAL_WILDCARDS; Python's ssl and the probe refuse
        assert theirs.verified and not ours.verified
        return
    assert case.rule == EVERY
    assert ours.verified == theirs.verified, (theirs.errors, ours.error, case.why)
    assert theirs.kinds <= set(ours.kinds), (theirs.errors, ours.kinds)
    if not theirs.verified:
        first = theirs.errors[0]
        # OpenSSL's words, as a record keeps them, name the kind they stand for...
        assert problems_from_verify_error(first[1]) == (OPENSSL_ERRORS[first[0]],), first
        # ...and the probe's path without the chain (a reconnect reads the leaf alone) keeps
        # what OpenSSL named, with all it can read from the leaf
        alone = leaf_problems(case.leaf.der, case.name, verify_error=first[1], now=NOW)
        assert OPENSSL_ERRORS[first[0]] in {p.kind for p in alone}


def _key_file(made: Made, path: Path) -> Path:
    path.write_bytes(
        made.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_partial_wildcards_are_refused_as_pythons_ssl_refuses_them(tmp_path: Path) -> None:
    """The one stated difference from ``openssl verify``, checked against the handshake the rule
    follows: Python's ``ssl`` refuses ``m*.lab.test`` for ``mx.lab.test`` and accepts the
    whole-label ``*.lab.test``, with the same anchor."""
    import socket
    import ssl
    import threading

    for case_name, accepted in (("wildcard-partial", False), ("wildcard", True)):
        case = CORPUS[case_name]
        (tmp_path / "leaf.pem").write_bytes(case.leaf.pem)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(tmp_path / "leaf.pem", _key_file(case.leaf, tmp_path / "key.pem"))
        listener = socket.create_server(("127.0.0.1", 0))

        def serve(listener: socket.socket = listener, server: ssl.SSLContext = server) -> None:
            with listener:
                conn, _ = listener.accept()
                try:
                    with server.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass  # the client refused the certificate

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client = ssl.create_default_context(cadata=case.anchors[0].pem.decode())
        with socket.create_connection(listener.getsockname(), timeout=5) as sock:
            try:
                with client.wrap_socket(sock, server_hostname=HOST):
                    verdict = None
            except ssl.SSLCertVerificationError as exc:
                verdict = exc.verify_message
        thread.join(timeout=10)
        assert (verdict is None) == accepted == probe_verdict(case).verified, (case_name, verdict)
        if not accepted:
            assert "mismatch" in (verdict or "").lower()


def test_the_corpus_covers_every_problem_kind() -> None:
    from smtplab.tls import CERT_PROBLEM_KINDS

    named = set().union(*(c.ours for c in CORPUS.values()))
    assert named == set(CERT_PROBLEM_KINDS)


def test_a_wrong_purpose_is_named_in_openssls_words_and_found_again_in_a_record() -> None:
    """The record's cert_error names the purpose in OpenSSL's words, so the findings read from
    an old-style record (no cert_problems) name it too, with the reason."""
    from smtplab.findings import analyze

    verdict = probe_verdict(CORPUS["client-auth-only"])
    assert verdict.error and verdict.error.startswith("unsuitable certificate purpose")
    assert "clientAuth" in verdict.error
    rec = {
        "host": HOST,
        "port": 587,
        "outcome": "open",
        "tls_mode": "starttls",
        "tls_version": "TLSv1.3",
        "cert_verified": False,
        "cert_error": verdict.error,
    }
    found = {f.code: f.message for f in analyze(rec)}
    assert "cert_wrong_purpose" in found and "clientAuth" in found["cert_wrong_purpose"]
    assert "cert_untrusted" not in found


# --- end to end: a real server with a clientAuth-only certificate --------------------------------


@dataclass
class Served:
    port: int
    cafile: str


def _serve(servers: ServerThread, leaf: Made, tmp: Path, anchor: Made) -> Served:
    import ssl

    tmp.mkdir()
    (tmp / "cert.pem").write_bytes(leaf.pem)
    (tmp / "ca.pem").write_bytes(anchor.pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "cert.pem", _key_file(leaf, tmp / "key.pem"))
    return Served(servers.smtp(ssl_ctx=ctx), str(tmp / "ca.pem"))


@pytest.fixture(scope="module")
def root() -> Made:
    return make_ca("end-to-end root")


def _auth_received(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "mail.log" and ">> b'auth" in r.getMessage().lower()
    ]


@pytest.fixture(params=["one handshake", "reconnect"])
def probe_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both of the probe's paths: the chain judged from the one unverified handshake, and (as
    on a Python that cannot hand the chain over) OpenSSL's verifying handshake first, then a
    reconnection to read the leaf."""
    if request.param == "reconnect":
        monkeypatch.setattr(smtplab.tls, "HANDS_OVER_CHAIN", False)
        monkeypatch.setattr(smtplab.certcheck, "unverified_chain_der", lambda sslobj: None)
    yield request.param


def test_no_password_goes_to_a_server_whose_certificate_is_for_clients(
    servers: ServerThread,
    root: Made,
    probe_path: str,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO, logger="mail.log")
    good = _serve(servers, issue("localhost", root, san=["127.0.0.1"]), tmp_path / "g", root)
    bad = _serve(
        servers,
        issue("localhost", root, san=["127.0.0.1"], eku=[CLIENT_AUTH]),
        tmp_path / "b",
        root,
    )
    ok = smtplab.probe("127.0.0.1", good.port, auth=(USER, PASSWORD), cafile=good.cafile, timeout=3)
    assert ok.cert_verified is True and "auth_ok" in {f.code for f in ok.findings}, ok.error
    assert len(_auth_received(caplog)) == 1  # the server's log does see a login
    r = smtplab.probe("127.0.0.1", bad.port, auth=(USER, PASSWORD), cafile=bad.cafile, timeout=3)
    reconnected = any("reconnecting" in x.text for x in r.transcript)
    assert reconnected == (probe_path == "reconnect"), r.transcript
    assert r.tls_version and r.cert_verified is False
    assert "unsuitable certificate purpose" in (r.cert_error or ""), r.cert_error
    assert r.cert_problems == ("wrong_purpose",), r.cert_problems
    codes = {f.code for f in r.findings}
    assert {"cert_wrong_purpose", "auth_skipped_unverified"} <= codes and "auth_ok" not in codes
    assert not [x for x in r.transcript if x.dir == "client" and x.text.upper().startswith("AUTH")]
    assert len(_auth_received(caplog)) == 1  # no second login arrived
    # advice, given each record as if it were port 587, recommends the server certificate's
    # and never the one for clients
    as_587 = dataclasses.replace(ok, port=587)
    advice_ok = smtplab.advise([as_587])
    assert advice_ok.recommended is not None and advice_ok.recommended.port == 587
    advice = smtplab.advise([dataclasses.replace(r, port=587)])
    assert advice.recommended is None, advice.summary()
    verdict = advice.verdict(587)
    assert verdict is not None and "unsuitable certificate purpose" in verdict.evidence, verdict
