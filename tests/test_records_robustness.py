"""Record files against hostile and broken inputs (issue 11, items 7, 8, 9 and 15).

Every test here uses real files in ``tmp_path`` (or real devices such as ``/dev/zero`` and
``/dev/full``) and fails on the single-module ``records.py`` that came before the package.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtplab.records import (
    MAX_BLANK_LINES,
    RecordError,
    RecordWarning,
    load_records,
    merge_records,
    save_records,
    summary_for_file,
    validate_record,
    write_parquet,
)
from smtplab.schema import empty_record

HUGE = "9" * 5000  # Python refuses to turn more than 4,300 digits into an int


def rec(i: int, **over: Any) -> dict[str, Any]:
    r = empty_record(
        probe_id=f"p-{i}",
        started_at="2026-11-29T05:00:00Z",
        vantage="lab:home-isp",
        host="mx.lab.example",
        port=25,
        outcome="open",
    )
    r.update(over)
    return r


def jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def with_huge(field: str, where: str = "top") -> str:
    """A record line where ``field`` holds a 5,000-digit integer."""
    r = rec(2)
    if where == "transcript":
        r["transcript"] = [{"t": "@HUGE@", "dir": "server", "text": "220"}]
    else:
        r[field] = "@HUGE@"
    return json.dumps(r).replace('"@HUGE@"', HUGE)


@pytest.fixture
def huge_file(tmp_path: Path) -> Path:
    return jsonl(
        tmp_path / "huge.jsonl",
        [json.dumps(rec(1)), with_huge("port"), json.dumps(rec(3, port=587))],
    )


# ---- item 7: a 5,000-digit integer is one bad line -------------------------------------------


@pytest.mark.parametrize(
    ("field", "where"),
    [("port", "top"), ("connect_ms", "top"), ("size_limit", "top"), ("transcript", "transcript")],
)
def test_huge_integer_names_file_line_and_field(tmp_path: Path, field: str, where: str) -> None:
    path = jsonl(tmp_path / "f.jsonl", [json.dumps(rec(1)), with_huge(field, where)])
    with pytest.raises(RecordError) as info:
        load_records(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 2, field)
    assert "5000 digits" in str(err) and len(str(err)) < 400


def test_huge_integer_is_skipped_and_counted_when_lenient(huge_file: Path) -> None:
    with pytest.warns(RecordWarning, match="skipped 1 bad line"):
        df = load_records(huge_file, strict=False)
    assert df["probe_id"].tolist() == ["p-1", "p-3"]
    assert df.attrs["skipped"] == 1 and "line 2, field 'port'" in df.attrs["problems"][0]


def test_huge_integer_in_unknown_field_is_dropped_when_lenient(tmp_path: Path) -> None:
    line = json.dumps({**rec(1), "extra": "@HUGE@"}).replace('"@HUGE@"', HUGE)
    path = jsonl(tmp_path / "f.jsonl", [line])
    with pytest.warns(RecordWarning, match="dropped unknown fields: extra"):
        assert len(load_records(path, strict=False)) == 1


def test_huge_integer_in_merge(huge_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(RecordError, match=r"line 2, field 'port'"):
        merge_records([huge_file], out)
    assert not out.exists() or out.stat().st_size == 0  # strict: nothing written
    with pytest.warns(RecordWarning, match="skipped 1 bad line"):
        assert merge_records([huge_file], out, strict=False) == (2, 0)
    assert load_records(out)["probe_id"].tolist() == ["p-1", "p-3"]


def test_huge_integer_in_summaries(huge_file: Path) -> None:
    with pytest.raises(RecordError, match=r"line 2, field 'port'"):
        summary_for_file(huge_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordWarning)
        summary = summary_for_file(huge_file, strict=False)
    assert summary.attrs["skipped"] == 1 and summary["probes"].sum() == 2


def test_huge_python_integer_in_memory_is_a_problem_not_a_crash() -> None:
    problems = validate_record(rec(1, port=10**5000))
    assert len(problems) == 1 and "does not fit in 64 bits" in problems[0]
    assert len(problems[0]) < 200


# ---- item 9: bounded reads ---------------------------------------------------------------------


def test_gz_of_newlines_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "newlines.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\n" * (MAX_BLANK_LINES + 10))
    with pytest.raises(RecordError, match="blank lines: not a record file") as info:
        load_records(path, strict=False)
    assert info.value.path == str(path)


def test_gzip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        chunk = b"0" * (1 << 20)
        for _ in range(200):  # 200 MiB of one byte: about 200 KB compressed
            f.write(chunk)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(RecordError, match="gzip bomb") as info:
        load_records(path, strict=False)
    assert info.value.path == str(path)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_devices_are_not_record_files(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    with pytest.raises(RecordError, match="not a record file: it is a device") as info:
        load_records(device)
    assert info.value.path == device
    with pytest.raises(RecordError, match="device"):
        summary_for_file(device)


@pytest.mark.timeout(30)
def test_fifo_is_not_a_record_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(RecordError, match="not a record file"):
        load_records(fifo)  # opening a FIFO with no writer would block forever


def tiny_parquet_with_many_rows(path: Path, rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from smtplab.records import arrow_schema

    one = write_parquet([rec(0)], path.with_suffix(".one.parquet"))
    assert one == 1
    row = pq.read_table(path.with_suffix(".one.parquet")).cast(arrow_schema())
    indices = pa.array([0] * rows, pa.int64())
    pq.write_table(row.take(indices), path, compression="zstd")
    return path


def test_tiny_parquet_with_millions_of_rows_is_refused_from_its_footer(tmp_path: Path) -> None:
    path = tiny_parquet_with_many_rows(tmp_path / "many.parquet", 1_000_001)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(RecordError, match=r"1,000,001 rows, more than max_rows") as info:
        load_records(path)
    assert info.value.path == str(path)
    # Asked for explicitly, a narrow load of the same file works.
    df = load_records(path, columns=["port"], max_rows=None)
    assert len(df) == 1_000_001


def test_parquet_with_huge_lists_is_refused(tmp_path: Path) -> None:
    lines = [{"t": float(j), "dir": "server", "text": "250-X"} for j in range(6000)]
    write_parquet([rec(i, transcript=lines) for i in range(400)], tmp_path / "lists.parquet")
    with pytest.raises(RecordError, match="far more than records hold"):
        load_records(tmp_path / "lists.parquet")


# ---- item 15: errors that say what is wrong ------------------------------------------------------


def test_saving_into_a_folder_says_folder_not_missing_column(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    with pytest.raises(RecordError, match="this is a folder") as info:
        save_records([rec(1)], folder)
    assert "missing column" not in str(info.value) and info.value.path == str(folder)


def test_loading_a_folder_without_records_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RecordError, match=r"a folder without \.parquet or \.jsonl files"):
        load_records(tmp_path)


def test_write_parquet_over_a_folder_says_folder(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    with pytest.raises(RecordError, match="this is a folder: pass partition_cols"):
        write_parquet([rec(1)], tmp_path / "set")


# ---- item 8 (records side): files that cannot be written -----------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or folder unwritable, even for root (``chattr +i``), for the block."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if not chattr or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("root, and chattr +i is not available to make a file read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_save_to_read_only_file_is_one_record_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.jsonl"
    save_records([rec(1)], path)
    before = path.read_bytes()
    with read_only(path), pytest.raises(RecordError, match="cannot write records") as info:
        save_records([rec(2)], path)
    assert info.value.path == str(path)
    assert path.read_bytes() == before


def test_save_to_read_only_parquet_folder_is_one_record_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "set.parquet"
    save_records([rec(1)], path)
    with read_only(folder), pytest.raises(RecordError, match="cannot write records") as info:
        save_records([rec(2)], path)
    assert info.value.path == str(path)
    assert load_records(path)["probe_id"].tolist() == ["p-1"]


def test_save_to_dev_full_is_one_record_error() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(RecordError) as info:
        save_records([rec(1)], "/dev/full")
    assert info.value.path == "/dev/full"


def test_save_to_a_full_disk_is_one_record_error(tmp_path: Path) -> None:
    """A regular file whose writes fail mid-way (a file size limit: EFBIG, as a full disk)."""
    path = tmp_path / "big.jsonl"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        "from smtplab.records import RecordError, save_records\n"
        "from smtplab.schema import empty_record\n"
        "recs = [empty_record(probe_id=f'p{i}', started_at='2026-11-29T05:00:00Z', host='h',\n"
        "        port=25, outcome='open', banner='x' * 500) for i in range(50)]\n"
        "try:\n"
        "    save_records(recs, sys.argv[1])\n"
        "except RecordError as e:\n"
        "    print('RecordError', e.path, e.reason)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"RecordError {path} cannot write records"), out.stdout


def test_save_to_gz_name_is_a_record_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "probes.jsonl.gz"
    with pytest.raises(RecordError, match=r"cannot append to a \.gz file") as info:
        save_records([rec(1)], path)
    assert info.value.path == str(path) and not path.exists()


def test_save_to_missing_folder_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "probes.jsonl"
    with pytest.raises(RecordError, match="does not exist") as info:
        save_records([rec(1)], path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("name", ["out.jsonl.gz", "folder"])
def test_merge_refuses_bad_output_before_reading(tmp_path: Path, name: str) -> None:
    src = tmp_path / "in.jsonl"
    save_records([rec(1)], src)
    out = tmp_path / name
    if name == "folder":
        out.mkdir()
    with pytest.raises(RecordError) as info:
        merge_records([src], out)
    assert info.value.path == str(out)


def test_merge_to_read_only_output_is_one_record_error(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    save_records([rec(1)], src)
    out = tmp_path / "out.jsonl"
    save_records([rec(2)], out)
    with read_only(out), pytest.raises(RecordError, match="cannot write records") as info:
        merge_records([src], out)
    assert info.value.path == str(out)
