"""OpenSSL's own verdict on a handed-over chain, asked in memory (issue 25, item 9).

A certificate that verifies is judged by OpenSSL alone, so a probe of a trusted server never
loads ``cryptography``; one that does not is still described problem by problem; whatever OpenSSL
refuses is never called verified; and no input, however hostile, makes it say "verified" or
raise. Agreement with ``openssl verify`` case by case is in ``test_cert_openssl.py``.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from fresh_python import probe_in_a_fresh_python
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import Certs, ServerThread

from smtplab import tls
from smtplab.openssl_verdict import openssl_verdict

PAST = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def certs() -> Certs:
    return Certs()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    st_ = ServerThread()
    yield st_
    st_.stop()


def _probe_trusting(port: int, ca_file: Path) -> tuple[dict[str, object], bool]:
    """One STARTTLS port probed in a new interpreter trusting ``ca_file`` only: the record, and
    whether ``cryptography`` was loaded."""
    records, loaded = probe_in_a_fresh_python([port], SSL_CERT_FILE=str(ca_file), SSL_CERT_DIR="")
    assert len(records) == 1, records
    return records[0], loaded


def test_a_certificate_that_verifies_needs_no_cryptography(
    certs: Certs, server: ServerThread, tmp_path: Path
) -> None:
    port = server.smtp(ssl_ctx=certs.server_context())
    ca = tmp_path / "ca.pem"
    ca.write_text(certs.ca_pem)
    record, loaded = _probe_trusting(port, ca)
    assert record["cert_verified"] is True and record["cert_problems"] == [], record
    assert record["cert_chain"] and record["cert_subject"], record
    assert not loaded

    other = tmp_path / "other.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    record, loaded = _probe_trusting(port, other)
    assert record["cert_verified"] is False, record
    assert record["cert_problems"] == ["unknown_issuer"], record
    assert loaded  # every problem of a refused chain is read from the certificates themselves


def _unverified_session(port: int) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return tls.client_context(verify=False).wrap_socket(sock, server_hostname="localhost")


@pytest.mark.skipif(not tls.HANDS_OVER_CHAIN, reason="this Python hands over no chain")
def test_what_openssl_refuses_is_never_called_verified(certs: Certs, server: ServerThread) -> None:
    """The chain judge is told to trust the server's CA, OpenSSL's context another one: the
    verdict is OpenSSL's refusal, in OpenSSL's words. With the same CA both say verified."""
    port = server.smtp(ssl_ctx=certs.server_context(), implicit=True)
    stranger = ssl.create_default_context(cadata=trustme.CA().cert_pem.bytes().decode())
    own = ssl.create_default_context(cadata=certs.ca_pem)
    with _unverified_session(port) as session:
        refused = tls.judge_session_certificate(
            session, "localhost", cadata=certs.ca_pem, context=stranger
        )
        accepted = tls.judge_session_certificate(
            session, "localhost", cadata=certs.ca_pem, context=own
        )
        wrong_name = tls.judge_session_certificate(
            session, "elsewhere.example", cadata=certs.ca_pem, context=own
        )
    assert refused is not None and not refused.verified
    assert refused.kinds == ("unknown_issuer",)
    assert refused.error == "unable to get local issuer certificate"
    assert accepted is not None and accepted.verified and accepted.problems == ()
    assert wrong_name is not None and wrong_name.kinds == ("name_mismatch",)


def test_a_long_chain_is_sent_in_several_records(certs: Certs) -> None:
    """Over 16 KiB of certificates (a TLS record's most) still reach OpenSSL whole."""
    leaf = ssl.PEM_cert_to_DER_cert(certs.good.cert_chain_pems[0].bytes().decode())
    padding = [ssl.PEM_cert_to_DER_cert(trustme.CA().cert_pem.bytes().decode())] * 40
    assert sum(map(len, padding)) > 2**14
    ctx = ssl.create_default_context(cadata=certs.ca_pem)
    said = openssl_verdict([leaf, *padding], "localhost", ctx)
    assert said is not None and said.verified
    said = openssl_verdict([leaf, *padding], "127.0.0.1", ctx)
    assert said is not None and said.verified
    expired = certs.ca.issue_cert("localhost", not_after=PAST)
    der = ssl.PEM_cert_to_DER_cert(expired.cert_chain_pems[0].bytes().decode())
    said = openssl_verdict([der, *padding], "localhost", ctx)
    assert said is not None and not said.verified
    assert said.message == "certificate has expired"


def test_no_verdict_from_a_context_that_would_not_verify(certs: Certs) -> None:
    leaf = ssl.PEM_cert_to_DER_cert(certs.good.cert_chain_pems[0].bytes().decode())
    assert openssl_verdict([leaf], "localhost", tls.client_context(verify=False)) is None
    no_name = ssl.create_default_context(cadata=certs.ca_pem)
    no_name.check_hostname = False
    assert openssl_verdict([leaf], "localhost", no_name) is None
    tls13_only = ssl.create_default_context(cadata=certs.ca_pem)
    tls13_only.minimum_version = ssl.TLSVersion.TLSv1_3
    assert openssl_verdict([leaf], "localhost", tls13_only) is None
    assert openssl_verdict([], "localhost", ssl.create_default_context()) is None


HOSTILE_NAMES = ["", "\x00", "a\x00b.example", "x" * 300, ".example", "[::1]", "mx.läb.test"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_get_no_verdict_or_a_refusal(certs: Certs, name: str) -> None:
    leaf = ssl.PEM_cert_to_DER_cert(certs.good.cert_chain_pems[0].bytes().decode())
    said = openssl_verdict([leaf], name, ssl.create_default_context(cadata=certs.ca_pem))
    assert said is None or not said.verified


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4))
def test_garbage_is_never_verified(chain: list[bytes]) -> None:
    ctx = tls.client_context(verify=True)  # the system's CAs
    said = openssl_verdict(chain, "mx.example", ctx)
    assert said is None or not said.verified


def test_a_chain_too_long_for_one_message_gets_no_verdict(certs: Certs) -> None:
    huge = [bytes(2**23), bytes(2**23)]
    assert openssl_verdict(huge, "localhost", ssl.create_default_context()) is None
