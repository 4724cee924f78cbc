"""Findings are a pure function of a record: each rule on hand-made records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smtplab.findings import RULES, Finding, analyze, guess_role, rule_for, top_finding
from smtplab.schema import SEVERITIES, empty_record


def rec(**kw: Any) -> dict[str, Any]:
    base = dict(
        host="smtp.example.org",
        port=587,
        outcome="open",
        banner_code=220,
        banner="smtp.example.org ESMTP",
        esmtp=True,
    )
    base.update(kw)
    return empty_record(**base)


def codes(r: dict[str, Any]) -> list[str]:
    return [f.code for f in analyze(r)]


@pytest.mark.parametrize(
    "record,code",
    [
        (rec(auth_before_tls=["PLAIN", "LOGIN"], starttls_offered=True), "auth_before_tls"),
        (rec(starttls_offered=False), "no_starttls_submission"),
        (rec(port=25, starttls_offered=False, host="mx.example.org"), "no_starttls_relay"),
        (
            rec(
                tls_mode="starttls",
                tls_version="TLSv1.3",
                cert_verified=False,
                cert_error="certificate has expired",
            ),
            "cert_expired",
        ),
        (
            rec(
                tls_mode="starttls",
                tls_version="TLSv1.3",
                cert_verified=False,
                cert_error="self-signed certificate",
            ),
            "cert_self_signed",
        ),
        (
            rec(
                tls_mode="starttls",
                tls_version="TLSv1.3",
                cert_verified=False,
                cert_error="Hostname mismatch, certificate is not valid for 'x'.",
            ),
            "cert_name_mismatch",
        ),
        (
            rec(
                tls_mode="starttls",
                tls_version="TLSv1.3",
                cert_verified=False,
                cert_error="unable to get local issuer certificate",
            ),
            "cert_untrusted",
        ),
        (
            rec(tls_mode="implicit", port=465, tls_version="TLSv1", cert_verified=True),
            "tls_outdated",
        ),
        (rec(outcome="rejected", banner_code=554), "greeting_refused"),
        (rec(outcome="filtered", banner_code=None, banner=None), "filtered"),
        (rec(outcome="not_smtp", banner_code=None), "not_smtp"),
        (rec(relay_check="accepted", port=25), "open_relay"),
        (
            rec(port=25, host="mx.lab.example", banner="smtp.isp-filter.example ESMTP"),
            "greeting_from_elsewhere",
        ),
        (rec(port=2525, starttls_offered=True), "port_2525_unofficial"),
        (rec(extensions=["SIZE", "XXXXXXXA", "AUTH"], starttls_offered=False), "starttls_masked"),
    ],
)
def test_rule(record: dict[str, Any], code: str) -> None:
    assert code in codes(record)


def test_no_false_alarms_on_a_healthy_submission_server() -> None:
    r = rec(
        tls_mode="starttls",
        tls_version="TLSv1.3",
        cert_verified=True,
        starttls_offered=True,
        auth_before_tls=[],
        auth_after_tls=["PLAIN"],
    )
    assert codes(r) == ["tls_ok"]
    assert guess_role(r) == "submission-starttls"
    # a greeting naming a sibling host of the same site is not an interception
    assert "greeting_from_elsewhere" not in codes(rec(banner="mx2.example.org ESMTP"))


def test_most_severe_first() -> None:
    fs = analyze(rec(auth_before_tls=["PLAIN"], port=2525, starttls_offered=False))
    assert fs[0].severity == "high"
    assert top_finding(fs) == fs[0]


@pytest.mark.parametrize(
    "record,role",
    [
        (
            rec(
                port=25,
                starttls_offered=True,
                auth_before_tls=[],
                auth_after_tls=[],
                tls_mode="starttls",
                tls_version="TLSv1.3",
            ),
            "relay",
        ),
        (
            rec(port=465, tls_mode="implicit", tls_version="TLSv1.3", auth_after_tls=["PLAIN"]),
            "submission-implicit",
        ),
        (rec(outcome="filtered"), "unknown"),
    ],
)
def test_role(record: dict[str, Any], role: str) -> None:
    assert guess_role(record) == role


def test_every_rule_has_a_unique_code_a_severity_and_a_source() -> None:
    codes_seen = [r.code for r in RULES]
    assert len(codes_seen) == len(set(codes_seen)), "duplicate finding codes"
    for r in RULES:
        assert r.severity in SEVERITIES, r.code
        assert r.source.strip() and any(w in r.source for w in ("RFC", "IANA", "NIST", "DESIGN")), (
            r.code
        )
        assert r.message.strip(), r.code


def test_every_finding_analyze_makes_comes_from_a_row() -> None:
    r = rec(auth_before_tls=["PLAIN"], port=2525, starttls_offered=False, relay_check="accepted")
    for f in analyze(r):
        row = rule_for(f.code)
        assert row is not None and row.severity == f.severity


@pytest.mark.parametrize("version", ["SSLv3", "TLSv1", "TLSv1.1"])
@pytest.mark.parametrize("port,mode", [(465, "implicit"), (587, "starttls"), (2525, "starttls")])
def test_tls_outdated_is_a_submission_should(version: str, port: int, mode: str) -> None:
    r = rec(port=port, tls_mode=mode, tls_version=version, starttls_offered=mode == "starttls")
    found = {f.code: f for f in analyze(r)}
    assert "tls_outdated_relay" not in found
    f = found["tls_outdated"]
    assert f.severity == "high" and "RFC 8997" in f.message and "SHOULD" in f.message
    assert "submission" in f.message and "requires" not in f.message


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1.1"])
def test_tls_outdated_on_a_relay_is_only_a_note(version: str) -> None:
    relay = rec(
        port=25,
        host="mx.example.org",
        tls_mode="starttls",
        tls_version=version,
        starttls_offered=True,
        auth_before_tls=[],
        auth_after_tls=[],
    )
    found = {f.code: f for f in analyze(relay)}
    assert "tls_outdated" not in found
    note = found["tls_outdated_relay"]
    assert note.severity == "info"
    assert "not for relay" in note.message and "requires" not in note.message
    # a relay on an unregistered port (no login offered) is scoped the same way
    other = dict(relay, port=8025)
    assert "tls_outdated_relay" in codes(other) and "tls_outdated" not in codes(other)


def test_tls_1_2_and_later_are_not_outdated() -> None:
    for version in ("TLSv1.2", "TLSv1.3"):
        for port in (25, 587):
            r = rec(port=port, tls_mode="starttls", tls_version=version, starttls_offered=True)
            assert not {"tls_outdated", "tls_outdated_relay"} & set(codes(r))


# --- every certificate problem -------------------------------------------------------------


def tls_rec(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        tls_mode="starttls",
        tls_version="TLSv1.3",
        starttls_offered=True,
        started_at="2026-06-01T12:00:00+00:00",
    )
    base.update(kw)
    return rec(**base)


CERT_CODES = {
    "cert_expired",
    "cert_not_yet_valid",
    "cert_self_signed",
    "cert_untrusted",
    "cert_wrong_purpose",
    "cert_bad_extension",
    "cert_name_mismatch",
    "cert_weak_key",
    "cert_weak_signature",
}


def test_every_certificate_problem_has_its_row() -> None:
    from smtplab.findings import CERT_PROBLEMS, cert_finding_code
    from smtplab.tls import CERT_PROBLEM_KINDS

    assert CERT_PROBLEMS == CERT_PROBLEM_KINDS
    assert {cert_finding_code(p) for p in CERT_PROBLEMS} == CERT_CODES
    assert all(rule_for(code) is not None for code in CERT_CODES)


def test_a_self_signed_expired_v1_record_shows_both() -> None:
    # what the probe recorded before: OpenSSL named only "self-signed", the dates say more
    r = tls_rec(
        cert_verified=False,
        cert_error="self-signed certificate",
        cert_subject="CN=smtp.example.org",
        cert_issuer="CN=smtp.example.org",
        cert_not_after="2020-01-01T00:00:00+00:00",
        cert_san=["smtp.example.org"],
    )
    found = {f.code: f for f in analyze(r)}
    assert {"cert_self_signed", "cert_expired"} <= set(found)
    assert "cert_name_mismatch" not in found and "cert_untrusted" not in found
    assert "(self-signed certificate)" in found["cert_self_signed"].message
    # judged at the time of the probe, not of reading: the same record from 2019 is in date
    early = dict(r, started_at="2019-06-01T00:00:00+00:00")
    assert "cert_expired" not in codes(early)


def test_recorded_cert_problems_are_taken_as_they_are() -> None:
    r = tls_rec(cert_verified=False, cert_error="several")
    r["cert_problems"] = list(reversed(CERT_PROBLEM_LIST))
    assert set(codes(r)) & CERT_CODES == CERT_CODES
    assert "tls_ok" not in codes(r)
    fine = tls_rec(cert_verified=True)
    fine["cert_problems"] = []
    assert codes(fine) == ["tls_ok"]
    weak = tls_rec(cert_verified=True)
    weak["cert_problems"] = ["weak_key"]
    assert codes(weak) == ["cert_weak_key"]


CERT_PROBLEM_LIST = [
    "expired",
    "not_yet_valid",
    "self_signed",
    "unknown_issuer",
    "wrong_purpose",
    "bad_extension",
    "name_mismatch",
    "weak_key",
    "weak_signature",
]


def test_names_and_trust_from_the_fields() -> None:
    mismatch = tls_rec(
        host="smtp.example.org",
        cert_verified=False,
        cert_error="unable to get local issuer certificate",
        cert_subject="CN=mail.other.example",
        cert_issuer="CN=Some CA",
        cert_san=["mail.other.example"],
    )
    assert {"cert_untrusted", "cert_name_mismatch"} <= set(codes(mismatch))
    wildcard = dict(mismatch, cert_san=["*.example.org"])
    assert "cert_name_mismatch" not in codes(wildcard)
    by_ip = dict(mismatch, host="127.0.0.1", cert_san=["localhost", "127.0.0.1"])
    assert "cert_name_mismatch" not in codes(by_ip)
    # OpenSSL complained about the name: the chain was trusted, a self-signed subject is pinned
    pinned = tls_rec(
        cert_verified=False,
        cert_error="Hostname mismatch, certificate is not valid for 'smtp.example.org'.",
        cert_subject="CN=mx.example.org",
        cert_issuer="CN=mx.example.org",
        cert_san=["mx.example.org"],
    )
    assert set(codes(pinned)) & CERT_CODES == {"cert_name_mismatch"}
    # a verified certificate has no problem to derive
    assert codes(tls_rec(cert_verified=True, cert_not_after="2020-01-01T00:00:00+00:00")) == [
        "tls_ok"
    ]


def test_from_a_chain_verdict_to_findings() -> None:
    """The probe's path: verify_chain's verdict goes into the record, analyze names each."""
    import datetime as dt

    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from smtplab.findings import cert_finding_code
    from smtplab.tls import verify_chain

    ca, stranger = trustme.CA(), trustme.CA()
    leaf = stranger.issue_cert(
        "mail.other.example",
        not_before=dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc),
        not_after=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
    )
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER
    )
    v = verify_chain([der], "smtp.example.org", extra_ca_pem=ca.cert_pem.bytes())
    assert v.kinds == ("expired", "unknown_issuer", "name_mismatch")
    r = tls_rec(cert_verified=v.verified, cert_error=v.error)
    r["cert_problems"] = list(v.kinds)
    expected = {cert_finding_code(k) for k in v.kinds}
    assert set(codes(r)) & CERT_CODES == expected
    # a record without the list still reads each problem from the error line
    del r["cert_problems"]
    assert set(codes(r)) & CERT_CODES == expected


def test_imported_records_get_findings_too() -> None:
    """Records from other tools go through the same rules as the probe's own."""
    from smtplab.importers import from_nmap_xml, from_zgrab2

    here = Path(__file__).parent / "data"
    recs = from_zgrab2(here / "zgrab2-smtp.jsonl") + from_nmap_xml(here / "nmap-lab.xml")
    for rec in recs:
        assert [Finding.from_dict(f) for f in rec["findings"]] == list(analyze(rec)), rec["host"]
    by_outcome = {r["outcome"]: {f["code"] for f in r["findings"]} for r in recs}
    assert "refused" in by_outcome["refused"] and "filtered" in by_outcome["filtered"]
    assert any("cert_self_signed" in {f["code"] for f in r["findings"]} for r in recs)
