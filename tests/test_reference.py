"""The reference facts shipped in data/reference/ and their loaders."""

from __future__ import annotations

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


def test_shipped_csvs_match_the_shared_facts() -> None:
    """When the shared research folder is around, the shipped copies are byte for byte equal."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "reference"
    if not shared.is_dir():
        pytest.skip("no ../shared/reference next to this checkout")
    for name in ("port_history.csv", "provider_ports.csv", "cloud_port25_policies.csv"):
        assert (reference.reference_dir() / name).read_bytes() == (shared / name).read_bytes()


def test_import_smtplab_does_not_import_pandas() -> None:
    code = "import sys, smtplab; print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
