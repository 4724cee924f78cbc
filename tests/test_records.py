"""Record files: round trips, line-precise errors, lenient loads, Parquet, DuckDB, summaries."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtplab.records import (
    RecordError,
    RecordWarning,
    arrow_schema,
    check_record,
    format_summary,
    frame_to_records,
    load_records,
    merge_records,
    records_to_frame,
    save_records,
    summarize,
    validate_record,
    write_parquet,
)
from smtplab.schema import FIELD_NAMES, FIELDS, SCHEMA_VERSION, empty_record


def full_record(i: int = 0, **over: Any) -> dict[str, Any]:
    """A record with every field set to something non-trivial."""
    rec = empty_record(
        probe_id=f"probe-{i:06d}",
        started_at="2026-11-29T05:00:00.123456+00:00",
        vantage="lab:home-isp",
        source="lab",
        host="smtp.lab.example",
        address="127.0.0.1",
        port=587,
        mode="auto",
        tls_mode="starttls",
        outcome="open",
        role="submission-starttls",
        connect_ms=0.41,
        banner_ms=1.5,
        ehlo_ms=2.25,
        tls_ms=8.0,
        total_ms=15.75,
        banner_code=220,
        banner="220 smtp.lab.example ESMTP — bienvenue ✉ 日本語",
        esmtp=True,
        extensions=["PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME"],
        size_limit=10240000,
        starttls_offered=True,
        auth_before_tls=[],
        auth_after_tls=["PLAIN", "LOGIN"],
        tls_version="TLSv1.3",
        tls_cipher="TLS_AES_256_GCM_SHA384",
        cert_subject="CN=smtp.lab.example",
        cert_issuer="CN=smtplab test CA",
        cert_not_after="2027-01-01T00:00:00+00:00",
        cert_san=["smtp.lab.example", "localhost"],
        cert_verified=False,
        cert_error="self-signed certificate in certificate chain",
        cert_problems=["unknown_issuer"],
        cert_chain=["CN=smtp.lab.example"],
        cert_chain_issuers=["CN=smtplab test CA"],
        timeout=3.0,
        deadline=11.0,
        checks=["verify"],
        relay_check="denied",
        findings=[
            {
                "code": "auth-after-tls-only",
                "severity": "info",
                "message": "AUTH only after STARTTLS: good",
            },
            {
                "code": "cert-untrusted",
                "severity": "medium",
                "message": "the certificate is not trusted",
            },
        ],
        error=None,
        transcript=[
            {"t": 0.0, "dir": "event", "text": "connect 127.0.0.1:40123"},
            {"t": 1.5, "dir": "server", "text": "220 smtp.lab.example ESMTP"},
            {"t": 1.6, "dir": "client", "text": "EHLO probe.smtplab.invalid"},
            {"t": 9.0, "dir": "client", "text": "AUTH PLAIN ********"},
        ],
    )
    rec.update(over)
    return rec


def minimal_record(i: int = 0, **over: Any) -> dict[str, Any]:
    """A refused probe: most fields None or empty."""
    rec = empty_record(
        probe_id=f"min-{i:06d}",
        started_at="2026-11-29T06:00:00Z",
        host="mx.lab.example",
        port=25,
        outcome="refused",
    )
    rec.update(over)
    return rec


def write_lines(path: Path, lines: list[Any]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    return path


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


def test_every_field_is_exercised() -> None:
    full = full_record()
    for name in FIELDS:
        if name in ("error", "auth_before_tls"):
            continue  # error is set in sample_records()'s third record; [] here is on purpose
        assert full[name] not in (None, []), name


def sample_records() -> list[dict[str, Any]]:
    long_transcript = [
        {"t": i * 0.01, "dir": "server", "text": f"250-EXTENSION-{i} ünïcödé"} for i in range(5000)
    ]
    return [
        full_record(0),
        minimal_record(1),
        minimal_record(
            2, outcome="error", error="something odd: \x00 NUL and \t tab", auth_before_tls=None
        ),
        full_record(3, transcript=long_transcript, findings=[], cert_san=[]),
        full_record(4, started_at="2026-11-29T07:00:00.5Z", esmtp=False, cert_verified=None),
    ]


def test_jsonl_round_trip_every_field(tmp_path: Path) -> None:
    path = tmp_path / "probes.jsonl"
    records = sample_records()
    assert save_records(records, path) == len(records)
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith(f'{{"schema_version":{SCHEMA_VERSION},')
    assert list(json.loads(first_line)) == list(FIELD_NAMES)  # keys in schema order
    assert "✉" in first_line  # unicode stays readable
    df = load_records(path)
    assert list(df.columns) == list(FIELD_NAMES)
    back = frame_to_records(df)
    for original, loaded in zip(records, back, strict=False):
        expected = check_record(original)
        assert loaded == expected
    # load -> frame_to_records -> save -> load is the identity
    again = tmp_path / "again.jsonl"
    save_records(back, again)
    pd.testing.assert_frame_equal(load_records(again), df)


def test_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    save_records(sample_records(), path)
    df = load_records(path)
    assert str(df["started_at"].dtype) == "datetime64[us, UTC]"
    assert str(df["cert_not_after"].dtype) == "datetime64[us, UTC]"
    assert str(df["port"].dtype) == "Int64"
    assert str(df["connect_ms"].dtype) == "float64"
    assert str(df["esmtp"].dtype) == "boolean"
    assert isinstance(df["host"].dtype, pd.StringDtype)
    assert df.loc[0, "started_at"] == pd.Timestamp("2026-11-29T05:00:00.123456Z")
    assert df.loc[0, "extensions"] == ["PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME"]
    assert isinstance(df.loc[0, "findings"][0], dict)
    assert df.loc[1, "auth_before_tls"] is None and df.loc[1, "cert_san"] == []
    assert df.loc[0, "auth_before_tls"] == []  # empty (none offered) is not None (not seen)
    assert pd.isna(df.loc[1, "esmtp"]) and pd.isna(df.loc[1, "banner_code"])
    assert len(df.loc[3, "transcript"]) == 5000


def test_parquet_round_trip_matches_jsonl(tmp_path: Path) -> None:
    records = sample_records()
    save_records(records, tmp_path / "p.jsonl")
    save_records(records[:2], tmp_path / "p.parquet")
    save_records(records[2:], tmp_path / "p.parquet")  # append = rewrite
    from_jsonl = load_records(tmp_path / "p.jsonl")
    from_parquet = load_records(tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(from_jsonl, from_parquet)
    assert not list(tmp_path.glob(".p.parquet.*"))  # no temporary files left
    write_parquet(from_jsonl, tmp_path / "w.parquet")
    pd.testing.assert_frame_equal(load_records(tmp_path / "w.parquet"), from_jsonl)


def test_records_to_frame_and_objects_with_to_record() -> None:
    class Result:
        def __init__(self, rec: dict[str, Any]) -> None:
            self._rec = rec

        def to_record(self) -> dict[str, Any]:
            return self._rec

    df = records_to_frame([Result(full_record(0)), minimal_record(1)])
    assert list(df["probe_id"]) == ["probe-000000", "min-000001"]
    with pytest.raises(RecordError) as info:
        records_to_frame([minimal_record(0), minimal_record(1, port="x")])
    assert info.value.line == 2 and info.value.field == "port"


def test_save_single_result_and_vantage(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    assert save_records(minimal_record(), path, vantage="home-wifi") == 1
    assert load_records(path)["vantage"].tolist() == ["home-wifi"]


def test_gz_loads(tmp_path: Path) -> None:
    plain = tmp_path / "p.jsonl"
    save_records(sample_records()[:2], plain)
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    pd.testing.assert_frame_equal(load_records(gz), load_records(plain))
    with pytest.raises(ValueError, match="compress it when recording is over"):
        save_records(minimal_record(), gz)


def test_empty_file_gives_all_columns(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    df = load_records(path)
    assert len(df) == 0 and list(df.columns) == list(FIELD_NAMES)
    assert str(df["port"].dtype) == "Int64"
    assert format_summary(df) == "(no records)"


def test_missing_nullable_field_reads_as_none(tmp_path: Path) -> None:
    rec = minimal_record()
    del rec["banner"], rec["tls_version"]
    df = load_records(write_lines(tmp_path / "p.jsonl", [rec]))
    assert pd.isna(df.loc[0, "banner"])


def test_several_paths_and_directories(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    save_records([minimal_record(1)], tmp_path / "d" / "a.jsonl")
    save_records([minimal_record(2)], tmp_path / "d" / "b.jsonl")
    assert load_records(tmp_path / "d")["probe_id"].tolist() == ["min-000001", "min-000002"]
    both = load_records([tmp_path / "d" / "b.jsonl", tmp_path / "d" / "a.jsonl"])
    assert both["probe_id"].tolist() == ["min-000002", "min-000001"]


# --------------------------------------------------------------------------------------------
# Line-precise errors
# --------------------------------------------------------------------------------------------

GOOD = json.dumps(check_record(minimal_record()))


@pytest.mark.parametrize(
    ("bad_line", "field", "message"),
    [
        ("{not json", None, "not valid JSON"),
        ('["a", "list"]', None, "expected a JSON object"),
        ('"text"', None, "expected a JSON object"),
        (json.dumps(minimal_record(port="abc")), "port", "expected an integer, got 'abc'"),
        (json.dumps(minimal_record(port=25.0)), "port", "expected an integer"),
        (json.dumps(minimal_record(port=70000)), "port", "0 to 65535"),
        (json.dumps(minimal_record(esmtp="yes")), "esmtp", "expected true or false"),
        (json.dumps(minimal_record(outcome="opne")), "outcome", "unknown word 'opne'"),
        (json.dumps(minimal_record(tls_mode="ssl")), "tls_mode", "unknown word"),
        (json.dumps(minimal_record(started_at="yesterday")), "started_at", "ISO-8601"),
        (
            json.dumps(minimal_record(started_at="2026-11-29T05:00:00")),
            "started_at",
            "no time zone",
        ),
        (json.dumps(minimal_record(extensions="STARTTLS")), "extensions", "list of text"),
        (
            json.dumps(
                minimal_record(findings=[{"code": "x", "severity": "urgent", "message": ""}])
            ),
            "findings",
            "unknown severity",
        ),
        (
            json.dumps(minimal_record(transcript=[{"t": 0, "dir": "up", "text": ""}])),
            "transcript",
            "unknown dir",
        ),
        (json.dumps(minimal_record(host=None)), "host", "must not be null"),
        (
            json.dumps({k: v for k, v in minimal_record().items() if k != "outcome"}),
            "outcome",
            "missing field",
        ),
        (json.dumps(minimal_record(schema_version=9)), "schema_version", "it reads version"),
        (json.dumps({**minimal_record(), "outcom": "open"}), "outcom", "unknown field"),
    ],
)
def test_line_precise_errors(
    tmp_path: Path, bad_line: str, field: str | None, message: str
) -> None:
    path = write_lines(tmp_path / "probes.jsonl", [GOOD] * 6 + [bad_line, GOOD])
    with pytest.raises(RecordError) as info:
        load_records(path)
    err = info.value
    assert err.path == str(path) and err.line == 7 and err.field == field
    assert message in str(err)
    assert str(err).startswith(f"{path}, line 7")
    assert isinstance(err, ValueError)


def test_json_errors_read_as_one_sentence(tmp_path: Path) -> None:
    """json's message "Unterminated string starting at" once read "... at at column 16"."""
    path = write_lines(tmp_path / "probes.jsonl", [GOOD, '{"host": "mail.exam', GOOD])
    with pytest.raises(RecordError) as info:
        load_records(path)
    assert str(info.value) == (
        f"{path}, line 2: not valid JSON (Unterminated string starting at column 10)"
    )
    path = write_lines(tmp_path / "other.jsonl", [GOOD, '{"host" 1}'])
    with pytest.raises(RecordError, match=r"\(Expecting ':' delimiter at column 9\)$"):
        load_records(path)


def test_error_message_format(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "probes.jsonl", [GOOD] * 6 + [json.dumps(minimal_record(port="abc"))]
    )
    with pytest.raises(RecordError) as info:
        load_records(path)
    assert str(info.value) == f"{path}, line 7, field 'port': expected an integer, got 'abc'"


def test_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    path.write_text(GOOD + "\n" + GOOD + "\n" + GOOD[: len(GOOD) // 2], encoding="utf-8")
    with pytest.raises(RecordError, match="truncated") as info:
        load_records(path)
    assert info.value.line == 3 and info.value.field is None


def test_schema_version_message_says_what_is_read(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "new.jsonl", [minimal_record(schema_version=SCHEMA_VERSION + 1)])
    with pytest.raises(
        RecordError, match=rf"schema_version {SCHEMA_VERSION + 1} is not one this smtplab reads"
    ):
        load_records(path)


def test_oversized_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "big.jsonl", [GOOD, json.dumps(minimal_record(banner="x" * 5000)), GOOD]
    )
    with pytest.raises(RecordError, match="longer than 4,096 bytes") as info:
        load_records(path, max_line_bytes=4096)
    assert info.value.line == 2
    with pytest.warns(RecordWarning):
        df = load_records(path, strict=False, max_line_bytes=4096)
    assert len(df) == 2 and df.attrs["skipped"] == 1


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(GOOD.encode() + b"\n\xff\xfe garbage\n")
    with pytest.raises(RecordError, match="not UTF-8") as info:
        load_records(path)
    assert info.value.line == 2


def test_lenient_skips_and_counts(tmp_path: Path) -> None:
    lines = [
        GOOD,
        "{not json",
        GOOD,
        json.dumps(minimal_record(port="abc")),
        json.dumps({**minimal_record(), "extra": 1}),
        json.dumps(minimal_record(schema_version=9)),
        "",
        GOOD[:20],
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline: last line torn
    with pytest.warns(RecordWarning, match="skipped 4 bad lines") as caught:
        df = load_records(path, strict=False)
    assert len(caught) == 1
    assert len(df) == 3  # the line with an unknown field is kept, without that field
    assert df.attrs["skipped"] == 4
    assert df.attrs["dropped_fields"] == ["extra"]
    assert any("line 4, field 'port'" in p for p in df.attrs["problems"])


def test_lenient_clean_file_no_warning(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ok.jsonl", [GOOD, GOOD])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = load_records(path, strict=False)
    assert df.attrs["skipped"] == 0


def test_save_validates_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    save_records([minimal_record(0)], path)
    before = path.read_bytes()
    with pytest.raises(RecordError, match="nothing was written") as info:
        save_records([minimal_record(1), minimal_record(2, outcome="bogus")], path)
    assert info.value.field == "outcome"
    assert path.read_bytes() == before
    with pytest.raises(RecordError) as info:
        save_records([minimal_record(1, connect_ms=float("nan"))], path)
    assert info.value.field == "connect_ms"
    with pytest.raises(RecordError) as info:
        save_records([minimal_record(1, banner="bad \udcff surrogate")], path)
    assert info.value.field == "banner"


def test_parquet_errors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = records_to_frame([minimal_record(i) for i in range(5)])
    table = pa.Table.from_pandas(df, preserve_index=False)
    outcome = table.column("outcome").to_pylist()
    outcome[3] = "opne"
    table = table.set_column(table.schema.get_field_index("outcome"), "outcome", pa.array(outcome))
    pq.write_table(table, tmp_path / "bad.parquet")
    with pytest.raises(RecordError) as info:
        load_records(tmp_path / "bad.parquet")
    assert (info.value.line, info.value.field) == (4, "outcome")
    with pytest.warns(RecordWarning):
        lenient = load_records(tmp_path / "bad.parquet", strict=False)
    assert len(lenient) == 4 and lenient.attrs["skipped"] == 1
    pq.write_table(table.drop_columns(["host"]), tmp_path / "nohost.parquet")
    with pytest.raises(RecordError, match="missing column") as info:
        load_records(tmp_path / "nohost.parquet")
    assert info.value.field == "host"
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(RecordError, match="not a readable Parquet file"):
        load_records(tmp_path / "junk.parquet")


# --------------------------------------------------------------------------------------------
# Fuzz: any mutation of a valid record validates or gives a RecordError with a field
# --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
field_names = st.sampled_from([*FIELD_NAMES, "t", "dir", "unknown_field"])
mutation = st.one_of(
    st.tuples(st.just("set"), field_names, json_values),
    st.tuples(st.just("delete"), field_names, st.none()),
    st.tuples(
        st.just("finding"), st.sampled_from(["code", "severity", "message", "x"]), json_values
    ),
    st.tuples(st.just("line"), st.sampled_from(["t", "dir", "text", "x"]), json_values),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutations_validate_or_name_a_field(mutations: list[tuple[str, str, Any]]) -> None:
    rec = full_record()
    rec["findings"] = [dict(f) for f in rec["findings"]]
    rec["transcript"] = [dict(t) for t in rec["transcript"]]
    for op, key, value in mutations:
        if op == "set":
            rec[key] = value
        elif op == "delete":
            rec.pop(key, None)
        elif op in ("finding", "line"):
            name = "findings" if op == "finding" else "transcript"
            items = rec.get(name)
            if isinstance(items, list) and items and isinstance(items[0], dict):
                items[0][key] = value
    problems = validate_record(rec)
    try:
        df = records_to_frame([rec])
    except RecordError as err:
        assert err.field is not None
        assert problems and f"field {err.field!r}" in problems[0]
    else:
        assert problems == []
        assert len(df) == 1


# --------------------------------------------------------------------------------------------
# Merge, summary, Parquet datasets and DuckDB
# --------------------------------------------------------------------------------------------


def test_merge_drops_duplicates_keeps_order(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.parquet", tmp_path / "class.jsonl"
    save_records([minimal_record(1), minimal_record(2)], a)
    save_records([minimal_record(2), minimal_record(3)], b)
    assert merge_records([a, b], out) == (3, 1)
    assert load_records(out)["probe_id"].tolist() == ["min-000001", "min-000002", "min-000003"]
    assert merge_records([a, b], out) == (0, 4)  # merging again adds nothing


def test_summarize_and_format(tmp_path: Path) -> None:
    recs = [
        full_record(0),
        full_record(1),
        full_record(2, outcome="filtered", findings=[]),
        minimal_record(3, vantage="cafe"),
        minimal_record(4, vantage="cafe", outcome="filtered"),
        minimal_record(5, vantage="cafe", outcome="filtered"),
    ]
    summary = summarize(records_to_frame(recs))
    assert list(summary.columns) == [
        "vantage",
        "host",
        "port",
        "probes",
        "outcome",
        "outcomes",
        "tls_mode",
        "auth_before_tls",
        "auth_after_tls",
        "top_finding",
    ]
    home = summary[summary["vantage"] == "lab:home-isp"].iloc[0]
    assert home["probes"] == 3 and home["outcome"] == "open"
    assert home["outcomes"] == "open×2 filtered×1"
    assert home["auth_before_tls"] == "none" and home["auth_after_tls"] == "PLAIN LOGIN"
    assert home["top_finding"] == "cert-untrusted (medium)"
    cafe = summary[summary["vantage"] == "cafe"].iloc[0]
    assert (
        cafe["outcome"] == "filtered"
        and cafe["auth_after_tls"] == "n/a"
        and cafe["top_finding"] == ""
    )
    text = format_summary(records_to_frame(recs))
    lines = text.splitlines()
    assert lines[0].split() == list(summary.columns)
    assert len(lines) == 2 + len(summary)
    dashes = lines[1].split("  ")
    assert all(set(d) == {"-"} for d in dashes) and len(dashes) == len(summary.columns)
    assert max(len(line) for line in lines) == len(lines[1])


def test_partitioned_parquet_read_by_duckdb_and_us(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    recs = [
        minimal_record(i, vantage=v, port=p, outcome=o)
        for i, (v, p, o) in enumerate(
            [
                ("lab:home-isp", 25, "filtered"),
                ("lab:home-isp", 587, "open"),
                ("lab:home-isp", 587, "open"),
                ("lab:cloud", 25, "refused"),
                ("lab:cloud", 465, "open"),
            ]
        )
    ]
    root = tmp_path / "dataset"
    assert write_parquet(recs, root, partition_cols=["vantage", "port"]) == 5
    assert (root / "vantage=lab%3Ahome-isp" / "port=587").is_dir()
    glob = (root / "**" / "*.parquet").as_posix()
    rows = duckdb.sql(
        f"select port, outcome, count(*) as n from read_parquet('{glob}', hive_partitioning=true) "
        "group by all order by port, outcome"
    ).fetchall()
    assert rows == [(25, "filtered", 1), (25, "refused", 1), (465, "open", 1), (587, "open", 2)]
    vantages = duckdb.sql(
        f"select distinct vantage from read_parquet('{glob}', hive_partitioning=true) order by 1"
    ).fetchall()
    assert vantages == [("lab:cloud",), ("lab:home-isp",)]
    # Nested columns are plain Parquet lists/structs: DuckDB unnests them.
    write_parquet([full_record(0)], tmp_path / "full.parquet")
    where = (tmp_path / "full.parquet").as_posix()
    sev = duckdb.sql(
        f"select f.severity from (select unnest(findings) as f from read_parquet('{where}'))"
    ).fetchall()
    assert sev == [("info",), ("medium",)]
    # We read the partitioned folder back too, with the partition columns restored.
    df = load_records(root).sort_values("probe_id").reset_index(drop=True)
    assert df["port"].tolist() == [25, 587, 587, 25, 465]
    assert str(df["port"].dtype) == "Int64" and list(df.columns) == list(FIELD_NAMES)
    write_parquet(recs[:1], root, partition_cols=["vantage", "port"])  # appends a file
    assert len(load_records(root)) == 6


def test_arrow_schema_plain_types() -> None:
    schema = arrow_schema()
    assert schema.names == list(FIELD_NAMES)
    assert str(schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("findings").type) == (
        "list<item: struct<code: string, severity: string, message: string>>"
    )


def test_load_selected_columns(tmp_path: Path) -> None:
    recs = [full_record(0), minimal_record(1)]
    save_records(recs, tmp_path / "p.jsonl")
    save_records(recs, tmp_path / "p.parquet")
    write_parquet(recs, tmp_path / "ds", partition_cols=["port"])
    for path in ("p.jsonl", "p.parquet", "ds"):
        df = load_records(tmp_path / path, columns=["outcome", "port", "findings"])
        assert list(df.columns) == ["port", "outcome", "findings"]  # schema order
        assert sorted(df["port"].tolist()) == [25, 587]
        assert str(df["port"].dtype) == "Int64"
    with pytest.raises(ValueError, match="not record fields: outcom"):
        load_records(tmp_path / "p.jsonl", columns=["outcom"])
