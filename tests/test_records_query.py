"""DuckDB queries over record files give the same answers as pandas over the loaded table.

Generated data (:mod:`smtplab.synthetic`, ``source="synthetic"``) written to real JSON Lines
and Parquet files in ``tmp_path``; each DuckDB answer is compared with the pandas answer.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smtplab.records import (
    Dataset,
    RecordError,
    format_summary,
    jsonl_to_parquet,
    load_records,
    port_summary,
    port_summary_for_file,
    summarize,
    summary_for_file,
    validate_record,
    write_parquet,
)
from smtplab.records.summary import SUMMARY_INPUTS
from smtplab.schema import OUTCOMES
from smtplab.synthetic import synthetic_records, write_synthetic_jsonl
from smtplab.widgets._explorer import filter_records

N = 3000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("synthetic")
    jsonl = write_synthetic_jsonl(base / "scan.jsonl", N, seed=11, hosts=120)
    df = load_records(jsonl)
    parquet = base / "scan.parquet"
    write_parquet(df, parquet)
    folder = base / "partitioned"
    report = jsonl_to_parquet(jsonl, folder, batch_rows=700)
    assert report.rows == N and report.skipped == 0
    return {"jsonl": jsonl, "parquet": parquet, "folder": folder, "df": df}


FORMATS = ["jsonl", "parquet", "folder"]


def test_generator_is_valid_varied_labelled_and_reproducible() -> None:
    recs = list(synthetic_records(4000, seed=5, hosts=200))
    assert all(validate_record(r) == [] for r in recs)
    assert {r["source"] for r in recs} == {"synthetic"}
    assert len({r["host"] for r in recs}) > 150 and len({r["vantage"] for r in recs}) >= 10
    assert len({r["outcome"] for r in recs}) >= 8 and set(r["outcome"] for r in recs) <= set(
        OUTCOMES
    )
    assert {r["tls_version"] for r in recs} >= {None, "TLSv1.3", "TLSv1.2"}
    lengths = {len(r["transcript"]) for r in recs}
    assert min(lengths) <= 3 and max(lengths) >= 20 and len(lengths) > 10
    assert len({r["total_ms"] for r in recs}) > 3000  # timings differ probe to probe
    assert len({r["probe_id"] for r in recs}) == len(recs)
    again = list(synthetic_records(50, seed=5, hosts=200))
    assert again == recs[:50]


@pytest.mark.parametrize("fmt", FORMATS)
def test_summary_for_file_equals_pandas_summary(files: dict[str, Any], fmt: str) -> None:
    expected = summarize(files["df"])
    got = summary_for_file(files[fmt])
    assert got.attrs["skipped"] == 0
    pd.testing.assert_frame_equal(got, expected)
    assert len(expected) > 300


@pytest.mark.parametrize("fmt", FORMATS)
def test_outcome_by_port_and_vantage(files: dict[str, Any], fmt: str) -> None:
    df = files["df"]
    with Dataset(files[fmt]) as ds:
        got = ds.outcome_by_port_vantage()
    want = df.groupby(["vantage", "port", "outcome"]).size().rename("probes").reset_index()
    key = ["vantage", "port", "outcome"]
    got = got.astype({"vantage": str, "outcome": str, "port": int}).sort_values(key)
    want = want.astype({"vantage": str, "outcome": str, "port": int}).sort_values(key)
    assert got.reset_index(drop=True).to_dict("list") == want.reset_index(drop=True).to_dict("list")


@pytest.mark.parametrize("fmt", FORMATS)
def test_tls_versions_and_finding_counts(files: dict[str, Any], fmt: str) -> None:
    df = files["df"]
    with Dataset(files[fmt]) as ds:
        tls = ds.tls_versions()
        findings = ds.finding_counts(port=[465, 587])
    want_tls = df["tls_version"].astype(object).where(df["tls_version"].notna(), None)
    got_tls = dict(zip(tls["tls_version"], tls["probes"], strict=True))
    assert got_tls == want_tls.value_counts(dropna=False).to_dict()
    sub = df[df["port"].isin([465, 587])]
    flat = [(f["code"], f["severity"]) for fs in sub["findings"] for f in fs]
    want = pd.Series(flat).value_counts().to_dict()
    assert (
        dict(
            zip(
                zip(findings["code"], findings["severity"], strict=True),
                findings["probes"],
                strict=True,
            )
        )
        == want
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_filtered_rows_with_only_requested_columns(files: dict[str, Any], fmt: str) -> None:
    df = files["df"]
    cols = ["probe_id", "started_at", "host", "port", "outcome", "auth_after_tls", "findings"]
    with Dataset(files[fmt]) as ds:
        got = ds.rows(cols, port=587, outcome=["open", "tls_failed"])
        count = ds.count(port=587, outcome=["open", "tls_failed"])
    want = df[(df["port"] == 587) & df["outcome"].isin(["open", "tls_failed"])][cols]
    assert list(got.columns) == cols and count == len(want) > 50
    got = got.sort_values("probe_id").reset_index(drop=True)
    want = want.sort_values("probe_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_cached_dataset_and_frame_dataset_agree(files: dict[str, Any]) -> None:
    df = files["df"]
    with Dataset(files["jsonl"], cache=True) as cached:
        a = cached.summary(vantage="home-isp:fr")
        counts = cached.counts(port=25)
        choices = cached.distinct("vantage")
    with Dataset.from_frame(df) as framed:
        b = framed.summary(vantage="home-isp:fr")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, summarize(df[df["vantage"] == "home-isp:fr"]))
    sub = df[df["port"] == 25]
    assert counts == {
        "probes": len(sub),
        "vantages": sub["vantage"].nunique(),
        "hosts": sub["host"].nunique(),
        "ports": 1,
    }
    assert choices == sorted(df["vantage"].unique())


def test_partitioned_import_loads_back_the_same_records(files: dict[str, Any]) -> None:
    back = load_records(files["folder"]).sort_values("probe_id").reset_index(drop=True)
    want = files["df"].sort_values("probe_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, want)
    parts = {p.parent.parent.name for p in Path(files["folder"]).rglob("*.parquet")}
    assert len(parts) >= 10 and all(p.startswith("vantage=") for p in parts)


def test_summary_falls_back_to_line_precise_errors(tmp_path: Path) -> None:
    recs = list(synthetic_records(30, seed=2))
    recs[17]["outcome"] = "opened"
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(RecordError) as info:
        summary_for_file(path)
    assert (info.value.line, info.value.field) == (18, "outcome")
    with pytest.warns(UserWarning, match="skipped 1 bad line"):
        lenient = summary_for_file(path, strict=False)
    assert lenient["probes"].sum() == 29 and lenient.attrs["skipped"] == 1


def test_jsonl_to_parquet_is_line_precise(tmp_path: Path) -> None:
    recs = list(synthetic_records(10, seed=4))
    lines = [json.dumps(r) for r in recs]
    lines[6] = lines[6].replace('"port":', '"port":"x", "was":')
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"line 7, field 'port'"):
        jsonl_to_parquet(path, tmp_path / "strict")
    lenient = jsonl_to_parquet(path, tmp_path / "lenient", strict=False)
    assert lenient.rows == 9 and lenient.skipped == 1
    assert "line 7, field 'port'" in lenient.problems[0]
    assert len(load_records(tmp_path / "lenient")) == 9


@pytest.mark.parametrize("fmt", FORMATS)
def test_port_summary_for_file_equals_pandas(files: dict[str, Any], fmt: str) -> None:
    expected = port_summary(files["df"])
    got = port_summary_for_file(files[fmt])
    pd.testing.assert_frame_equal(got, expected)
    assert got["probes"].sum() == N and len(got) >= 40
    assert format_summary(got).splitlines()[0].split() == list(got.columns)


def test_port_summary_falls_back_to_line_precise_errors(tmp_path: Path) -> None:
    recs = list(synthetic_records(20, seed=6))
    recs[4]["port"] = 70000
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(RecordError) as info:
        port_summary_for_file(path)
    assert (info.value.line, info.value.field) == (5, "port")
    with pytest.warns(UserWarning, match="skipped 1 bad line"):
        assert port_summary_for_file(path, strict=False)["probes"].sum() == 19


SUMMARY_FILTERS: list[dict[str, Any]] = [
    {},
    {"port": 25},
    {"vantage": "home-isp:fr", "outcome": ["open", "filtered"]},
    {"outcome": "tls_failed"},
    {"outcome": "no-such-outcome"},
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataset_summary_equals_pandas_with_filters_and_limit(
    files: dict[str, Any], fmt: str
) -> None:
    """The one-statement DuckDB summary (the explorer's table) is pandas' summarize."""
    df = files["df"]
    with Dataset.open(files[fmt], columns=SUMMARY_INPUTS) as ds:
        for filters in SUMMARY_FILTERS:
            want = summarize(filter_records(df, **filters))
            whole = ds.summary(**filters)
            pd.testing.assert_frame_equal(whole, want)
            page = ds.summary(limit=25, **filters)
            pd.testing.assert_frame_equal(page, want.head(25).reset_index(drop=True))
            assert page.attrs["groups"] == whole.attrs["groups"] == len(want)
    assert len(summarize(df)) > 300


def test_summary_rules_on_awkward_records(files: dict[str, Any]) -> None:
    """Ties, unknown words, empty and missing lists, several findings: DuckDB says what
    pandas says."""
    df = files["df"].head(400).copy()
    df.loc[0:40, "auth_before_tls"] = pd.Series([["PLAIN", "LOGIN"]] * 41)
    df.loc[41:80, "auth_before_tls"] = pd.Series([["LOGIN", "PLAIN"]] * 40, index=range(41, 81))
    df.loc[81:90, "auth_after_tls"] = pd.Series([[]] * 10, index=range(81, 91))
    df.loc[91:95, "findings"] = pd.Series([[]] * 5, index=range(91, 96))
    df.loc[96:120, "host"] = "tie.example"
    df.loc[96:120, "port"] = 25
    df.loc[96:120, "vantage"] = "lab:tie"
    df.loc[96:108, "outcome"] = "open"
    df.loc[109:120, "outcome"] = "filtered"
    df.loc[120, "outcome"] = "silent"
    with Dataset.from_frame(df) as ds:
        pd.testing.assert_frame_equal(ds.summary(), summarize(df))


def test_cache_keeps_only_the_columns_asked_for(files: dict[str, Any]) -> None:
    df = files["df"]
    with Dataset.open(files["jsonl"], columns=["vantage", "port", "outcome"]) as ds:
        kept = ds.con.execute("SELECT count(*), sum(_n) FROM _cached").fetchone()
        assert kept == (len(df), len(df))  # JSON Lines: a row per line, _n = 1
        cached = {r[0] for r in ds.con.execute("DESCRIBE _cached").fetchall()}
        assert cached == {"vantage", "port", "outcome", "_n"}
        assert ds.count(port=25) == int((df["port"] == 25).sum())
        # a field not kept is read from the file again, not refused
        assert ds.distinct("tls_version") == sorted(df["tls_version"].dropna().unique())
        with pytest.raises(ValueError, match="not record fields"):
            ds.cache(["vantage", "nonsense"])
    with Dataset.open(files["parquet"], columns=["vantage", "port", "outcome"]) as ds:
        # Parquet (which can hold millions of equal rows in a few bytes): equal rows once,
        # with their number _n
        kept = ds.con.execute("SELECT count(*), sum(_n) FROM _cached").fetchone()
        assert kept == (len(df.drop_duplicates(["vantage", "port", "outcome"])), len(df))
        assert ds.count(port=25) == int((df["port"] == 25).sum())


@pytest.mark.parametrize("source", ["jsonl", "frame"])
def test_cursor_answers_from_another_thread(files: dict[str, Any], source: str) -> None:
    df = files["df"]
    data = df if source == "frame" else files["jsonl"]
    ds = Dataset.from_frame(df) if source == "frame" else Dataset.open(data)
    with ds, ThreadPoolExecutor(1) as pool:
        cur = ds.cursor()
        got = pool.submit(cur.counts, port=587).result()
        cur.close()
        assert got == ds.counts(port=587)
        assert ds.count() == len(df)  # closing the cursor leaves the dataset open


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_counted_and_phase_rows_are_the_records_counted(files: dict[str, Any], fmt: str) -> None:
    df = files["df"]
    with Dataset.open(files[fmt]) as ds:
        counted = ds.counted(["vantage", "port", "outcome"], port=[25, 587])
        phases = ds.phase_rows("port", vantage="home-isp:fr")
    sub = df[df["port"].isin([25, 587])]
    want = sub.groupby(["vantage", "port", "outcome"]).size()
    got = counted.set_index(["vantage", "port", "outcome"])["probes"]
    assert dict(got.items()) == {k: v for k, v in want.items() if v}
    sub = df[df["vantage"] == "home-isp:fr"]
    timings = ["connect_ms", "banner_ms", "ehlo_ms", "tls_ms"]
    usable = (sub["outcome"] == "open") & sub[timings].notna().any(axis=1)
    assert int(phases["probes"].sum()) == len(sub)
    timed = phases.dropna(subset=timings, how="all")
    if fmt == "jsonl":  # the memory cache holds the timings: a row per probe that has them
        assert (timed["probes"] == 1).all()
        assert len(timed) == int(usable.sum()) > 20
        got_ms = sorted(timed["connect_ms"].dropna())
        assert got_ms == sorted(sub.loc[usable, "connect_ms"].dropna())
    else:  # Parquet: timings stay in the file; a row per port, each timing its median
        by_port = sub[usable].groupby("port")
        assert dict(timed.set_index("port")["probes"].items()) == dict(by_port.size().items())
        medians = timed.set_index("port")[timings].sort_index()
        want_ms = by_port[timings].median().sort_index()
        assert np.allclose(medians.to_numpy(float), want_ms.to_numpy(float), equal_nan=True)
        assert len(timed) == len(want_ms) > 1
    rest = phases[phases[timings].isna().all(axis=1)]
    want_rest = sub[~usable].groupby(["port", "outcome"]).size()
    assert dict(rest.groupby(["port", "outcome"])["probes"].sum().items()) == dict(
        want_rest.items()
    )


def test_a_line_longer_than_duckdbs_first_limit_is_still_read(tmp_path: Path) -> None:
    """DuckDB is first asked for lines up to DUCKDB_OBJECT_BYTES (its buffers are then small
    enough to parse on every core); a longer record, such as a hostile server's huge EHLO
    reply, makes it ask again with the line reader's limit, for every kind of question."""
    from smtplab.records.query import DUCKDB_OBJECT_BYTES

    recs = list(synthetic_records(5, seed=8))
    line = {"t": 1.0, "dir": "server", "text": "250-" + "x" * 500}
    recs[2]["transcript"] = [line] * (2 * DUCKDB_OBJECT_BYTES // 530 + 1)
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert path.stat().st_size > 2 * DUCKDB_OBJECT_BYTES  # past DuckDB's smallest buffer
    want = load_records(path)
    with Dataset(path) as ds:
        assert ds.count() == 5
        assert "maximum_object_size=134217728" in ds._from  # it widened, and only then
        assert len(ds.rows(["transcript"], probe_id=want["probe_id"][2])["transcript"][0]) > 1000
    with Dataset(path) as ds:  # the first question reads Arrow
        assert ds.arrow("SELECT host FROM records").column(0).to_pylist() == list(want["host"])
    with Dataset.open(path) as ds:
        assert ds.format == "jsonl" and ds.counts()["probes"] == 5
    pd.testing.assert_frame_equal(summary_for_file(path), summarize(want))


def test_open_names_the_malformed_line(tmp_path: Path) -> None:
    """DuckDB's own message for a malformed JSON line names the line after it: Dataset.open
    (the explorer's reader) reads the file again line by line to name the right one."""
    recs = list(synthetic_records(3, seed=9))
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"host": \n')
    with pytest.raises(RecordError) as info:
        Dataset.open(path)
    assert info.value.line == 4 and "not valid JSON" in str(info.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_questions_in_any_order_on_one_dataset(files: dict[str, Any], fmt: str) -> None:
    """Every one-row answer reads its result to the end: DuckDB 2 refused ``rows`` (Arrow)
    after ``count`` on the same connection while the count's result was half-fetched."""
    df = files["df"]
    with Dataset(files[fmt]) as ds:
        assert ds.count(port=25) == int((df["port"] == 25).sum())
        assert len(ds.rows(["host"], port=25)) == int((df["port"] == 25).sum())
        assert ds.counts()["probes"] == N
        assert ds.arrow("SELECT count(*) AS n FROM records").column("n").to_pylist() == [N]
        assert ds.bad_rows() == 0
        assert ds.summary_rows(limit=3)[1] == len(summarize(df))
        assert len(ds.rows(["port"], limit=7)) == 7


@pytest.mark.parametrize("fmt", FORMATS)
def test_summary_for_file_first_rows(files: dict[str, Any], fmt: str) -> None:
    """``limit`` gives the first rows of the same table, counted from only their probes, and
    says how many rows the whole table has; so does the line reader's path."""
    expected = summarize(files["df"])
    got = summary_for_file(files[fmt], limit=40)
    pd.testing.assert_frame_equal(got, expected.head(40))
    assert got.attrs["groups"] == len(expected) and got.attrs["skipped"] == 0
    assert summary_for_file(files[fmt]).attrs["groups"] == len(expected)


def test_summary_for_file_first_rows_from_the_line_reader(tmp_path: Path) -> None:
    recs = list(synthetic_records(60, seed=12))
    recs[9]["outcome"] = "opened"
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    from smtplab.records.query import RulesBroken

    with Dataset(path) as ds, pytest.raises(RulesBroken) as broken:
        ds.summary(limit=5, checked=True)
    assert broken.value.rows == 1
    with pytest.raises(RecordError) as info:
        summary_for_file(path, limit=5)
    assert (info.value.line, info.value.field) == (10, "outcome")
    with pytest.warns(UserWarning, match="skipped 1 bad line"):
        got = summary_for_file(path, strict=False, limit=5)
    with pytest.warns(UserWarning, match="skipped 1 bad line"):
        whole = summarize(load_records(path, strict=False))
    pd.testing.assert_frame_equal(got, whole.head(5))
    assert got.attrs["groups"] == len(whole) and got.attrs["skipped"] == 1
