"""Logins in the lab: the OAuth authorization server, the token-taking mail servers, and the hosts
that refuse a password as the big providers do.

Real servers on loopback: the lab's Authlib server over HTTP (urllib), its SMTP servers through
stdlib ``smtplib`` -- what a notebook cell does -- and the probe.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import secrets
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import smtplab
from smtplab import labworld
from smtplab.lab import Lab, LabError
from smtplab.lab.logins import PROVIDER_LIKE, parse_oauthbearer, parse_xoauth2
from smtplab.lab.oauth import SMTP_SCOPE, oauthbearer_string, xoauth2_string

HOST, PORT = "oauth.lab.example", 587
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("open-internet") as running:
        yield running


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


def post(url: str, data: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, urllib.parse.urlencode(data).encode(), headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.load(e)


def metadata(lab: Lab) -> dict[str, Any]:
    with urllib.request.urlopen(lab.oauth.metadata_url, timeout=5) as r:
        data: dict[str, Any] = json.load(r)
    return data


def device_token(lab: Lab, scope: str = SMTP_SCOPE) -> str:
    """The device flow exactly as a notebook cell runs it (RFC 8628 sections 3.1-3.5)."""
    meta = metadata(lab)
    status, dev = post(
        meta["device_authorization_endpoint"], {"client_id": lab.oauth.client_id, "scope": scope}
    )
    assert status == 200 and dev["interval"] >= 1
    poll = {"grant_type": DEVICE_GRANT, "device_code": dev["device_code"]}
    poll["client_id"] = lab.oauth.client_id
    status, body = post(meta["token_endpoint"], poll)
    assert (status, body["error"]) == (400, "authorization_pending")
    assert lab.oauth.approve(dev["user_code"]) is True  # the learner, instead of a browser
    time.sleep(dev["interval"])
    status, body = post(meta["token_endpoint"], poll)
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["scope"] == scope
    assert 0 < body["expires_in"] <= lab.oauth.token_lifetime
    token: str = body["access_token"]
    return token


def xoauth2(user: str, token: str) -> Callable[..., str]:
    """smtplib's authobject: the initial response, then an empty line to an error challenge
    (as Google's XOAUTH2 page asks)."""

    def answer(challenge: bytes | None = None) -> str:
        return "" if challenge is not None else xoauth2_string(user, token)

    return answer


def tls_client(lab: Lab, host: str = HOST, port: int = PORT) -> smtplib.SMTP:
    client = lab.smtp(host, port)
    if port != 465:
        client.starttls(context=lab.ssl_context())
    client.ehlo()
    return client


@pytest.fixture(scope="module")
def token(lab: Lab) -> str:
    return device_token(lab)


# ------------------------------------------------------------------ the plan
def test_login_hosts_are_planned_in_open_internet_only() -> None:
    plans = {(p.host, p.port): p for p in labworld.plan(labworld.SCENARIOS["open-internet"])}
    assert plans[HOST, PORT].profile == "submission-oauth"
    assert "password will not work" in plans[HOST, PORT].description
    assert {plans[HOST, p].behaviour for p in (25, 465, 2525)} == {"refused"}
    assert plans["gmail.lab.example", 465].implicit_tls
    assert not plans["gmail.lab.example", 587].implicit_tls
    for host in (HOST, "outlook.lab.example", "gmail.lab.example", "exchange.lab.example"):
        others = [name for name, sc in labworld.SCENARIOS.items() if host in sc.hosts]
        assert others == ["open-internet"]
    for like in PROVIDER_LIKE.values():
        assert like.profile in labworld.PROFILES and like.profile in labworld.TOKEN_PROFILES
        assert like.source.startswith("https://") and like.mechanisms_source


def test_the_oauth_server_runs_only_with_the_lab() -> None:
    lab = Lab("home-isp")
    with pytest.raises(LabError):
        _ = lab.oauth
    with lab, pytest.raises(LabError):
        _ = lab.oauth  # home-isp has no token-taking host
    running = Lab("open-internet").start()
    # Until lab.oauth starts the server no token exists: one is refused with the same exchange.
    with tls_client(running) as client:
        raw = base64.b64encode(xoauth2_string("student", "lab-anything").encode()).decode()
        assert client.docmd("AUTH", "XOAUTH2 " + raw)[0] == 334
        code, text = client.docmd("")
        assert code == 535 and b"has not started" in text
    url = running.oauth.metadata_url
    running.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2).close()


def test_metadata_names_every_endpoint(lab: Lab) -> None:
    meta = metadata(lab)
    assert meta["issuer"] == lab.oauth.url
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "device_authorization_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ):
        assert meta[key].startswith(lab.oauth.url + "/")
    assert "S256" in meta["code_challenge_methods_supported"]
    assert SMTP_SCOPE in meta["scopes_supported"]


# ------------------------------------------------------------------ the learner's login
def test_device_flow_token_logs_in_with_smtplib_xoauth2(lab: Lab) -> None:
    user = lab.credentials[0]
    token = device_token(lab)
    with tls_client(lab) as client:
        assert set(client.esmtp_features["auth"].split()) == {"XOAUTH2", "OAUTHBEARER"}
        code, _ = client.auth("XOAUTH2", xoauth2(user, token))
        assert code == 235
        client.sendmail(f"{user}@lab.example", ["friend@example.org"], b"Subject: hi\r\n\r\nhi\r\n")
    sent = [m for m in lab.outbox if m.host == HOST]
    assert sent and sent[-1].auth_user == user and sent[-1].tls


def test_oauthbearer_and_an_address_for_the_user_also_work(lab: Lab, token: str) -> None:
    raw = oauthbearer_string("student@lab.example", token).encode()
    with tls_client(lab) as client:
        assert client.docmd("AUTH", "OAUTHBEARER " + base64.b64encode(raw).decode())[0] == 235
    with tls_client(lab) as client:  # no initial response: the server asks with an empty 334
        assert client.docmd("AUTH", "XOAUTH2")[0] == 334
        answer = base64.b64encode(xoauth2_string("student", token).encode()).decode()
        assert client.docmd(answer)[0] == 235


def test_smtplib_sends_a_long_token_on_the_auth_line_and_the_lab_takes_it(lab: Lab) -> None:
    """smtplib always puts the initial response on the AUTH line, however long; the big providers
    take a 2,000-character token that way, and so does the lab (up to RFC 4954's 12288)."""
    lab.oauth.token_length = 2000
    try:
        token = device_token(lab)
    finally:
        lab.oauth.token_length = 0
    assert len(token) == 2000
    with tls_client(lab) as client:
        code, _ = client.auth("XOAUTH2", xoauth2("student", token))
        assert code == 235


def submit(
    opener: urllib.request.OpenerDirector, url: str, form: dict[str, str]
) -> tuple[int, str]:
    """POST an approval form without following the redirect: (status, Location)."""
    data = urllib.parse.urlencode({**form, "action": "approve"}).encode()
    try:
        with opener.open(url, data, timeout=5) as r:
            return r.status, ""
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers.get("Location", "")


def _consent_fields(page: str) -> dict[str, str]:
    fields: dict[str, str] = {}

    class Form(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "input" and a.get("type") == "hidden":
                fields[a["name"] or ""] = a.get("value") or ""

    Form().feed(page)
    return fields


def test_authorization_code_with_pkce_over_http(lab: Lab) -> None:
    meta = metadata(lab)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect = "http://127.0.0.1:8765/callback"  # RFC 8252 7.3: any loopback port
    query = {
        "response_type": "code",
        "client_id": lab.oauth.client_id,
        "redirect_uri": redirect,
        "scope": SMTP_SCOPE,
        "state": "xyz",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    url = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=5) as r:
        page = r.read().decode()
    fields = _consent_fields(page)
    assert fields["code_challenge"] == challenge.decode()
    opener = urllib.request.build_opener(_NoRedirect)

    def consent(password: str) -> tuple[int, str]:
        return submit(opener, meta["authorization_endpoint"], {**fields, "password": password})

    assert consent("wrong")[0] == 401
    status, where = consent(lab.credentials[1])
    assert status == 302
    location = urllib.parse.urlsplit(where)
    assert location.netloc == "127.0.0.1:8765"
    got = dict(urllib.parse.parse_qsl(location.query))
    assert got["state"] == "xyz"
    exchange = {
        "grant_type": "authorization_code",
        "code": got["code"],
        "redirect_uri": redirect,
        "client_id": lab.oauth.client_id,
    }
    status, body = post(meta["token_endpoint"], {**exchange, "code_verifier": "x" * 50})
    assert (status, body["error"]) == (400, "invalid_grant")  # the wrong verifier
    status, body = post(meta["token_endpoint"], {**exchange, "code_verifier": verifier})
    assert status == 200, body
    again, used = post(meta["token_endpoint"], {**exchange, "code_verifier": verifier})
    assert (again, used["error"]) == (400, "invalid_grant")  # a code is good once
    with tls_client(lab, "outlook.lab.example") as client:
        assert client.auth("XOAUTH2", xoauth2("student", body["access_token"]))[0] == 235


def test_pkce_is_required_and_redirects_stay_on_loopback(lab: Lab) -> None:
    meta = metadata(lab)
    base = {
        "response_type": "code",
        "client_id": lab.oauth.client_id,
        "scope": SMTP_SCOPE,
        "redirect_uri": "http://127.0.0.1:8765/cb",
    }
    no_pkce = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(base)
    with urllib.request.urlopen(no_pkce, timeout=5) as r:
        fields = _consent_fields(r.read().decode())
    opener = urllib.request.build_opener(_NoRedirect)
    status, where = submit(
        opener, meta["authorization_endpoint"], {**fields, "password": lab.credentials[1]}
    )
    assert status == 302
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(where).query))
    status, body = post(
        meta["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": code["code"],
            "redirect_uri": base["redirect_uri"],
            "client_id": lab.oauth.client_id,
        },
    )
    assert (status, body["error"]) == (400, "invalid_request")  # a public client must use PKCE
    evil = {**base, "redirect_uri": "http://evil.example/cb", "code_challenge": "a" * 43}
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(evil), timeout=5
        )
    with info.value as e:
        assert e.code == 400 and "Location" not in e.headers


def test_device_page_approves_with_the_lab_password_and_escapes_the_code(lab: Lab) -> None:
    meta = metadata(lab)
    _, dev = post(
        meta["device_authorization_endpoint"],
        {"client_id": lab.oauth.client_id, "scope": SMTP_SCOPE},
    )
    hostile = urllib.parse.quote('"><script>alert(1)</script>')
    with urllib.request.urlopen(f"{lab.oauth.url}/device?user_code={hostile}", timeout=5) as r:
        page = r.read().decode()
    assert "<script>" not in page and "&lt;script&gt;" in page
    form = {"user_code": dev["user_code"], "password": "wrong", "action": "approve"}
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            f"{lab.oauth.url}/device", urllib.parse.urlencode(form).encode(), timeout=5
        )
    with info.value as e:
        assert e.code == 401
    form["password"] = lab.credentials[1]
    with urllib.request.urlopen(
        f"{lab.oauth.url}/device", urllib.parse.urlencode(form).encode(), timeout=5
    ) as r:
        assert "approved" in r.read().decode()
    status, body = post(
        meta["token_endpoint"],
        {
            "grant_type": DEVICE_GRANT,
            "device_code": dev["device_code"],
            "client_id": "smtplab-notebook",
        },
    )
    assert status == 200 and body["access_token"].startswith("lab-")


def test_a_refused_device_code_gets_access_denied(lab: Lab) -> None:
    meta = metadata(lab)
    _, dev = post(
        meta["device_authorization_endpoint"],
        {"client_id": lab.oauth.client_id, "scope": SMTP_SCOPE},
    )
    assert lab.oauth.deny(dev["user_code"]) is True
    status, body = post(
        meta["token_endpoint"],
        {
            "grant_type": DEVICE_GRANT,
            "device_code": dev["device_code"],
            "client_id": "smtplab-notebook",
        },
    )
    assert (status, body["error"]) == (400, "access_denied")
    assert lab.oauth.approve("NOPE-NOPE") is False


def test_polling_faster_than_the_interval_gets_slow_down(lab: Lab) -> None:
    meta = metadata(lab)
    _, dev = post(
        meta["device_authorization_endpoint"],
        {"client_id": lab.oauth.client_id, "scope": SMTP_SCOPE},
    )
    poll = {"grant_type": DEVICE_GRANT, "device_code": dev["device_code"]}
    poll["client_id"] = lab.oauth.client_id
    assert post(meta["token_endpoint"], poll)[1]["error"] == "authorization_pending"
    assert post(meta["token_endpoint"], poll)[1]["error"] == "slow_down"  # RFC 8628 3.5


# ------------------------------------------------------------------ refusals
def _refused(lab: Lab, user: str, token: str, host: str = HOST) -> tuple[int, bytes]:
    """XOAUTH2 with a bad token: the 334 error challenge, the empty answer, then the 535."""
    with tls_client(lab, host) as client:
        raw = base64.b64encode(xoauth2_string(user, token).encode()).decode()
        code, challenge = client.docmd("AUTH", "XOAUTH2 " + raw)
        assert code == 334
        error = json.loads(base64.b64decode(challenge))
        assert error == {"status": "401", "schemes": "bearer", "scope": SMTP_SCOPE}
        final = client.docmd("")
        assert client.docmd("MAIL", "FROM:<student@lab.example>")[0] == 530  # still not logged in
        return final


def test_a_token_for_another_user_is_refused(lab: Lab, token: str) -> None:
    code, text = _refused(lab, "someone-else", token)
    assert code == 535 and b"5.7.8" in text and b"another user" in text


def test_a_token_for_another_scope_is_refused(lab: Lab) -> None:
    other = device_token(lab, scope="profile")
    code, text = _refused(lab, "student", other)
    assert code == 535 and b"scope" in text


def test_a_revoked_token_is_refused(lab: Lab) -> None:
    fresh = device_token(lab)
    status, _ = post(
        metadata(lab)["revocation_endpoint"], {"token": fresh, "client_id": "smtplab-notebook"}
    )
    assert status == 200
    code, text = _refused(lab, "student", fresh)
    assert code == 535 and b"revoked" in text
    assert lab.oauth.revoke("never-issued") is False


def test_an_expired_token_is_refused(lab: Lab) -> None:
    lab.oauth.token_lifetime = 1
    try:
        short = device_token(lab)
    finally:
        lab.oauth.token_lifetime = 600
    with tls_client(lab) as client:
        assert client.auth("XOAUTH2", xoauth2("student", short))[0] == 235  # still fresh
    time.sleep(1.1)
    code, text = _refused(lab, "student", short)
    assert code == 535 and b"expired" in text


def test_garbage_and_made_up_tokens_are_refused(lab: Lab) -> None:
    code, text = _refused(lab, "student", "made-up")
    assert code == 535 and b"never issued" in text
    with tls_client(lab) as client:
        code, text = client.docmd("AUTH", "XOAUTH2 " + base64.b64encode(b"garbage").decode())
        assert code == 535 and b"bearer token" in text
        assert client.docmd("AUTH", "OAUTHBEARER !!notbase64")[0] == 535
        assert client.docmd("AUTH", "OAUTHBEARER")[0] == 334
        assert client.docmd("*")[0] == 501  # the client may abort (RFC 4954)
        assert client.docmd("MAIL", "FROM:<student@lab.example>")[0] == 530


def test_oauthbearer_refusal_uses_rfc7628_json(lab: Lab) -> None:
    raw = base64.b64encode(oauthbearer_string("student", "made-up").encode()).decode()
    with tls_client(lab) as client:
        code, challenge = client.docmd("AUTH", "OAUTHBEARER " + raw)
        assert code == 334
        assert json.loads(base64.b64decode(challenge))["status"] == "invalid_token"
        assert client.docmd(base64.b64encode(b"\x01").decode())[0] == 535


def test_introspection_needs_the_mail_server_secret(lab: Lab, token: str) -> None:
    url = metadata(lab)["introspection_endpoint"]
    client_id, secret = lab.oauth.mail_server_credentials
    auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, body = post(url, {"token": token}, {"Authorization": "Basic " + auth})
    assert status == 200 and body["active"] is True
    assert body["username"] == "student" and body["scope"] == SMTP_SCOPE
    assert body["exp"] > time.time()
    status, body = post(url, {"token": "made-up"}, {"Authorization": "Basic " + auth})
    assert body == {"active": False}
    other = device_token(lab, scope="profile")  # not for the mail server: inactive to it
    status, body = post(url, {"token": other}, {"Authorization": "Basic " + auth})
    assert (status, body) == (200, {"active": False})
    status, body = post(url, {"token": token, "client_id": "smtplab-notebook"})
    assert status == 401  # a notebook may not introspect


def test_sasl_parsers_reject_what_is_not_the_format() -> None:
    assert parse_xoauth2(b"user=a\x01auth=Bearer t\x01\x01").token == "t"  # type: ignore[union-attr]
    for bad in (
        b"",
        b"user=a\x01auth=Basic t\x01\x01",
        b"user=a\x01auth=Bearer t",
        b"\xff\x01\x01",
    ):
        assert parse_xoauth2(bad) is None
    ok = parse_oauthbearer(b"n,a=x=2Cy,\x01host=h\x01auth=Bearer t\x01\x01")
    assert ok is not None and ok.user == "x,y"
    assert parse_oauthbearer(b"n,,\x01auth=Bearer t\x01\x01") is None  # no user named


# ------------------------------------------------------------------ a password at oauth.lab.example
def test_a_password_will_not_work_here(lab: Lab) -> None:
    with tls_client(lab) as client:
        with pytest.raises(smtplib.SMTPException, match="No suitable authentication method"):
            client.login(*lab.credentials)
        user, password = lab.credentials
        plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        assert client.docmd("AUTH", "PLAIN " + plain)[0] == 504  # not offered at all


def test_oauth_is_not_offered_before_starttls(lab: Lab) -> None:
    with lab.smtp(HOST, PORT) as client:
        client.ehlo()
        assert "auth" not in client.esmtp_features
        assert client.docmd("AUTH", "XOAUTH2 dG9rZW4=")[0] == 530  # STARTTLS first


def test_a_probe_sees_only_oauth_mechanisms_and_only_after_tls(lab: Lab) -> None:
    r = smtplab.probe(HOST, PORT, lab=lab, timeout=3)
    assert r.outcome == "open"
    assert r.tls_mode == "starttls" and r.cert_verified is True
    assert list(r.auth_before_tls or []) == []
    assert set(r.auth_after_tls or []) == {"XOAUTH2", "OAUTHBEARER"}


# ------------------------------------------------------------------ provider-like hosts
OUTLOOK = b"5.7.139 Authentication unsuccessful, basic authentication is disabled."
EXCHANGE = b"5.7.30 Basic authentication is not supported for Client Submission."
GMAIL = b"5.7.9 Application-specific password required."
GMAIL_MECHS = {"LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"}


@pytest.mark.parametrize(
    "host,port,mechs,code,words",
    [
        ("outlook.lab.example", 587, {"LOGIN", "XOAUTH2"}, 535, OUTLOOK),
        ("exchange.lab.example", 587, {"LOGIN", "XOAUTH2"}, 550, EXCHANGE),
        ("gmail.lab.example", 587, GMAIL_MECHS, 534, GMAIL),
        ("gmail.lab.example", 465, GMAIL_MECHS, 534, GMAIL),
    ],
)
def test_provider_like_hosts_refuse_the_password_after_it_is_sent(
    lab: Lab, token: str, host: str, port: int, mechs: set[str], code: int, words: bytes
) -> None:
    user, password = lab.credentials
    with tls_client(lab, host, port) as client:
        assert set(client.esmtp_features["auth"].split()) == mechs
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login(user, password)  # smtplib finds a mechanism: the refusal is the reply
        assert (info.value.smtp_code, words in info.value.smtp_error) == (code, True)
    with tls_client(lab, host, port) as client:
        assert client.auth("XOAUTH2", xoauth2(user, token))[0] == 235  # a token works


def test_gmail_like_takes_the_app_password_and_says_badcredentials_to_a_wrong_one(
    lab: Lab,
) -> None:
    user, password = lab.credentials
    app = lab.app_password
    assert len(app.replace(" ", "")) == 16 and app != password and lab.app_password == app
    for name, typed in ((user, app), (f"{user}@lab.example", app.replace(" ", ""))):
        with tls_client(lab, "gmail.lab.example", 465) as client:
            assert client.login(name, typed)[0] == 235
    with tls_client(lab, "gmail.lab.example") as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login(user, "wrong")
        assert info.value.smtp_code == 535 and b"BadCredentials" in info.value.smtp_error
    with tls_client(lab, "outlook.lab.example") as client:  # an app password is still basic auth
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login(user, app)
        assert info.value.smtp_code == 535
    with tls_client(lab, "gmail.lab.example") as client:  # Gmail-like ends a bad token as Google
        raw = base64.b64encode(xoauth2_string(user, "made-up").encode()).decode()
        assert client.docmd("AUTH", "XOAUTH2 " + raw)[0] == 334
        code, text = client.docmd("")
        assert code == 535 and b"BadCredentials" in text


def test_describe_tells_where_tokens_come_from(lab: Lab) -> None:
    text = lab.describe()
    assert "lab.oauth" in text and "no OAuth tokens" not in text
    assert "lab.app_password" in text
    assert f"{lab.oauth.url}/device" in text and lab.oauth.metadata_url in text


# ------------------------------------------------------------------ the probe's login check
@pytest.mark.parametrize(
    "host,port,code",
    [
        ("outlook.lab.example", 587, 535),
        ("exchange.lab.example", 587, 550),
        ("gmail.lab.example", 465, 534),
    ],
)
def test_the_probe_reports_a_provider_like_refusal_and_keeps_the_password_out(
    lab: Lab, host: str, port: int, code: int, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    from test_security import assert_nothing_leaks, codes, secrets_of

    user, password = lab.credentials
    r = smtplab.probe(host, port, lab=lab, auth=(user, password), timeout=3)
    assert r.cert_verified is True  # the only kind of session a password may cross
    assert "auth_failed" in codes(r) and "auth_ok" not in codes(r)
    failed = next(f for f in r.findings if f.code == "auth_failed")
    assert str(code) in failed.message
    assert_nothing_leaks(r, secrets_of(user, password), caplog, tmp_path)
    app = smtplab.probe("gmail.lab.example", 587, lab=lab, auth=(user, lab.app_password))
    assert "auth_ok" in codes(app)
    assert_nothing_leaks(app, secrets_of(user, lab.app_password), caplog, tmp_path)


def test_the_probe_sends_no_password_to_the_oauth_only_host(lab: Lab) -> None:
    from test_security import client_lines, codes

    r = smtplab.probe(HOST, PORT, lab=lab, auth=lab.credentials, timeout=3)
    assert "auth_unavailable" in codes(r) and "auth_ok" not in codes(r)
    assert "STARTTLS" in client_lines(r)  # the client's lines are there...
    assert not [c for c in client_lines(r) if c.upper().startswith("AUTH")]  # ...and no AUTH
