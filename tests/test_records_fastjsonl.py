"""The block reader (Arrow parses, columns checked) against the line reader, on real files.

Every file is read twice: as shipped (blocks that pass the column checks are taken as Arrow
parsed them) and with the block parser switched off, so every line goes through the line
reader.  Frames, skipped counts, problems and errors must be identical, and a count of the
blocks read line by line shows the fast path really ran.  Blocks are made small (32 KiB) so a
file of a few thousand generated records spans many of them.
"""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from smtplab.records import RecordError, fastjsonl, jsonl_to_parquet, load_records
from smtplab.schema import SCHEMA_VERSION
from smtplab.synthetic import write_synthetic_jsonl

N = 1500
BLOCK = 32 * 1024


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = write_synthetic_jsonl(tmp_path_factory.mktemp("fast") / "scan.jsonl", N, seed=9)
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastjsonl, "BLOCK_BYTES", BLOCK)


def write(path: Path, lines: list[str], *, end: str = "\n") -> Path:
    data = ("\n".join(lines) + end).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def outcome(path: Path, **kw: Any) -> tuple[Any, ...]:
    """What load_records gives: the frame and its attrs, or the error's every part."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = load_records(path, **kw)
    except RecordError as exc:
        return ("error", str(exc), exc.line, exc.field)
    return ("frame", df, df.attrs)


def both(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[Any, Any, int]:
    """(block reader's outcome, line reader's outcome, blocks the line reader read)."""
    slow_blocks = []
    real_slow = fastjsonl._slow

    def counting(*args: Any) -> Any:
        slow_blocks.append(1)
        return real_slow(*args)

    with monkeypatch.context() as m:
        m.setattr(fastjsonl, "_slow", counting)
        fast = outcome(path, **kw)
    with monkeypatch.context() as m:
        m.setattr(fastjsonl, "_parse_block", lambda *a: None)
        slow = outcome(path, **kw)
    return fast, slow, len(slow_blocks)


def assert_same(fast: tuple[Any, ...], slow: tuple[Any, ...]) -> None:
    assert fast[0] == slow[0], (fast[:1] + fast[2:], slow[:1] + slow[2:])
    if fast[0] == "error":
        assert fast == slow
    else:
        pd.testing.assert_frame_equal(fast[1], slow[1])
        assert fast[2] == slow[2]


def test_clean_file_is_read_by_blocks_alone(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "ok.jsonl", lines)
    assert path.stat().st_size > 20 * BLOCK
    fast, slow, slow_blocks = both(path, monkeypatch)
    assert slow_blocks == 0
    assert_same(fast, slow)
    assert len(fast[1]) == N and fast[2]["skipped"] == 0
    assert set(fast[1]["source"]) == {"synthetic"}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "bad",
    [
        '{"schema_version": 2, "port": 25',  # not JSON
        "port=70000",  # a field out of range (patched in below)
        "outcome=maybe",
        "severity=urgent",
        "dir=sideways",
        "started_at=2026-02-30T00:00:00+00:00",
        "extensions=null-item",
        "unknown-field",
        "blank",
        "nan",
    ],
)
def test_a_bad_line_in_the_middle_of_a_block(
    lines: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bad: str,
    strict: bool,
) -> None:
    at = N // 2 + 7
    rec = json.loads(lines[at])
    if bad == "port=70000":
        rec["port"] = 70000
    elif bad == "outcome=maybe":
        rec["outcome"] = "maybe"
    elif bad == "severity=urgent":
        rec["findings"] = [{"code": "x", "severity": "urgent", "message": "m"}]
    elif bad == "dir=sideways":
        rec["transcript"][0]["dir"] = "sideways"
    elif bad.startswith("started_at="):
        rec["started_at"] = bad.split("=", 1)[1]
    elif bad == "extensions=null-item":
        rec["extensions"] = ["PIPELINING", None]
    elif bad == "unknown-field":
        rec["colour"] = "blue"
    elif bad == "nan":
        rec["total_ms"] = float("nan")
    if bad == "blank":
        text = "   "
    elif bad.startswith("{"):
        text = bad
    else:
        text = json.dumps(rec)
    path = write(tmp_path / "bad.jsonl", [*lines[:at], text, *lines[at + 1 :]])
    fast, slow, slow_blocks = both(path, monkeypatch, strict=strict)
    assert_same(fast, slow)
    assert slow_blocks == 1  # only the block holding the bad line was read line by line
    if fast[0] == "error":
        assert fast[2] == at + 1 and str(path) in fast[1]
    elif bad not in ("blank", "unknown-field"):
        assert fast[2]["skipped"] == 1 and f", line {at + 1}" in fast[2]["problems"][0]
        assert len(fast[1]) == N - 1


@pytest.mark.parametrize("strict", [True, False])
def test_truncated_last_line(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    path = write(tmp_path / "torn.jsonl", [*lines[:-1], lines[-1][:-40]], end="")
    fast, slow, _ = both(path, monkeypatch, strict=strict)
    assert_same(fast, slow)
    if strict:
        assert fast[2] == N and "truncated" in fast[1]
    else:
        assert len(fast[1]) == N - 1


def test_last_line_without_newline_is_a_record(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "no-newline.jsonl", lines, end="")
    fast, slow, slow_blocks = both(path, monkeypatch)
    assert_same(fast, slow)
    assert slow_blocks == 0 and len(fast[1]) == N


def test_version_1_records_mixed_in_are_upgraded(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mixed = list(lines)
    for i in range(5, N, 97):
        rec = json.loads(mixed[i])
        rec["schema_version"] = 1
        for name in ("cert_problems", "timeout", "deadline", "checks"):
            del rec[name]  # not in version 1
        mixed[i] = json.dumps(rec)
    path = write(tmp_path / "mixed.jsonl", mixed)
    fast, slow, slow_blocks = both(path, monkeypatch)
    assert_same(fast, slow)
    assert slow_blocks == 0  # the upgrade is column-wise too
    assert set(fast[1]["schema_version"]) == {SCHEMA_VERSION}


@pytest.mark.parametrize("strict", [True, False])
def test_gz_files_and_a_torn_gz(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    path = write(tmp_path / "scan.jsonl.gz", lines)
    fast, slow, slow_blocks = both(path, monkeypatch, strict=strict)
    assert_same(fast, slow)
    assert slow_blocks == 0 and len(fast[1]) == N
    torn = tmp_path / "torn.jsonl.gz"
    torn.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    fast, slow, _ = both(torn, monkeypatch, strict=strict)
    assert_same(fast, slow)
    if not strict:
        assert 0 < len(fast[1]) < N and "damaged" in fast[2]["problems"][-1]


def test_max_rows_names_the_same_line(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "many.jsonl", lines)
    fast, slow, _ = both(path, monkeypatch, max_rows=N - 100)
    assert_same(fast, slow)
    assert fast[0] == "error" and fast[2] == N - 99


def test_convert_gives_the_same_rows_as_the_line_reader(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = 1034
    bad = [*lines[:at], '{"schema_version": 2}', *lines[at:]]
    path = write(tmp_path / "scan.jsonl", bad)
    report = jsonl_to_parquet(path, tmp_path / "fast", strict=False)
    with monkeypatch.context() as m:
        m.setattr(fastjsonl, "_parse_block", lambda *a: None)
        slow_report = jsonl_to_parquet(path, tmp_path / "slow", strict=False)
    assert report == slow_report and report.rows == N and report.skipped == 1
    key = ["probe_id"]
    got = load_records(tmp_path / "fast").sort_values(key).reset_index(drop=True)
    want = load_records(tmp_path / "slow").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(RecordError) as err:
        jsonl_to_parquet(path, tmp_path / "strict")
    assert err.value.line == at + 1 and err.value.field == "probe_id"


@pytest.mark.parametrize("strict", [True, False])
def test_a_line_longer_than_the_bound_across_a_block_end(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    rec = json.loads(lines[30])
    rec["banner"] = "x" * (5 * BLOCK)  # starts inside one block, ends blocks later
    at = 31
    path = write(tmp_path / "long.jsonl", [*lines[:at], json.dumps(rec), *lines[at:]])
    fast, slow, _ = both(path, monkeypatch, strict=strict, max_line_bytes=2 * BLOCK)
    assert_same(fast, slow)
    if strict:
        assert fast[2] == at + 1 and "longer than" in fast[1]
    else:
        assert len(fast[1]) == N and fast[2]["skipped"] == 1


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("blank", ["", "   ", "\t", "\r"])
@pytest.mark.parametrize("between", ["", " "])
def test_a_blank_line_and_a_two_record_line_in_one_block(
    lines: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    blank: str,
    between: str,
    strict: bool,
) -> None:
    """Arrow reads no row from a blank line and two from a line holding two records, so the
    block's row count matched its line count and the block was taken; the line reader refuses
    the two-record line ("Extra data"). Both must say the same."""
    at = N // 3
    two = lines[at] + between + lines[at + 1]
    path = write(tmp_path / "two.jsonl", [*lines[:at], blank, two, *lines[at + 2 :]])
    fast, slow, slow_blocks = both(path, monkeypatch, strict=strict)
    assert_same(fast, slow)
    assert slow_blocks == 1
    if strict:
        assert fast[0] == "error" and fast[2] == at + 2 and "Extra data" in fast[1]
    else:
        assert len(fast[1]) == N - 2 and fast[2]["skipped"] == 1


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_blank_line_and_a_two_record_line_at_the_ends_of_a_block(
    lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    if where == "first":
        edited = ["", lines[0] + lines[1], *lines[2:]]
        line = 2
    else:
        edited = [*lines[:-2], lines[-2] + lines[-1], " "]
        line = N - 1
    path = write(tmp_path / "ends.jsonl", edited, end="")
    fast, slow, _ = both(path, monkeypatch)
    assert_same(fast, slow)
    assert fast[0] == "error" and fast[2] == line
