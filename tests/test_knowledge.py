"""The provider knowledge base: every fact sourced, quoted and dated; aliases unique; every
provider of issue 24 present; the loader's one clear error; and what the advice engine makes of it
(logins per provider, OAuth-only servers, relays used as smarthosts, 465 never STARTTLS)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smtplab
from smtplab.advice import advise, guess_provider, provider_facts
from smtplab.knowledge import (
    COLUMNS,
    EVIDENCE,
    KnowledgeError,
    knowledge,
    load_knowledge,
    normalise_name,
)
from smtplab.reference import reference_dir
from smtplab.schema import empty_record

FACTS_CSV = reference_dir() / "provider_knowledge.csv"
ALIASES_CSV = reference_dir() / "provider_aliases.csv"

#: The providers issue 24 names, and the aliases people type for them.
REQUIRED = {
    "Gmail": ("gmail",),
    "Google Workspace": ("google workspace",),
    "Google Workspace SMTP relay": ("smtp-relay.gmail.com", "google relay"),
    "Outlook.com": ("outlook", "hotmail"),
    "Microsoft 365 (Exchange Online)": ("office365", "microsoft365", "m365", "exchange online"),
    "Yahoo": ("yahoo",),
    "iCloud": ("icloud",),
    "Fastmail": ("fastmail",),
    "Zoho Mail": ("zoho",),
    "Proton Mail": ("proton", "protonmail"),
    "SendGrid": ("sendgrid",),
    "Mailgun": ("mailgun",),
    "Amazon SES": ("ses", "aws"),
    "Postmark": ("postmark",),
    "Brevo": ("brevo", "sendinblue"),
    "Mailjet": ("mailjet",),
    "Resend": ("resend",),
    "SparkPost": ("sparkpost",),
}


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- the data


def test_every_fact_has_its_source_quote_and_date() -> None:
    rows = raw_rows(FACTS_CSV)
    assert rows
    for n, row in enumerate(rows, start=2):
        where = f"line {n}: {row}"
        assert row["source"].strip(), where
        assert dt.date.fromisoformat(row["checked"]) <= dt.date(2026, 12, 7), where
        assert row["evidence"] in EVIDENCE, where
        if row["evidence"] == "not found here":
            # says what is not known instead of guessing a quote
            assert not row["quote"] and "not found" in row["source"] + row["value"], where
        else:
            assert row["quote"].strip(), where
        if row["fact"] == "change":
            assert dt.date.fromisoformat(row["recheck"]) > dt.date.fromisoformat(row["checked"])


def test_every_provider_of_the_issue_is_there_with_a_login_and_a_user_name() -> None:
    kb = knowledge()
    for name, aliases in REQUIRED.items():
        provider = kb.providers[name]
        assert provider.of("login"), name
        assert provider.of("user_name"), name
        assert provider.hosts, name
        for alias in aliases:
            assert kb.resolve(alias) is provider or kb.by_host(alias) is provider, alias


def test_aliases_are_unique_and_never_name_two_providers() -> None:
    seen: dict[str, str] = {}
    for row in raw_rows(ALIASES_CSV):
        key = normalise_name(row["alias"])
        assert key not in seen, f"{key!r} names {seen.get(key)} and {row['provider']}"
        seen[key] = row["provider"]
    names = {normalise_name(n): n for n in knowledge().names()}
    for alias, provider in seen.items():
        assert names.get(alias, provider) == provider


def test_465_is_implicit_tls_in_every_row() -> None:
    for row in raw_rows(FACTS_CSV):
        if row["port"] == "465":
            assert row["security"] == "implicit_tls", row
    for name in knowledge().names():
        doc = provider_facts(name).port(465)
        assert doc is None or doc.security == "implicit_tls"


def test_dated_changes_say_when_to_check_again() -> None:
    kb = knowledge()
    outlook = kb.providers["Outlook.com"].of("change")
    assert any("2024-09-16" in f.value for f in outlook)
    exchange = kb.providers["Microsoft 365 (Exchange Online)"].of("change")
    assert any("December 2026" in f.value and f.recheck for f in exchange)
    assert "check again after" in provider_facts("m365").changes[0]


# --------------------------------------------------------------------------- the loader


GOOD = (
    'Acme,port,smtp.acme.example,587,starttls,submission,"Use 587.",https://acme.example/smtp,'
    "2026-12-01,read,\n"
)
BAD_ROWS = [
    (GOOD.replace('"Use 587."', ""), "quote"),
    (GOOD.replace("2026-12-01", "2026-13-01"), "checked"),
    (GOOD.replace(",587,starttls", ",465,starttls"), "security"),
    (GOOD.replace("Acme,port", "Acme,rumour"), "fact"),
    (GOOD.replace(",read,", ",hearsay,"), "evidence"),
    (GOOD.replace("https://acme.example/smtp", ""), "source"),
    (GOOD.replace("smtp.acme.example", "smtp acme"), "host"),
    (GOOD.replace(",587,", ",70000,"), "port"),
    ('Acme,login,,,,"password",x,https://a.example,2026-12-01,read,\n', "value"),
    ('Acme,change,,,,"it changed",x,https://a.example,2026-12-01,read,\n', "recheck"),
]


def write_kb(tmp_path: Path, body: str, aliases: str = "acme,Acme\n") -> tuple[Path, Path]:
    facts = tmp_path / "provider_knowledge.csv"
    facts.write_text(",".join(COLUMNS) + "\n" + GOOD + body, encoding="utf-8")
    names = tmp_path / "provider_aliases.csv"
    names.write_text("alias,provider\n" + aliases, encoding="utf-8")
    return facts, names


def test_a_good_file_loads(tmp_path: Path) -> None:
    kb = load_knowledge(*write_kb(tmp_path, ""))
    assert kb.resolve(" ACME ").name == "Acme"  # type: ignore[union-attr]
    assert kb.by_host("SMTP.acme.example.").name == "Acme"  # type: ignore[union-attr]


@pytest.mark.parametrize(("row", "field"), BAD_ROWS)
def test_one_clear_error_names_file_line_and_field(tmp_path: Path, row: str, field: str) -> None:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(*write_kb(tmp_path, row))
    message = str(caught.value)
    assert message.startswith(f"provider_knowledge.csv, line 3, field {field!r}:"), message
    assert "\n" not in message


def test_alias_errors(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"provider_aliases.csv, line 3, field 'alias'"):
        load_knowledge(*write_kb(tmp_path, "", "acme,Acme\nACME ,Acme\n"))
    with pytest.raises(KnowledgeError, match=r"line 2, field 'provider': 'Nobody' has no facts"):
        load_knowledge(*write_kb(tmp_path, "", "nobody,Nobody\n"))


def test_broken_csv_and_header(tmp_path: Path) -> None:
    facts, names = write_kb(tmp_path, 'Acme,port,"unterminated\n')
    with pytest.raises(KnowledgeError, match=r"provider_knowledge.csv, line \d+"):
        load_knowledge(facts, names)
    facts.write_text("provider,fact\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="line 1: the header must be"):
        load_knowledge(facts, names)
    facts.write_text(",".join(COLUMNS) + "\nAcme,port\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="line 2, field 'host': expected 11 fields, found 2"):
        load_knowledge(facts, names)


# --------------------------------------------------------------------------- the engine reads it


HOST = "smtp.example.org"


def rec(port: int, host: str = HOST, outcome: str = "open", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        probe_id=f"p{port}",
        started_at="2026-12-07T00:00:00Z",
        vantage="here",
        host=host,
        port=port,
        outcome=outcome,
    )
    if outcome == "open":
        implicit = port in (465, 2465)
        base |= dict(
            banner=f"{host} ESMTP",
            banner_code=220,
            tls_mode="implicit" if implicit else "starttls",
            starttls_offered=not implicit,
            cert_verified=True,
            auth_after_tls=["PLAIN", "LOGIN"],
            auth_before_tls=None if implicit else [],
        )
    return empty_record(**(base | kw))


@pytest.mark.parametrize(
    ("alias", "host", "port", "words", "user"),
    [
        ("ses", "email-smtp.eu-west-1.amazonaws.com", 465, "made for that region", "SES SMTP"),
        ("postmark", "smtp.postmarkapp.com", 587, "Server API token", "Server API token"),
        ("resend", "smtp.resend.com", 465, "Resend API key", "resend"),
        ("gmail", "smtp.gmail.com", 465, "app password", "Gmail address"),
        ("outlook", "smtp-mail.outlook.com", 587, "OAuth 2.0 only", "Outlook.com address"),
        ("office365", "smtp.office365.com", 587, "December 2026", "full address"),
        ("mailjet", "in-v3.mailjet.com", 587, "API secret key", "API key"),
        ("sendgrid", "smtp.sendgrid.net", 465, "API key", "apikey"),
        ("yahoo", "smtp.mail.yahoo.com", 465, "app password", "Yahoo address"),
        ("icloud", "smtp.mail.me.com", 587, "app-specific password", "iCloud address"),
        ("brevo", "smtp-relay.brevo.com", 465, "SMTP key", "SMTP login"),
    ],
)
def test_the_login_line_names_method_and_user(
    alias: str, host: str, port: int, words: str, user: str
) -> None:
    a = advise([rec(port, host)], provider=alias, purpose="website-plugin")
    assert a.recommended is not None, a.ports
    assert words in a.recommended.auth
    assert user in a.recommended.user_name
    assert a.provider == knowledge().resolve(alias).name  # type: ignore[union-attr]
    assert f"log in with {a.recommended.auth}" in a.recommended.line()
    if alias == "gmail":
        assert "OAuth 2.0" in a.recommended.auth  # app password or OAuth, both said
    if alias == "outlook":
        assert "2024-09-16" in a.recommended.auth and "password" not in a.recommended.user_name


@pytest.mark.parametrize("alias", sorted({a for al in REQUIRED.values() for a in al}))
def test_every_alias_is_accepted_by_advise(alias: str) -> None:
    facts = provider_facts(alias)
    a = advise([], provider=alias)
    assert a.provider == facts.name and facts.smarthost
    assert knowledge().providers["Google Workspace SMTP relay"].relay_service


def test_hosts_are_guessed_regional_ses_included() -> None:
    assert guess_provider("email-smtp.ap-south-1.amazonaws.com") == "Amazon SES"
    assert guess_provider("SMTP-RELAY.gmail.com.") == "Google Workspace SMTP relay"
    assert guess_provider("smtp.office365.com") == "Microsoft 365 (Exchange Online)"
    assert guess_provider("127.0.0.1") is None  # Proton Bridge's host is not a guess


def test_an_oauth_only_server_gets_an_oauth_login_never_a_password() -> None:
    oauth = rec(587, auth_after_tls=["XOAUTH2", "OAUTHBEARER"])
    a = advise([oauth])  # no provider: the standards, whose login says "password"
    assert a.recommended is not None
    assert a.recommended.auth.startswith("sign in with OAuth (XOAUTH2/OAUTHBEARER)")
    assert "password" not in a.recommended.auth


def test_the_labs_oauth_server_end_to_end() -> None:
    with smtplab.Lab("open-internet") as lab:
        result = smtplab.probe("oauth.lab.example", 587, lab=lab)
    a = advise([result])
    assert a.recommended is not None and a.recommended.port == 587
    assert a.recommended.auth.startswith("sign in with OAuth (XOAUTH2/OAUTHBEARER)")


def test_a_relay_used_as_a_smarthost_is_not_told_mx_delivery() -> None:
    host = "smtp-relay.gmail.com"
    records = [rec(25, host), rec(587, host), rec(465, host)]
    a = advise(records, provider="smtp-relay.gmail.com", purpose="mail-server")
    assert a.recommended is not None and a.recommended.port == 587
    assert "IP address on the relay's allow-list" in a.recommended.auth
    flagged = {f.port: f for f in a.fallbacks}
    assert 465 not in flagged  # Google's page does not document 465 with TLS: not advised
    assert flagged[25].auth != "none" and "direct delivery" not in flagged[25].reason
    assert "smarthost" in flagged[25].reason
    # only 25 gets out: still a smarthost with a login, never "no login, MX delivery"
    only25 = advise([rec(25, host)], provider="google relay", purpose="mail-server")
    assert only25.fallbacks == () or only25.recommended is not None
    setting = only25.recommended
    assert setting is not None and setting.auth != "none" and setting.security == "starttls"
    # Brevo documents no 25 at all: a reachable 25 there is never advised to a mail server
    brevo = advise(
        [rec(25, "smtp-relay.brevo.com"), rec(587, "smtp-relay.brevo.com")],
        provider="sendinblue",
        purpose="mail-server",
    )
    assert brevo.recommended is not None and brevo.recommended.port == 587
    assert all(f.port != 25 for f in brevo.fallbacks)
    assert "SMTP key" in brevo.recommended.auth


def test_a_mail_server_without_a_provider_still_delivers_to_mx_on_25() -> None:
    a = advise([rec(25, auth_after_tls=[])], purpose="mail-server")
    assert a.recommended is not None and a.recommended.port == 25
    assert a.recommended.auth == "none" and "MX" in a.recommended.reason


def test_465_that_speaks_starttls_is_not_advised_as_starttls() -> None:
    odd = rec(465, tls_mode="starttls", starttls_offered=True, auth_before_tls=[])
    a = advise([odd, rec(587)], provider="gmail")
    assert a.recommended is not None and a.recommended.port == 587
    assert all(f.port != 465 for f in a.fallbacks)


@pytest.mark.parametrize("provider", ["Google Workspace SMTP relay", "gmail", "brevo", None])
@pytest.mark.parametrize("sender", ["client", "plugin", "relay"])
def test_the_chooser_never_says_465_starttls(provider: str | None, sender: str) -> None:
    from smtplab.widgets import port_chooser  # noqa: F401  (the widget module loads)
    from smtplab.widgets._chooser import choose_port

    r = choose_port(sender=sender, provider=provider)
    if r.port == 465:
        assert "STARTTLS" not in r.security and "implicit TLS" in r.security
    text = " ".join(r.steps)
    assert "465 (STARTTLS)" not in text
    if provider == "Google Workspace SMTP relay":
        assert r.port == 587  # not "465 STARTTLS", not "25 because MX delivery"


def test_doctor_accepts_every_alias() -> None:
    import argparse

    from smtplab.cli import doctor_cmd as doctor

    for alias in ("outlook", "office365", "microsoft365", "yahoo", "icloud", "zoho", "ses"):
        parser = argparse.ArgumentParser()
        doctor.add_arguments(parser)
        args = parser.parse_args(["smtp.example.org", "--provider", alias])
        _, facts = doctor._check(args)
        assert facts is not None and facts.name == knowledge().resolve(alias).name  # type: ignore[union-attr]


def test_reference_knowledge_frame() -> None:
    df = smtplab.reference.knowledge()
    assert set(REQUIRED) <= set(df["provider"])
    assert df["checked"].notna().all()
    changes = df[df["fact"] == "change"]
    assert changes["recheck"].notna().all()


def test_doctor_end_to_end_on_the_labs_oauth_server() -> None:
    import os
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "smtplab", "doctor", "oauth.lab.example", "--lab", "open-internet"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert "Log in with              sign in with OAuth (XOAUTH2/OAUTHBEARER)" in p.stdout
    assert "No port is safe" not in p.stdout


def test_doctor_says_where_the_credential_is_made_and_what_changes() -> None:
    from smtplab.cli import doctor_cmd as doctor

    facts = provider_facts("office365")
    a = advise([rec(587, "smtp.office365.com")], provider=facts)
    text = doctor.report_text(a, "here", facts)
    assert "Credential: an administrator turns SMTP AUTH on" in text
    assert "December 2026" in text and "check again after 2027-01-05" in text


def test_no_code_data_or_notebook_calls_465_starttls() -> None:
    """465 is implicit TLS (RFC 8314); the chooser once said '465 STARTTLS' for Google's relay."""
    import re

    root = Path(smtplab.__file__).resolve().parent
    wrong = re.compile(r"\b465\b[ :]{0,2}(\(|over |= ?)?STARTTLS", re.I)
    files = [*root.rglob("*.py"), *reference_dir().glob("*.csv")]
    notebooks = root.parent / "notebooks"
    if notebooks.is_dir():
        files += list(notebooks.glob("*.ipynb"))
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not wrong.search(line), f"{path.name}:{n}: {line.strip()}"
    assert wrong.search("use 465 STARTTLS") and wrong.search("465 (STARTTLS)")


def test_the_chooser_lists_every_provider_and_takes_an_alias() -> None:
    from smtplab.widgets import port_chooser

    chooser = port_chooser(provider="office365")
    names = {value for _, value in chooser.provider.options}
    assert set(REQUIRED) <= names
    assert chooser.provider.value == "Microsoft 365 (Exchange Online)"


@settings(max_examples=150, deadline=None, database=None)
@given(
    cells=st.lists(
        st.one_of(
            st.sampled_from(["Acme", "port", "login", "change", "587", "465", "starttls", "read"]),
            st.sampled_from(["2026-12-01", "submission", "password: x", "smtp.acme.example", ""]),
            st.text(max_size=12),
        ),
        min_size=0,
        max_size=13,
    )
)
def test_any_row_loads_or_gives_one_line_naming_file_line_and_field(
    tmp_path_factory: pytest.TempPathFactory, cells: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("kb")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    facts, names = write_kb(folder, buffer.getvalue())
    try:
        load_knowledge(facts, names)
    except KnowledgeError as exc:
        message = str(exc)
        assert message.startswith("provider_knowledge.csv, line ") and "\n" not in message
