"""advise(): the rules that never bend (Hypothesis over generated record sets), the verdicts and
their evidence, "server or my network?", and the facts it reads."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smtplab
from smtplab.advice import (
    LAB_PROVIDER,
    PURPOSES,
    RULES,
    VERDICTS,
    advise,
    guess_provider,
    provider_facts,
)
from smtplab.advice.facts import STANDARDS, _facts_from_rows
from smtplab.advice.rules import KINDS
from smtplab.schema import OUTCOMES, empty_record

HOST = "smtp.example.org"
PORTS = (25, 465, 587, 2525, 2465, 2587)
PROVIDERS = (
    None,
    "Gmail",
    "SendGrid",
    "Fastmail",
    "Amazon SES",
    "Resend",
    "Microsoft 365 (SMTP AUTH client submission)",
    "Google Workspace SMTP relay",
    "brevo",
    "outlook",
    "postmark",
    "ses",
)


def rec(port: int, outcome: str = "open", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        probe_id=f"p{port}",
        started_at="2026-01-01T00:00:00Z",
        vantage="here",
        host=HOST,
        port=port,
        outcome=outcome,
    )
    if outcome == "open":
        base |= dict(
            banner=f"{HOST} ESMTP",
            banner_code=220,
            tls_mode="implicit" if port in (465, 2465) else "starttls",
            starttls_offered=port not in (465, 2465),
            cert_verified=True,
            auth_after_tls=["PLAIN", "LOGIN"],
            auth_before_tls=[] if port not in (465, 2465) else None,
        )
    base |= kw
    return empty_record(**base)


# --------------------------------------------------------------------------- generated records


#: TLS versions a record may name (None: an imported record that names none).
TLS_VERSIONS = (None, "TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3")


@st.composite
def port_records(draw: st.DrawFn, port: int, vantage: str = "here") -> dict[str, Any]:
    outcome = draw(st.sampled_from(("open",) * len(OUTCOMES) + OUTCOMES))  # open half the time
    if outcome != "open":
        return rec(port, outcome, vantage=vantage)
    tls_mode = draw(st.sampled_from(("none", "starttls", "implicit")))
    name = draw(
        st.sampled_from((HOST, "mx2.example.org", "smtp.isp-filter.example", "[192.0.2.1]"))
    )
    verified = draw(st.sampled_from((True, False, None))) if tls_mode != "none" else None
    masked = draw(st.booleans()) and tls_mode == "none"
    exts = ["SIZE", "XXXXXXXA"] if masked else ["SIZE"]
    if tls_mode == "starttls":
        exts.append("STARTTLS")
    return rec(
        port,
        "open",
        banner=f"{name} ESMTP",
        tls_mode=tls_mode,
        starttls_offered=tls_mode == "starttls",
        cert_verified=verified,
        cert_error=None if verified else ("hostname mismatch" if verified is False else None),
        extensions=exts,
        auth_before_tls=draw(st.sampled_from(([], ["PLAIN"], None))),
        auth_after_tls=draw(st.sampled_from((["PLAIN"], [], None, ["XOAUTH2", "OAUTHBEARER"]))),
        tls_version=draw(st.sampled_from(TLS_VERSIONS)) if tls_mode != "none" else None,
        vantage=vantage,
    )


@st.composite
def record_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    ports = draw(st.lists(st.sampled_from(PORTS), unique=True, max_size=len(PORTS)))
    return [draw(port_records(p)) for p in ports]


def _independent_intercepted(r: dict[str, Any]) -> bool:
    """Written apart from the engine: a greeting from another site and no verified cert."""
    name = (r.get("banner") or "").split()[0] if r.get("banner") else ""
    other = "." in name and not name.startswith("[") and not name.endswith("example.org")
    return r["outcome"] == "open" and other and r.get("cert_verified") is not True


def _safe_for_password(r: dict[str, Any]) -> bool:
    return (
        r["tls_mode"] in ("implicit", "starttls")
        and r.get("cert_verified") is True
        and "XXXXXXXA" not in (r.get("extensions") or [])
        # TLS 1.2 or newer (RFC 8997), when the record names its version
        and r.get("tls_version") in (None, "TLSv1.2", "TLSv1.3")
    )


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    records=record_sets(),
    provider=st.sampled_from(PROVIDERS),
    purpose=st.sampled_from(PURPOSES),
)
def test_rules_that_never_bend(
    records: list[dict[str, Any]], provider: str | None, purpose: str
) -> None:
    advice = advise(records, provider=provider, purpose=purpose, host=HOST)
    facts = provider_facts(provider) if provider else STANDARDS
    by_port = {r["port"]: r for r in records}
    chosen = [advice.recommended] if advice.recommended else []
    for s in [*chosen, *advice.fallbacks]:
        r = by_port[s.port]
        # never a port whose probe did not end open, never one intercepted
        assert r["outcome"] == "open"
        assert not _independent_intercepted(r)
        assert "XXXXXXXA" not in (r.get("extensions") or [])
        # never a password without verified TLS
        if s.auth != "none":
            assert _safe_for_password(r)
        # an OAuth-only server gets a token login, never a password
        oauth = set(r.get("auth_after_tls") or ()) == {"XOAUTH2", "OAUTHBEARER"}
        if oauth and s.auth != "none":
            assert s.auth.startswith("sign in with OAuth (XOAUTH2/OAUTHBEARER)")
        # 465 is implicit TLS, never STARTTLS
        if s.port == 465:
            assert s.security == "implicit" and "STARTTLS" not in s.line()
        # never a port the provider does not document (2525 included)
        doc = facts.port(s.port)
        assert doc is not None or (s.port == 25 and purpose == "mail-server")
    rec25 = advice.recommended
    if purpose != "mail-server":
        # never 25 for a program that logs in; a flagged last resort at most, where documented
        assert rec25 is None or rec25.port != 25
        for f in advice.fallbacks:
            if f.port == 25:
                doc = facts.port(25)
                assert f.last_resort and doc is not None and doc.purpose != "relay"
    assert {v.verdict for v in advice.ports} <= set(VERDICTS)
    assert advice.confidence in ("high", "medium", "low")
    if advice.recommended is None:
        assert advice.confidence == "low"


# --------------------------------------------------------------------------- verdicts


def test_the_rules_are_a_complete_table() -> None:
    assert {(r.purpose, r.kind) for r in RULES} == {(p, k) for p in PURPOSES for k in KINDS}
    never = {(r.purpose, r.kind) for r in RULES if r.rank is None}
    assert ("mail-client", "relay25") in never and ("website-plugin", "undocumented") in never
    assert all(r.last_resort for r in RULES if r.kind == "sub25" and r.purpose != "mail-server")


def test_an_impostor_on_25_and_a_dropped_587() -> None:
    records = [
        rec(
            25,
            banner="mail.impostor.example ESMTP",
            cert_verified=False,
            cert_error="hostname mismatch, certificate is not valid for 'smtp.example.org'",
            cert_san=["mail.impostor.example"],
            auth_after_tls=[],
        ),
        rec(465),
        rec(587, "filtered"),
    ]
    a = advise(records, purpose="mail-client")
    assert a.recommended is not None and a.recommended.port == 465
    assert a.recommended.security == "implicit"
    v25, v587 = a.verdict(25), a.verdict(587)
    assert v25 is not None and v25.verdict == "intercepted"
    assert "mail.impostor.example" in v25.evidence and "not valid" in v25.evidence
    assert v587 is not None and v587.verdict == "blocked here" and "filtered" in v587.evidence
    assert a.confidence == "medium"  # no provider facts: the standards only


def test_a_greeting_from_elsewhere_with_a_valid_certificate_is_not_interception() -> None:
    r = rec(587, banner="outbound-7.mailer.example ESMTP")
    a = advise([r], purpose="mail-client")
    assert a.verdict(587).verdict == "works" and a.recommended.port == 587


@pytest.mark.parametrize(
    ("record", "verdict", "words"),
    [
        (
            rec(587, tls_mode="none", starttls_offered=False, extensions=["SIZE", "XXXXXXXA"]),
            "unsafe",
            "XXXXXXXA",
        ),
        (
            rec(587, tls_mode="none", starttls_offered=False, auth_before_tls=["PLAIN"]),
            "unsafe",
            "cleartext",
        ),
        (
            rec(465, cert_verified=False, cert_error="certificate has expired"),
            "unsafe",
            "expired",
        ),
        (rec(25, auth_after_tls=[]), "relay only", "relay"),
        (rec(587, auth_after_tls=[]), "relay only", "no AUTH"),
        (rec(2525, "refused"), "not offered", "refused"),
        (rec(465, "filtered"), "blocked here", "filtered"),
    ],
)
def test_each_verdict_names_its_evidence(record: dict[str, Any], verdict: str, words: str) -> None:
    a = advise([record], purpose="mail-client")
    v = a.ports[0]
    assert (v.verdict, v.outcome) == (verdict, record["outcome"])
    assert words in v.evidence and v.evidence.endswith(".")
    assert a.recommended is None and a.next_steps


def test_purposes_differ_on_port_25() -> None:
    records = [rec(25, auth_after_tls=[]), rec(587, "filtered"), rec(465, "filtered")]
    assert advise(records, purpose="mail-client").recommended is None
    assert advise(records, purpose="website-plugin").recommended is None
    server = advise(records, purpose="mail-server")
    assert server.recommended is not None and server.recommended.port == 25
    assert server.recommended.auth == "none"


def test_25_is_a_flagged_last_resort_only_where_documented() -> None:
    records = [rec(25), rec(465, "filtered"), rec(587, "filtered"), rec(2525, "filtered")]
    sendgrid = advise(records, provider="SendGrid", purpose="mail-client")
    assert sendgrid.recommended is None
    assert [(f.port, f.last_resort) for f in sendgrid.fallbacks] == [(25, True)]
    gmail = advise(records, provider="Gmail", purpose="mail-client")
    assert gmail.recommended is None and gmail.fallbacks == ()
    assert gmail.verdict(25).verdict == "relay only"


def test_2525_only_where_the_provider_documents_it() -> None:
    records = [rec(465, "filtered"), rec(587, "filtered"), rec(2525)]
    assert advise(records, purpose="mail-client").recommended is None
    v2525 = advise(records).verdict(2525)
    assert v2525.verdict == "undocumented" and "not advised" in v2525.evidence
    assert "do not use it" not in v2525.evidence  # "works ... do not use it" said both
    sg = advise(records, provider="SendGrid", purpose="mail-client")
    assert sg.recommended is not None and sg.recommended.port == 2525
    assert sg.recommended.security == "starttls" and sg.confidence == "high"
    assert sg.recommended.user_name == "apikey"


def test_provider_extra_ports_and_login() -> None:
    records = [rec(465, "filtered"), rec(587, "filtered"), rec(2465), rec(2587)]
    ses = advise(records, provider="Amazon SES", purpose="website-plugin")
    assert ses.recommended is not None and ses.recommended.port == 2465
    assert [f.port for f in ses.fallbacks] == [2587]
    gmail = provider_facts("Gmail")
    assert gmail.host == "smtp.gmail.com" and "OAuth 2.0" in gmail.login
    assert "app password" in provider_facts("Fastmail").login


def test_login_methods_column_wins_when_present() -> None:
    rows = [
        {
            "provider": "X",
            "host": "smtp.x.example",
            "port": 587,
            "security": "starttls",
            "purpose": "submission",
            "notes": "app-specific password",
            "source": "https://x.example/smtp",
            "login_methods": "OAuth 2.0 only",
        }
    ]
    facts = _facts_from_rows("X", rows)
    assert facts.login == "OAuth 2.0 only" and facts.login_source == "https://x.example/smtp"


def test_provider_guessed_from_the_host_name() -> None:
    assert guess_provider("SMTP.gmail.com.") == "Gmail"
    assert guess_provider("smtp25.elasticemail.com") == "Elastic Email"
    assert guess_provider("smtp.lab.example") == LAB_PROVIDER
    assert guess_provider("mail.nobody.example") is None
    a = advise([{**rec(465), "host": "smtp.gmail.com"}])
    assert a.provider == "Gmail" and a.recommended.auth == provider_facts("Gmail").login
    with pytest.raises(ValueError, match="unknown provider"):
        advise([rec(465)], provider="No Such Mail")
    with pytest.raises(ValueError, match="purpose"):
        advise([rec(465)], purpose="pigeon")


def test_server_or_my_network() -> None:
    here = [rec(465), rec(587, "filtered")]
    away = [rec(587, vantage="office"), rec(2525, "filtered", vantage="office")]
    a = advise(here + away, vantage="here")
    assert "From elsewhere (vantage office), not measured here: port 587 answers" in (
        a.verdict(587).elsewhere
    )
    assert a.verdict(587).elsewhere_vantages == ("office",)
    assert "your network" in a.verdict(587).elsewhere
    assert a.verdict(465).elsewhere is None  # nothing failed there
    both = advise([rec(587, "filtered"), rec(587, "filtered", vantage="office")], vantage="here")
    assert "fails there too" in both.verdict(587).elsewhere


# ------------------------------------------------------------------------ evidence from elsewhere

#: Vantage labels a file from elsewhere may carry: this network's own label among them (a file can
#: copy it), and a hostile one.
LABELS = ("here", "office", "lab:hotel-wifi", "\x1b[2Jhere\u202e")
BAD_HERE = ("blocked here", "intercepted", "unsafe", "nothing listens")


@st.composite
def outside_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records from elsewhere: generated ones, and perfect forgeries (open, verified TLS 1.3,
    AUTH offered) of any port under any label, this network's included."""
    out = []
    for _ in range(draw(st.integers(0, 8))):
        port, label = draw(st.sampled_from(PORTS)), draw(st.sampled_from(LABELS))
        if draw(st.booleans()):
            out.append(rec(port, vantage=label, tls_version="TLSv1.3"))
        else:
            out.append(draw(port_records(port, vantage=label)))
    return out


def _measured(a: Any) -> Any:
    """The advice without what came from elsewhere."""
    ports = tuple(dataclasses.replace(v, elsewhere=None, elsewhere_vantages=()) for v in a.ports)
    return dataclasses.replace(a, ports=ports)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    here=record_sets(),
    outside=outside_records(),
    provider=st.sampled_from(PROVIDERS),
    purpose=st.sampled_from(PURPOSES),
    vantage=st.sampled_from(("here", None)),
)
def test_evidence_from_elsewhere_adds_and_never_replaces(
    here: list[dict[str, Any]],
    outside: list[dict[str, Any]],
    provider: str | None,
    purpose: str,
    vantage: str | None,
) -> None:
    kw: dict[str, Any] = dict(provider=provider, purpose=purpose, host=HOST, vantage=vantage)
    alone = advise(here, **kw)
    both = advise(here, elsewhere=outside, **kw)
    # the verdicts, the settings and how sure: what was measured here, whatever came from away
    assert _measured(both) == _measured(alone)
    chosen = {s.port for s in [both.recommended, *both.fallbacks] if s is not None}
    for v in alone.ports:
        if v.verdict in BAD_HERE:  # blocked, intercepted, unverified or stripped here
            assert v.port not in chosen
    for v in both.ports:
        if v.elsewhere is not None:  # said as coming from elsewhere, naming its vantages
            assert v.elsewhere.startswith("From elsewhere (vantage ")
            assert v.verdict in BAD_HERE and v.elsewhere_vantages
            assert set(v.elsewhere_vantages) <= {r["vantage"] for r in outside}


def test_a_forged_record_with_this_networks_label_changes_nothing() -> None:
    """The finding: one record carrying the live label made 587 "works", "How sure: high",
    while every port here sat behind an interceptor with a self-signed certificate."""
    impostor = dict(
        banner="gw.hotel.example ESMTP",
        cert_verified=False,
        cert_error="self-signed certificate",
    )
    here = [rec(p, **impostor) for p in (25, 465, 587, 2525)]
    forged = [rec(587, tls_version="TLSv1.3")]  # vantage "here", as the live probes
    a = advise(here, elsewhere=forged, host=HOST, vantage="here", provider="Gmail")
    assert a.recommended is None and a.fallbacks == () and a.confidence == "low"
    assert a.verdict(587).verdict == "intercepted"
    assert a.verdict(587).elsewhere.startswith("From elsewhere (vantage here), not measured here")


def test_a_port_that_speaks_only_old_tls_is_never_advised_for_a_password() -> None:
    a = advise([rec(465, tls_version="TLSv1"), rec(587, tls_version="TLSv1.2")])
    assert a.recommended is not None and a.recommended.port == 587
    assert [f.port for f in a.fallbacks] == []
    v = a.verdict(465)
    assert v.verdict == "unsafe" and "TLSv1, older than TLS 1.2" in v.evidence
    assert "RFC 8997" in v.evidence and "(TLSv1)" in v.evidence
    old = advise([rec(465, tls_version="TLSv1"), rec(587, tls_version="TLSv1.1")])
    assert old.recommended is None and old.fallbacks == ()
    # between servers TLS is opportunistic: old TLS on a relay still beats cleartext
    relay = advise([rec(25, tls_version="TLSv1", auth_after_tls=[])], purpose="mail-server")
    assert relay.recommended is not None and relay.recommended.port == 25


def test_advise_is_pure_and_takes_probe_results(monkeypatch: pytest.MonkeyPatch) -> None:
    with smtplab.Lab("home-isp") as lab:
        results = smtplab.probe_many(
            [("smtp.lab.example", p) for p in (25, 465, 587, 2525)], lab=lab, timeout=1
        )
    provider_facts("Gmail")  # load the reference facts before sockets are forbidden

    def no_sockets(*a: Any, **k: Any) -> None:
        raise AssertionError("advise() opened a socket")

    monkeypatch.setattr(socket, "socket", no_sockets)
    from_results = advise(results)
    from_records = advise([r.to_record() for r in results])
    assert from_results == from_records
    assert from_results.recommended.port == 465 and from_results.provider == LAB_PROVIDER
    assert [f.port for f in from_results.fallbacks] == [587, 2525]
    assert from_results.verdict(25).verdict == "not offered"  # smtp.lab.example serves no 25
    assert smtplab.advise is advise and isinstance(from_results, smtplab.Advice)


def test_nothing_reached_names_the_likely_cause() -> None:
    dns = advise([rec(p, "dns_failed") for p in (465, 587)])
    assert any("does not resolve" in s for s in dns.next_steps)
    far = advise([rec(p, "unreachable") for p in (25, 465, 587)])
    assert any("no route" in s for s in far.next_steps)
    assert far.recommended is None and {v.verdict for v in far.ports} == {"blocked here"}


def test_blocked_ports_said_by_the_user_and_the_plan_to_try() -> None:
    a = advise([], purpose="mail-client", blocked=[465])
    assert a.recommended is None and a.to_try == (587,)
    assert a.verdict(465).verdict == "blocked here" and a.confidence == "low"
