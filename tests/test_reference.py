"""The reference facts shipped in data/reference/ and their loaders."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from smtplab import reference

LOADERS = {
    "timeline": reference.timeline,
    "providers": reference.providers,
    "cloud_policies": reference.cloud_policies,
    "ports": reference.ports,
    "logins": reference.logins,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_returns_rows_each_with_a_source(name: str) -> None:
    df = LOADERS[name]()
    assert isinstance(df, pd.DataFrame)
    assert len(df) > 0
    assert "source" in df.columns
    sources = df["source"]
    assert sources.notna().all(), df[sources.isna()]
    assert (sources.astype(str).str.strip() != "").all()


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_returns_a_copy(name: str) -> None:
    first = LOADERS[name]()
    n = len(first)
    first.loc[first.index[0], "source"] = "tampered"
    first["extra"] = 1
    again = LOADERS[name]()
    assert len(again) == n
    assert again["source"].iloc[0] != "tampered"
    assert "extra" not in again.columns


def test_timeline_has_rfc_8314_for_465_in_2018() -> None:
    t = reference.timeline()
    hit = t[(t["port"] == 465) & t["event"].str.contains("RFC 8314") & (t["when"].dt.year == 2018)]
    assert len(hit) >= 1
    row = t[t["label"] == "RFC 8314: implicit TLS"].iloc[0]
    assert row["date"] == "2018-01"
    assert row["milestone"]
    assert "RFC 8314" in row["source"]


def test_timeline_dates_are_parsed_and_originals_kept() -> None:
    t = reference.timeline()
    first = t.iloc[0]
    assert first["date"] == "1982-08"
    assert first["when"] == pd.Timestamp("1982-08-01")
    assert first["precision"] == "month"
    assert first["port"] == 25
    by_date = t.set_index("date")
    assert by_date.loc["2005", "precision"] == "year"
    assert by_date.loc["2017-12-12", "precision"] == "day"
    assert by_date.loc["2017-12-12", "when"] == pd.Timestamp("2017-12-12")
    assert t["when"].is_monotonic_increasing
    assert set(t["port"]) == {25, 465, 587, 2525}
    assert set(t["kind"]) <= {"rfc", "iana", "practice", "security"}
    assert t["label"].str.len().max() <= 30


def test_timeline_labels_follow_the_event_text() -> None:
    assert reference.short_label("RFC 821 (SMTP, J. Postel) assigns SMTP port 25") == (
        "RFC 821: SMTP on 25",
        True,
    )
    assert reference.short_label("RFC 9999 does something new") == ("RFC 9999", False)
    assert reference.short_label("Someone blocks port 25 today") == (
        "Someone blocks port 25",
        False,
    )


def test_ports_facts() -> None:
    p = reference.ports().set_index("port")
    assert list(p.index) == [25, 465, 587, 2525]
    assert p.loc[25, "iana_service"] == "smtp" and p.loc[25, "rfc"] == "RFC 5321"
    assert p.loc[465, "iana_service"] == "submissions" and p.loc[465, "rfc"] == "RFC 8314"
    assert p.loc[587, "iana_service"] == "submission" and p.loc[587, "rfc"] == "RFC 6409"
    assert p.loc[2525, "iana_service"] == "ms-v-worlds"
    assert pd.isna(p.loc[2525, "rfc"])
    assert "not registered" in p.loc[2525, "status"]


def test_providers_are_typed() -> None:
    pv = reference.providers()
    assert pv["port"].dtype == "int64"
    assert set(pv["security"]) <= {"implicit_tls", "starttls", "either", "none"}
    assert set(pv["purpose"]) <= {"submission", "relay", "alt"}
    assert pd.api.types.is_datetime64_any_dtype(pv["retrieved"])
    gmail = pv[(pv["provider"] == "Gmail") & (pv["port"] == 465)].iloc[0]
    assert gmail["security"] == "implicit_tls"
    assert set(reference.FOUR_PORTS) <= set(pv["port"])


def test_cloud_policies_name_port_25() -> None:
    cp = reference.cloud_policies()
    assert {"provider", "policy", "source"} <= set(cp.columns)
    assert cp["policy"].str.contains("25").all()


def test_cloud_policies_cover_the_big_clouds_with_current_sources() -> None:
    cp = reference.cloud_policies().set_index("provider")
    for name in (
        "Google Cloud (Compute Engine)",
        "Hetzner Cloud",
        "Vultr",
        "Oracle Cloud Infrastructure",
    ):
        assert name in cp.index, name
        assert cp.loc[name, "checked"] == "2026-11-30"
    own_domain = {  # each cloud's source opens with the provider's own page
        "Google Cloud (Compute Engine)": "https://cloud.google.com/",
        "Hetzner Cloud": "https://docs.hetzner.com/",
        "Vultr": "https://docs.vultr.com/",
        "Oracle Cloud Infrastructure": "https://docs.oracle.com/",
        "Microsoft Azure": "https://learn.microsoft.com/",
        "DigitalOcean": "https://docs.digitalocean.com/",
    }
    for name, prefix in own_domain.items():
        assert cp.loc[name, "source"].startswith(prefix), name
    # a row whose primary page was not read says so in its source
    for name, row in cp[cp["evidence"] != "read"].iterrows():
        assert "not read here" in row["source"] or "quoted" in row["source"], name
    azure = cp.loc["Microsoft Azure", "source"]
    assert azure.startswith("https://learn.microsoft.com/") and "blogs.msdn" not in azure
    assert set(cp["evidence"]) <= {"read", "quoted by others", "third-party report"}
    # the article's cloud: a timeout, not a refusal
    assert "time out" in cp.loc["Google Cloud (Compute Engine)", "policy"]


def test_logins_say_how_to_log_in_and_when_it_changed() -> None:
    lg = reference.logins().set_index("provider")
    assert pd.api.types.is_datetime64_any_dtype(lg["checked"])
    assert "XOAUTH2" in lg.loc["Gmail", "login_methods"]
    assert "app password" in lg.loc["Gmail", "login_methods"]
    assert lg.loc["Outlook.com", "password_works"] == "no"
    assert "2024-09-16" in lg.loc["Outlook.com", "change"]
    assert lg.loc["Microsoft 365 (Exchange Online)", "password_works"] == "being retired"
    for provider in ("Gmail", "Google Workspace", "Outlook.com", "Microsoft 365 (Exchange Online)"):
        assert lg.loc[provider, "checked"] == pd.Timestamp("2026-11-30"), provider
        assert lg.loc[provider, "quote"], provider  # dated claims carry the source's words
    # every provider here also has its ports documented
    assert set(lg.index) - {"Google Workspace", "Microsoft 365 (Exchange Online)"} <= set(
        reference.providers()["provider"]
    )


def test_shipped_csvs_keep_the_shared_facts() -> None:
    """When the shared research folder is around, the shipped copies keep its facts: the
    timeline byte for byte; every provider port it names (a row may be corrected, as the
    course's third edition corrected stale ones, and then carries the date it was checked
    again); every cloud it names (sources may be newer: Azure's 2017 blog post gave way to
    Microsoft's documentation page)."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "reference"
    if not shared.is_dir():
        pytest.skip("no ../shared/reference next to this checkout")
    name = "port_history.csv"
    assert (reference.reference_dir() / name).read_bytes() == (shared / name).read_bytes()
    key = ["provider", "host", "port"]
    old_ports = pd.read_csv(shared / "provider_ports.csv", dtype=str).fillna("")
    new_ports = pd.read_csv(reference.reference_dir() / "provider_ports.csv", dtype=str).fillna("")
    both = old_ports.merge(new_ports, on=key, how="left", suffixes=("_shared", ""), indicator=True)
    assert (both["_merge"] == "both").all(), both.loc[both["_merge"] != "both", key]
    fields = [c for c in old_ports.columns if c not in key and c != "retrieved"]
    changed = both[(both[[f"{c}_shared" for c in fields]].values != both[fields].values).any(1)]
    assert (changed["retrieved"] != "").all(), changed[[*key, "retrieved"]]
    old = pd.read_csv(shared / "cloud_port25_policies.csv", dtype=str)
    assert set(old["provider"]) <= set(reference.cloud_policies()["provider"])


def test_import_smtplab_does_not_import_pandas() -> None:
    code = "import sys, smtplab; print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_example_dns_is_labelled_example_data_with_documentation_names_only() -> None:
    """Notebook 11's DNS answers are invented teaching data: reserved names (RFC 2606) and
    documentation addresses (RFC 5737) only, and they say so."""
    data = json.loads((reference.reference_dir() / "example_dns.json").read_text(encoding="utf-8"))
    assert "EXAMPLE DATA" in data["about"] and "Nothing here was fetched" in data["about"]
    docs = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
    for rec in data["records"]:
        name = rec["name"]
        if name.endswith(".in-addr.arpa."):
            ip = ipaddress.ip_address(".".join(reversed(name.split(".")[:4])))
            assert any(ip in n for n in docs), name
        else:
            assert name == "example.org." or name.endswith(".example.org."), name
        if rec["type"] == "A":
            assert any(ipaddress.ip_address(rec["data"]) in n for n in docs), rec
    types = {r["type"] for r in data["records"]}
    assert {"MX", "SRV", "TXT", "TLSA", "PTR", "A"} <= types
