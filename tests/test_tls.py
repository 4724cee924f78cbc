"""Every certificate problem, from real certificates: made here with cryptography and trustme,
checked by smtplab.tls and, over real TLS handshakes on loopback, by OpenSSL itself."""

from __future__ import annotations

import _ssl
import datetime as dt
import socket
import ssl
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smtplab.lab import certs as lab_certs
from smtplab.tls import (
    CERT_PROBLEM_KINDS,
    HANDS_OVER_CHAIN,
    certificate_problems,
    client_context,
    leaf_problems,
    name_matches,
    problems_from_verify_error,
    trust_from_verify_error,
    unverified_chain_der,
    verify_chain,
    verify_error_parts,
)

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)

# --- certificates made here ------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make_ca(cn: str = "test root") -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 400 * DAY)
        .not_valid_after(NOW + 400 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def _tbs(
    subject: str,
    issuer: x509.Name,
    public_key: object,
    *,
    san: Sequence[str] | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    issuer_key: object,
) -> x509.CertificateBuilder:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key),  # type: ignore[arg-type]
            False,
        )
    )
    if san is not None:
        names: list[x509.GeneralName] = []
        for n in san:
            try:
                import ipaddress

                names.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                names.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(names), False)
    return b


def make_leaf(
    host: str = "mx.lab.example",
    *,
    ca: Issuer | None = None,
    san: Sequence[str] | None = ("mx.lab.example",),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: object = None,
) -> bytes:
    """A DER server certificate; self-signed when ``ca`` is None."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer = ca.key if ca else key
    b = _tbs(
        host,
        ca.cert.subject if ca else _name(host),
        key.public_key(),  # type: ignore[attr-defined]
        san=san,
        not_before=not_before or NOW - DAY,
        not_after=not_after or NOW + 30 * DAY,
        issuer_key=signer.public_key(),  # type: ignore[attr-defined]
    )
    return b.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def make_sha1_leaf(ca_key: rsa.RSAPrivateKey, ca_name: x509.Name) -> bytes:
    """A certificate signed with sha1WithRSAEncryption. cryptography refuses to make one, so the
    SHA-256 form's to-be-signed part is re-labelled and signed with SHA-1 by hand."""
    key = ec.generate_private_key(ec.SECP256R1())
    b = _tbs(
        "mx.lab.example",
        ca_name,
        key.public_key(),
        san=["mx.lab.example"],
        not_before=NOW - DAY,
        not_after=NOW + 30 * DAY,
        issuer_key=ca_key.public_key(),
    )
    tbs = b.sign(ca_key, hashes.SHA256()).tbs_certificate_bytes
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    sha1_rsa = bytes.fromhex("06092a864886f70d010105")
    assert tbs.count(sha256_rsa) == 1
    tbs = tbs.replace(sha256_rsa, sha1_rsa)
    sig = ca_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg = bytes.fromhex("300d06092a864886f70d0101050500")
    bits = b"\x03" + _der_len(len(sig) + 1) + b"\x00" + sig
    body = tbs + alg + bits
    return b"\x30" + _der_len(len(body)) + body


def kinds(problems: Sequence[object]) -> tuple[str, ...]:
    return tuple(p.kind for p in problems)  # type: ignore[attr-defined]


# --- names (RFC 6125 §6.4) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "host,pattern,ok",
    [
        ("mx.example.org", "mx.example.org", True),
        ("MX.Example.ORG.", "mx.example.org", True),
        ("mx.example.org", "*.example.org", True),
        ("a.mx.example.org", "*.example.org", False),  # one label only
        ("example.org", "*.example.org", False),  # not the bare domain
        ("mx.example.org", "m*.example.org", False),  # no partial wildcards
        ("mx.example.org", "*.*.org", False),
        ("example.org", "*.org", False),  # at least two labels after the wildcard
        ("mx.example.org", "mx.example.net", False),
        ("bücher.example", "xn--bcher-kva.example", True),  # U-label against A-label
        ("", "*.example.org", False),
    ],
)
def test_name_matches(host: str, pattern: str, ok: bool) -> None:
    assert name_matches(host, pattern) is ok


# --- every problem, from the certificate itself ----------------------------------------------


def test_a_good_certificate_has_no_problem() -> None:
    ca = make_ca()
    leaf = make_leaf(ca=ca)
    assert certificate_problems(leaf, [leaf], "mx.lab.example", now=NOW, trusted=True) == ()


def test_self_signed_and_expired_are_both_reported() -> None:
    leaf = make_leaf(not_before=NOW - 800 * DAY, not_after=NOW - 400 * DAY)
    got = certificate_problems(leaf, [leaf], "mx.lab.example", now=NOW, trusted=False)
    assert kinds(got) == ("expired", "self_signed")
    assert "expired" in got[0].detail and got[1].detail == "self-signed certificate"


def test_each_problem_apart() -> None:
    ca = make_ca()
    ok = {"now": NOW, "trusted": True}
    early = make_leaf(ca=ca, not_before=NOW + 10 * DAY, not_after=NOW + 40 * DAY)
    assert kinds(certificate_problems(early, [early], "mx.lab.example", **ok)) == ("not_yet_valid",)
    other = make_leaf(ca=ca, san=["mail.other.example"])
    got = certificate_problems(other, [other], "mx.lab.example", **ok)
    assert kinds(got) == ("name_mismatch",) and "'mx.lab.example'" in got[0].detail
    leaf = make_leaf(ca=ca)
    assert kinds(certificate_problems(leaf, [leaf], "mx.lab.example", now=NOW, trusted=False)) == (
        "unknown_issuer",
    )
    # trust not known: nothing said about the issuer
    assert certificate_problems(leaf, [leaf], "mx.lab.example", now=NOW, trusted=None) == ()
    # a self-signed certificate that is itself trusted (pinned) is not a problem
    own = make_leaf()
    assert certificate_problems(own, [own], "mx.lab.example", now=NOW, trusted=True) == ()


def test_addresses_and_the_common_name() -> None:
    ca = make_ca()
    by_ip = make_leaf("127.0.0.1", ca=ca, san=["127.0.0.1", "localhost"])
    assert certificate_problems(by_ip, [], "127.0.0.1", now=NOW, trusted=True) == ()
    assert kinds(certificate_problems(by_ip, [], "127.0.0.2", now=NOW, trusted=True)) == (
        "name_mismatch",
    )
    assert (
        "IP address mismatch"
        in certificate_problems(by_ip, [], "127.0.0.2", now=NOW, trusted=True)[0].detail
    )
    # the CN counts only when there is no DNS name in the SANs (RFC 6125 §6.4.4)
    cn_only = make_leaf("mx.lab.example", ca=ca, san=None)
    assert certificate_problems(cn_only, [], "mx.lab.example", now=NOW, trusted=True) == ()
    cn_and_san = make_leaf("mx.lab.example", ca=ca, san=["other.lab.example"])
    assert kinds(certificate_problems(cn_and_san, [], "mx.lab.example", now=NOW, trusted=True)) == (
        "name_mismatch",
    )
    # no name asked for: no name checked
    assert certificate_problems(cn_and_san, [], None, now=NOW, trusted=True) == ()


@pytest.mark.parametrize(
    "key,weak",
    [
        (lambda: rsa.generate_private_key(65537, 1024), True),
        (lambda: rsa.generate_private_key(65537, 2048), False),
        (lambda: ec.generate_private_key(ec.SECP192R1()), True),
        (lambda: ec.generate_private_key(ec.SECP256R1()), False),
    ],
    ids=["rsa1024", "rsa2048", "p192", "p256"],
)
def test_weak_keys(key: object, weak: bool) -> None:
    ca = make_ca()
    leaf = make_leaf(ca=ca, key=key())  # type: ignore[operator]
    got = certificate_problems(leaf, [leaf], "mx.lab.example", now=NOW, trusted=True)
    assert kinds(got) == (("weak_key",) if weak else ())


def _openssl_dsa_leaf(tmp_path: Path, bits: int) -> bytes:
    """A self-signed DSA certificate made by ``openssl`` (cryptography 51 deprecates DSA, so
    neither the test nor the code under test loads a DSA key object)."""
    import subprocess

    params, key, cert = (tmp_path / f"dsa{bits}.{ext}" for ext in ("params", "key", "der"))
    for argv in (
        ["dsaparam", "-out", str(params), str(bits)],
        ["gendsa", "-out", str(key), str(params)],
        ["req", "-x509", "-key", str(key), "-subj", "/CN=mx.lab.example", "-days", "2",
         "-addext", "subjectAltName=DNS:mx.lab.example", "-outform", "DER", "-out", str(cert)],
    ):  # fmt: skip
        subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=120)
    return cert.read_bytes()


@pytest.mark.parametrize("bits,weak", [(1024, True), (2048, False)])
def test_dsa_keys_judged_without_the_deprecated_api(tmp_path: Path, bits: int, weak: bool) -> None:
    import warnings

    leaf = _openssl_dsa_leaf(tmp_path, bits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cryptography 51: touching DSA key objects warns
        # openssl dates the certificate from this second, after NOW was taken
        soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
        got = certificate_problems(leaf, [leaf], "mx.lab.example", now=soon, trusted=True)
    assert kinds(got) == (("weak_key",) if weak else ())
    if weak:
        assert got[0].detail.endswith(f"DSA {bits} bits")


def test_weak_signature() -> None:
    ca_key = rsa.generate_private_key(65537, 2048)
    leaf = make_sha1_leaf(ca_key, _name("sha1 CA"))
    assert x509.load_der_x509_certificate(leaf).signature_algorithm_oid.dotted_string == (
        "1.2.840.113549.1.1.5"
    )
    got = certificate_problems(leaf, [leaf], "mx.lab.example", now=NOW, trusted=True)
    assert kinds(got) == ("weak_signature",) and "sha1WithRSAEncryption" in got[0].detail


def test_unreadable_certificate_is_a_problem_not_an_exception() -> None:
    got = certificate_problems(b"\x30\x03junk", [], "mx.lab.example", now=NOW, trusted=None)
    assert kinds(got) == ("unknown_issuer",) and "unreadable" in got[0].detail


# --- chains against a trust store ------------------------------------------------------------


def test_verify_chain_against_a_given_ca() -> None:
    ca = make_ca()
    good = make_leaf(ca=ca)
    v = verify_chain([good], "mx.lab.example", extra_ca_pem=ca.pem, now=NOW)
    assert v.verified and v.problems == () and v.error is None
    expired = make_leaf(ca=ca, not_before=NOW - 100 * DAY, not_after=NOW - 10 * DAY)
    v = verify_chain([expired], "mx.lab.example", extra_ca_pem=ca.pem, now=NOW)
    assert not v.verified and v.kinds == ("expired",)  # the issuer is known: only the date
    stranger = make_leaf(ca=make_ca("another root"))
    v = verify_chain([stranger], "mx.lab.example", extra_ca_pem=ca.pem, now=NOW)
    assert v.kinds == ("unknown_issuer",) and "issuer" in (v.error or "")
    both = make_leaf(
        ca=make_ca("another root"), san=["x.example"], not_after=NOW - DAY, not_before=NOW - 9 * DAY
    )
    v = verify_chain([both], "mx.lab.example", extra_ca_pem=ca.pem, now=NOW)
    assert v.kinds == ("expired", "unknown_issuer", "name_mismatch")
    assert problems_from_verify_error(v.error) == v.kinds  # the error line names each


def test_self_signed_and_expired_and_pinned() -> None:
    leaf = make_leaf(not_before=NOW - 800 * DAY, not_after=NOW - 400 * DAY)
    v = verify_chain([leaf], "mx.lab.example", extra_ca_pem=make_ca().pem, now=NOW)
    assert v.kinds == ("expired", "self_signed") and not v.verified
    own = make_leaf()
    pem = x509.load_der_x509_certificate(own).public_bytes(serialization.Encoding.PEM)
    v = verify_chain([own], "mx.lab.example", extra_ca_pem=pem, now=NOW)
    assert v.verified, v.error  # trusting the certificate itself, as `--cafile cert.pem` does


def test_intermediates_come_from_the_chain_sent() -> None:
    root = trustme.CA()
    child = root.create_child_ca()
    leaf = child.issue_cert("mx.lab.example")
    chain = [
        x509.load_pem_x509_certificate(b.bytes()).public_bytes(serialization.Encoding.DER)
        for b in leaf.cert_chain_pems
    ]
    assert len(chain) == 2
    root_pem = root.cert_pem.bytes()
    assert verify_chain(chain, "mx.lab.example", extra_ca_pem=root_pem).verified
    v = verify_chain(chain[:1], "mx.lab.example", extra_ca_pem=root_pem)
    assert v.kinds == ("unknown_issuer",)  # the server forgot its intermediate


def test_system_store_and_ssl_cert_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = make_ca("env root")
    leaf = make_leaf(ca=ca)
    assert verify_chain([leaf], "mx.lab.example", now=NOW).kinds == ("unknown_issuer",)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert verify_chain([leaf], "mx.lab.example", now=NOW).verified
    assert verify_chain([leaf], "mx.lab.example", cafile=str(bundle), now=NOW).verified


def test_no_certificate() -> None:
    v = verify_chain([], "mx.lab.example")
    assert not v.verified and v.error


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("lab-ca", ()),
        ("expired", ("expired",)),
        ("self-signed", ("self_signed",)),
        ("wrong-host", ("name_mismatch",)),
    ],
)
def test_the_labs_certificates(kind: str, expected: tuple[str, ...]) -> None:
    pair = lab_certs.certificate("smtp.lab.example", kind)
    der = x509.load_pem_x509_certificate(pair.cert_pem).public_bytes(serialization.Encoding.DER)
    v = verify_chain([der], "smtp.lab.example", extra_ca_pem=lab_certs.ca_pem())
    assert v.kinds == expected and v.verified is (expected == ())


# --- OpenSSL's word, over real handshakes on loopback ----------------------------------------


@dataclass
class Served:
    port: int
    errors: list[BaseException]


@pytest.fixture
def tls_server() -> Iterator[object]:
    """Serve one TLS handshake per call on 127.0.0.1 with the given certificate chain."""
    threads: list[threading.Thread] = []

    def serve(cert_pem: bytes, key_pem: bytes, tmp: Path) -> Served:
        (tmp / "cert.pem").write_bytes(cert_pem)
        (tmp / "key.pem").write_bytes(key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
        listener = socket.create_server(("127.0.0.1", 0))
        served = Served(listener.getsockname()[1], [])

        def run() -> None:
            with listener:
                listener.settimeout(10)
                conn, _ = listener.accept()
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError) as exc:
                    served.errors.append(exc)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)
        return served

    yield serve
    for t in threads:
        t.join(timeout=10)


def _handshake(port: int, ctx: ssl.SSLContext, name: str) -> ssl.SSLSocket | str:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return ctx.wrap_socket(sock, server_hostname=name)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        return exc.verify_message


def _leaf_pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    "case,openssl_names,trusted",
    [
        ("expired", "expired", True),
        ("wrong-name", "name_mismatch", True),
        ("unknown-ca-and-expired", "unknown_issuer", False),
        ("self-signed-and-expired", "self_signed", False),
    ],
)
def test_openssl_names_one_problem_we_name_them_all(
    tls_server: object, tmp_path: Path, case: str, openssl_names: str, trusted: bool
) -> None:
    ca = make_ca("handshake root")
    key = ec.generate_private_key(ec.SECP256R1())
    old = {"not_before": NOW - 100 * DAY, "not_after": NOW - 10 * DAY}
    if case == "expired":
        der = make_leaf(ca=ca, key=key, **old)
    elif case == "wrong-name":
        der = make_leaf(ca=ca, key=key, san=["mail.other.example"])
    elif case == "unknown-ca-and-expired":
        der = make_leaf(ca=make_ca("stranger"), key=key, **old)
    else:
        der = make_leaf(key=key, **old)
    served = tls_server(_leaf_pem(der), _key_pem(key), tmp_path)  # type: ignore[operator]
    ctx = client_context(verify=True, cadata=ca.pem.decode())
    message = _handshake(served.port, ctx, "mx.lab.example")
    assert isinstance(message, str), "OpenSSL accepted a certificate it should not"
    assert problems_from_verify_error(message) == (openssl_names,)
    assert trust_from_verify_error(message) is trusted
    ours = verify_chain([der], "mx.lab.example", extra_ca_pem=ca.pem, now=NOW)
    assert openssl_names in ours.kinds and not ours.verified
    # what the probe can do on a Python without the chain: the leaf and OpenSSL's first word
    fallback = leaf_problems(der, "mx.lab.example", verify_error=message, now=NOW)
    assert kinds(fallback) == ours.kinds


def test_leaf_problems_keeps_what_openssl_named() -> None:
    ca = make_ca()
    leaf = make_leaf(ca=ca)  # nothing wrong that the certificate shows
    got = leaf_problems(leaf, "mx.lab.example", verify_error="certificate revoked", now=NOW)
    assert kinds(got) == ("unknown_issuer",) and got[0].detail == "certificate revoked"
    got = leaf_problems(leaf, "mx.lab.example", verify_error="EE certificate key too weak", now=NOW)
    assert kinds(got) == ("weak_key",)  # OpenSSL's own security level, stricter than ours


def test_unverified_chain_from_one_unverified_handshake(tls_server: object, tmp_path: Path) -> None:
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("mx.lab.example")
    cert_pem = b"".join(b.bytes() for b in leaf.cert_chain_pems)
    served = tls_server(cert_pem, leaf.private_key_pem.bytes(), tmp_path)  # type: ignore[operator]
    tls = _handshake(served.port, client_context(verify=False), "mx.lab.example")
    assert isinstance(tls, ssl.SSLSocket)
    with tls:
        chain = unverified_chain_der(tls)
        leaf_der = tls.getpeercert(binary_form=True)
        if HANDS_OVER_CHAIN:  # 3.13 publicly, 3.10 to 3.12 on the C object underneath
            assert chain is not None and len(chain) == 2 and chain[0] == leaf_der
            v = verify_chain(chain, "mx.lab.example", extra_ca_pem=root.cert_pem.bytes())
            assert v.verified, v.error
            v = verify_chain(chain, "mx.lab.example")  # the system's CAs: not ours
            assert v.kinds == ("unknown_issuer",)
        else:
            assert chain is None  # this Python cannot hand the chain over
        tls.sendall(b"x")


def test_unverified_chain_from_asyncio(tls_server: object, tmp_path: Path) -> None:
    """The probe's own path: asyncio's transport hands out an ssl.SSLObject."""
    import asyncio

    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("mx.lab.example")
    cert_pem = b"".join(b.bytes() for b in leaf.cert_chain_pems)
    served = tls_server(cert_pem, leaf.private_key_pem.bytes(), tmp_path)  # type: ignore[operator]

    async def go() -> list[bytes] | None:
        ctx = client_context(verify=False)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", served.port, ssl=ctx, server_hostname="mx.lab.example"
        )
        sslobj = writer.get_extra_info("ssl_object")
        assert isinstance(sslobj, ssl.SSLObject)
        chain = unverified_chain_der(sslobj)
        writer.write(b"x")  # the server reads one byte and hangs up
        try:
            await reader.read()
            writer.close()
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass  # how the server's hang-up arrives does not matter here
        return chain

    chain = asyncio.run(go())
    if HANDS_OVER_CHAIN:
        assert chain is not None and len(chain) == 2
        assert verify_chain(chain, "mx.lab.example", extra_ca_pem=root.cert_pem.bytes()).verified
    else:
        assert chain is None


def test_unverified_chain_needs_the_method() -> None:
    assert unverified_chain_der(object()) is None
    assert (
        sys.version_info >= (3, 13) or hasattr(_ssl._SSLSocket, "get_unverified_chain")
    ) == HANDS_OVER_CHAIN


def test_verify_error_parts_and_kinds() -> None:
    assert verify_error_parts("certificate has expired") == (
        ("expired", "certificate has expired"),
    )
    assert problems_from_verify_error("self-signed certificate in certificate chain") == (
        "unknown_issuer",
    )
    assert problems_from_verify_error("unable to get local issuer certificate") == (
        "unknown_issuer",
    )
    assert problems_from_verify_error("something new") == ()
    assert trust_from_verify_error(None) is None
    assert set(CERT_PROBLEM_KINDS) >= set(problems_from_verify_error("EE certificate key too weak"))
