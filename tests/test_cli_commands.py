"""The other `smtplab` commands, run as a learner would: record, show, merge, lab, notebooks."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtplab.records import load_records


def smtplab_cmd(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtplab", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_record_show_merge_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home.jsonl"
    hotel = tmp_path / "hotel.jsonl"
    r1 = smtplab_cmd(
        "record",
        "smtp.lab.example",
        "mx.lab.example",
        "--lab",
        "home-isp",
        "--vantage",
        "lab:home-isp",
        "-o",
        str(home),
        "--timeout",
        "1",
    )
    assert r1.returncode == 0, r1.stderr
    assert "appended 8 record(s)" in r1.stdout
    r2 = smtplab_cmd(
        "record",
        "mx.lab.example",
        "--lab",
        "hotel-wifi",
        "-p",
        "25,587",
        "--vantage",
        "lab:hotel-wifi",
        "-o",
        str(hotel),
        "--timeout",
        "1",
    )
    assert r2.returncode == 0, r2.stderr
    pooled = tmp_path / "class.jsonl"
    m = smtplab_cmd("merge", str(home), str(hotel), str(home), "-o", str(pooled))
    assert m.returncode == 0, m.stderr
    assert "wrote 10 record(s)" in m.stdout
    df = load_records(pooled)
    assert sorted(df["vantage"].unique()) == ["lab:home-isp", "lab:hotel-wifi"]
    show = smtplab_cmd("show", str(pooled))
    assert show.returncode == 0, show.stderr
    assert "filtered" in show.stdout and "lab:hotel-wifi" in show.stdout


def test_show_names_file_line_and_field_of_a_bad_record(tmp_path: Path) -> None:
    good = smtplab_cmd(
        "probe", "mx.lab.example", "-p", "25", "--lab", "open-internet", "--json", "--timeout", "2"
    )
    rec = json.loads(good.stdout.splitlines()[0])
    rec["port"] = "twenty-five"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.stdout + json.dumps(rec) + "\n")
    out = smtplab_cmd("show", str(bad))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "bad.jsonl" in out.stderr and "line 2" in out.stderr and "port" in out.stderr
    lenient = smtplab_cmd("show", str(bad), "--lenient")
    assert lenient.returncode == 0 and "mx.lab.example" in lenient.stdout


@pytest.mark.parametrize(
    ("field", "value"),
    [("banner_ms", "abc"), ("cert_san", [None]), ("started_at", "yesterday"), ("probe_id", None)],
)
def test_show_prints_nothing_a_bad_line_counted_and_lenient_hides_what_it_skipped(
    tmp_path: Path, field: str, value: object
) -> None:
    """A line bad in a field the summary does not read: show printed a table that counted it,
    then exited 2 (strict), or showed it although the note said it was skipped (lenient)."""
    good = _lab_record_lines()
    rec = json.loads(good[0])
    rec["host"] = "counted.example"
    if value is None:
        del rec[field]
    else:
        rec[field] = value
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*good, json.dumps(rec)]) + "\n")
    strict = smtplab_cmd("show", str(bad))
    assert strict.returncode == 2 and strict.stdout == ""
    assert len(strict.stderr.strip().splitlines()) == 1
    assert f"line 2, field '{field}'" in strict.stderr
    lenient = smtplab_cmd("show", str(bad), "--lenient")
    assert lenient.returncode == 0, lenient.stderr
    assert "counted.example" not in lenient.stdout and "smtp.lab.example" in lenient.stdout
    notes = lenient.stderr.strip().splitlines()
    assert len(notes) == 1 and "skipped 1 bad line and loaded 1" in notes[0]


def test_show_prints_the_first_rows_of_a_big_file_and_says_how_many_more(
    tmp_path: Path,
) -> None:
    from smtplab.records import summarize
    from smtplab.synthetic import write_synthetic_jsonl

    path = write_synthetic_jsonl(tmp_path / "scan.jsonl", 3000, seed=11, hosts=120)
    table = summarize(load_records(path))
    assert len(table) > 150

    def shown(*extra: str) -> tuple[list[tuple[str, int]], str]:
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        out = smtplab_cmd("show", str(path), *extra, env=env)
        assert out.returncode == 0, out.stderr
        rows = []
        for line in out.stdout.splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[1].isdigit() and not line.startswith(" "):
                rows.append((parts[0], int(parts[1])))
        return rows, out.stdout

    want = list(zip(table["host"], table["port"].astype(int), strict=True))
    rows, text = shown("--limit", "7")
    assert rows == want[:7]
    assert f"the first 7 of {len(table):,} rows" in text and "--limit 0" in text
    rows, text = shown()
    assert rows == want[:100] and f"the first 100 of {len(table):,} rows" in text
    rows, text = shown("--limit", "0")
    assert rows == want and "the first" not in text
    bad = smtplab_cmd("show", str(path), "--limit", "-3")
    assert bad.returncode == 2 and "--limit" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_probe_record_option_appends(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    for _ in range(2):
        r = smtplab_cmd(
            "probe",
            "smtp.lab.example",
            "-p",
            "587",
            "--lab",
            "open-internet",
            "--record",
            str(out),
            "--timeout",
            "2",
        )
        assert r.returncode == 0, r.stderr
    assert len(load_records(out)) == 2


def test_unknown_scenario_is_one_line() -> None:
    r = smtplab_cmd("probe", "smtp.lab.example", "--lab", "moon-base")
    assert r.returncode == 2 and "unknown lab scenario" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_lab_list_and_run_until_ctrl_c() -> None:
    listing = smtplab_cmd("lab", "--list")
    assert listing.returncode == 0 and "home-isp" in listing.stdout
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtplab", "lab", "--scenario", "hotel-wifi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = ""
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while "smtp.lab.example" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "smtp.lab.example" in seen
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_notebooks_command_serves_a_writable_copy(tmp_path: Path) -> None:
    """The README's main command: JupyterLab on a copy of the course."""
    port = _free_port()
    target = tmp_path / "course"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smtplab",
            "notebooks",
            "--dir",
            str(target),
            "--no-browser",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as resp:
                    status = resp.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200
        assert (target / "00_start_here.ipynb").is_file()
        copied = {p.name for p in target.glob("*.ipynb")}
        shipped = {p.name for p in (Path(__file__).parents[1] / "notebooks").glob("*.ipynb")}
        assert copied == shipped
        # The start page is notebook 00: '/' redirects there, not to the Launcher.
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(f"http://127.0.0.1:{port}/", timeout=5)
            location = ""
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location", "")
        assert location.rstrip("?").endswith("/lab/tree/00_start_here.ipynb"), location
        # Run twice: the running server is reused, not a second one started.
        again = smtplab_cmd("notebooks", "--dir", str(target), "--no-browser", env=env, timeout=60)
        assert again.returncode == 0, again.stderr
        assert "already serving" in again.stdout
        assert f":{port}/lab/tree/00_start_here.ipynb?token=" in again.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_notebooks_copy_never_overwrites_learner_work(tmp_path: Path) -> None:
    from smtplab.notebooks import prepare

    target = prepare(tmp_path)
    mine = target / "00_start_here.ipynb"
    mine.write_text('{"my": "answers"}')
    prepare(tmp_path)
    assert mine.read_text() == '{"my": "answers"}'
    prepare(tmp_path, reset=True)
    assert "my" not in json.loads(mine.read_text())


# --- issue 11: nothing from data reaches the terminal raw (item 5) ----------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202egpj.exe\x9b31m"


def _lab_record_lines() -> list[str]:
    out = smtplab_cmd(
        "probe",
        "smtp.lab.example",
        "-p",
        "587",
        "--lab",
        "open-internet",
        "--json",
        "--timeout",
        "2",
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _assert_no_raw_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F]
    bad += [c for c in text if c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
    assert not bad, f"raw control characters printed: {bad!r}"


def test_show_prints_hostile_fields_as_visible_escapes(tmp_path: Path) -> None:
    rec = json.loads(_lab_record_lines()[0])
    rec["vantage"] = HOSTILE
    rec["banner"] = "220 " + HOSTILE
    rec["transcript"].append({"t": 99.0, "dir": "server", "text": "250 " + HOSTILE})
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    out = smtplab_cmd("show", str(path), "--transcript")
    assert out.returncode == 0, out.stderr
    _assert_no_raw_controls(out.stdout + out.stderr)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in out.stdout
    assert "\\u202e" in out.stdout


def test_errors_and_json_never_print_raw_controls(tmp_path: Path) -> None:
    missing = smtplab_cmd("show", str(tmp_path / f"no{HOSTILE}.jsonl"))
    assert missing.returncode == 2
    _assert_no_raw_controls(missing.stderr)
    assert "\\x1b" in missing.stderr
    scenario = smtplab_cmd("probe", "smtp.lab.example", "--lab", HOSTILE)
    assert scenario.returncode == 2
    _assert_no_raw_controls(scenario.stderr)
    # --json keeps the exact value, written as JSON escapes a terminal does not act on.
    from smtplab.cli.output import json_line

    rec = json.loads(_lab_record_lines()[0])
    rec["vantage"] = HOSTILE
    line = json_line(rec)
    _assert_no_raw_controls(line)
    assert json.loads(line)["vantage"] == HOSTILE


# --- issue 11 item 6: records first, then a quiet exit on a closed pipe ------------------------


def test_closed_pipe_loses_no_records_and_prints_no_traceback(tmp_path: Path) -> None:
    """`smtplab probe … --json --record F | head -1`, with the reader gone before we write."""
    out = tmp_path / "kept.jsonl"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has exited: every write now fails with EPIPE
    try:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "smtplab", "probe", "smtp.lab.example"),
                *("-p", "465,587", "--lab", "open-internet", "--json", "--timeout", "2"),
                *("--record", str(out)),
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 1  # the Python docs' recipe: exit 1, no message
    assert sorted(load_records(out)["port"]) == [465, 587]


def test_head_1_through_a_shell_pipe(tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    cmd = (
        f"{sys.executable} -m smtplab probe smtp.lab.example -p 25,465,587,2525 --timeout 1 "
        f"--lab home-isp --json --record {out} | head -c 10"
    )
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, timeout=120, check=False
    )
    assert len(proc.stdout) == 10
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(load_records(out)) == 4


# --- issue 11 item 8: one line and exit 2, results kept; item 10: no writing through links ------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable even for root (root ignores modes: use the immutable flag)."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    try:
        if os.geteuid() == 0:
            flag = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
            if flag.returncode != 0:
                pytest.skip("running as root where chattr +i is unavailable")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


LAB_PROBE = ("probe", "smtp.lab.example", "-p", "465,587", "--lab", "open-internet")


def test_record_to_dev_full_is_refused_before_probing() -> None:
    out = smtplab_cmd(*LAB_PROBE, "--json", "--record", "/dev/full", "--timeout", "2")
    _one_line_error(out, "/dev/full", "not a regular file")
    assert out.stdout == ""  # refused up front: nothing was probed, so nothing is lost


@contextlib.contextmanager
def nearly_full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on an 8 KiB tmpfs with one page left: an empty record file can be created (the
    up-front checks pass), but appending a few probes' records runs out of space."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mnt)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (mnt / "filler").write_bytes(b"x" * 4096)
        (mnt / "probes.jsonl").write_text("")
        yield mnt / "probes.jsonl"
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_record_to_a_full_disk_prints_results_and_says_where(tmp_path: Path) -> None:
    with nearly_full_disk(tmp_path) as path:
        as_json = smtplab_cmd(*LAB_PROBE, "--json", "--record", str(path), "--timeout", "2")
        _one_line_error(as_json, str(path), "no space left", "2 results", "standard output")
        assert [json.loads(x)["port"] for x in as_json.stdout.splitlines()] == [465, 587]
        table = smtplab_cmd(*LAB_PROBE, "--record", str(path), "--timeout", "2")
        _one_line_error(table, f"could not write {path}")
        assert "OUTCOME" in table.stdout and "587" in table.stdout


def test_record_to_a_read_only_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ro.jsonl"
    path.write_text("")
    with read_only(path):
        out = smtplab_cmd(*LAB_PROBE, "--json", "--record", str(path), "--timeout", "2")
        _one_line_error(out, str(path))
        merged = smtplab_cmd("merge", str(tmp_path / "in.jsonl"), "-o", str(path))
    assert merged.returncode == 2 and "Traceback" not in merged.stderr


@pytest.mark.parametrize("name", ["probes.jsonl.gz", "dataset.parquet"])
def test_record_refuses_gz_and_folders_before_probing(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".parquet"):
        path.mkdir()  # a partitioned Parquet dataset is a folder
    out = smtplab_cmd(*LAB_PROBE, "--record", str(path), "--timeout", "2")
    _one_line_error(out, "cannot record to", name)
    assert out.stdout == ""  # refused up front: nothing probed
    rec = smtplab_cmd("record", "smtp.lab.example", "--vantage", "x", "-o", str(path))
    _one_line_error(rec, "cannot record to")


def test_merge_output_errors_are_one_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(_lab_record_lines()[0] + "\n")
    for bad in (tmp_path / "out.jsonl.gz", Path("/dev/full")):
        out = smtplab_cmd("merge", str(src), "-o", str(bad), timeout=60)
        _one_line_error(out, str(bad))
    target = tmp_path / "ro.jsonl"
    target.write_text("")
    with read_only(target):
        out = smtplab_cmd("merge", str(src), "-o", str(target))
    _one_line_error(out, str(target))


def test_notebooks_refuses_bad_places_before_starting_jupyter(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    _one_line_error(smtplab_cmd("notebooks", "--dir", str(a_file), "--no-browser"), "is a file")
    _one_line_error(
        smtplab_cmd("notebooks", "--dir", str(tmp_path / "c"), "--port", "-1", "--no-browser"),
        "--port",
    )
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        out = smtplab_cmd("notebooks", "--dir", str(locked), "--no-browser")
    _one_line_error(out, "cannot write in", str(locked))


@pytest.mark.parametrize("dangling", [True, False])
def test_notebooks_never_write_through_planted_links(tmp_path: Path, dangling: bool) -> None:
    course = tmp_path / "course"
    course.mkdir()
    victim = tmp_path / ("missing.txt" if dangling else "victim.txt")
    if not dangling:
        victim.write_text("precious")
    (course / "03_submission_vs_relay.ipynb").symlink_to(victim)
    out = smtplab_cmd("notebooks", "--dir", str(course), "--no-browser", "--reset", "--yes")
    _one_line_error(out, "symbolic link", "03_submission_vs_relay.ipynb")
    assert victim.exists() is not dangling or victim.read_text() == "precious"
    assert not dangling or not victim.exists()
    assert not (course / "00_start_here.ipynb").exists()  # refused before writing anything
    link_dir = tmp_path / "elsewhere"
    link_dir.symlink_to(tmp_path / "nowhere")
    _one_line_error(smtplab_cmd("notebooks", "--dir", str(link_dir)), "symbolic link")
    assert not (tmp_path / "nowhere").exists()


# --- issue 16 start-up: a dated backup on --reset, reuse of a running server -------------------


def test_reset_keeps_a_dated_backup_of_what_it_replaces(tmp_path: Path) -> None:
    import datetime as dt

    from smtplab.notebooks import prepare, prepare_copy

    target = prepare(tmp_path)
    fresh = (target / "03_submission_vs_relay.ipynb").read_text()
    (target / "00_start_here.ipynb").write_text('{"my": "answers 00"}')
    (target / "03_submission_vs_relay.ipynb").write_text('{"my": "answers 03"}')
    when = dt.datetime(2026, 11, 30, 15, 30, 12)
    report = prepare_copy(tmp_path, reset=True, now=when)
    assert report.backup == tmp_path / "backup-2026-11-30T153012"  # visible in JupyterLab
    assert sorted(report.replaced) == ["00_start_here.ipynb", "03_submission_vs_relay.ipynb"]
    assert sorted(p.name for p in report.backup.iterdir()) == sorted(report.replaced)
    assert (report.backup / "00_start_here.ipynb").read_text() == '{"my": "answers 00"}'
    assert (target / "03_submission_vs_relay.ipynb").read_text() == fresh
    # Nothing differs any more: no new backup folder, the old one is left alone.
    again = prepare_copy(tmp_path, reset=True, now=when)
    assert again.backup is None and again.replaced == ()
    assert [p.name for p in tmp_path.glob("backup-*")] == ["backup-2026-11-30T153012"]
    # The same second twice never overwrites an earlier backup.
    (target / "00_start_here.ipynb").write_text('{"my": "second try"}')
    third = prepare_copy(tmp_path, reset=True, now=when)
    assert third.backup == tmp_path / "backup-2026-11-30T153012-2"


# --- issue 25: a safe --reset: per notebook, asks first, only what was edited, never under a tab -


def _run_only(path: Path) -> None:
    """What running a notebook does to it: outputs and execution counts, sources unchanged."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["execution_count"] = i + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran\n"]}]
    path.write_text(json.dumps(nb))


def _edit(path: Path, text: str) -> None:
    nb = json.loads(path.read_text())
    nb["cells"][-1]["source"] = [text]
    path.write_text(json.dumps(nb))


def test_reset_leaves_notebooks_that_were_only_run(tmp_path: Path) -> None:
    from smtplab.notebooks import prepare, prepare_copy

    target = prepare(tmp_path)
    _run_only(target / "01_ip_addresses_and_ports.ipynb")
    _edit(target / "02_an_smtp_conversation.ipynb", "my answer")
    ran = (target / "01_ip_addresses_and_ports.ipynb").read_text()
    report = prepare_copy(tmp_path, reset=True)
    assert report.replaced == ("02_an_smtp_conversation.ipynb",)
    assert (target / "01_ip_addresses_and_ports.ipynb").read_text() == ran  # outputs kept
    assert report.backup is not None
    assert "my answer" in (report.backup / "02_an_smtp_conversation.ipynb").read_text()


def test_reset_one_notebook_by_its_number(tmp_path: Path) -> None:
    course = tmp_path / "course"
    from smtplab.notebooks import prepare

    prepare(course)
    _edit(course / "05_tls_starttls_vs_implicit.ipynb", "mine 05")
    _edit(course / "09_choosing_your_port.ipynb", "mine 09")
    out = smtplab_cmd("notebooks", "--dir", str(course), "--reset", "05", "--yes")
    assert out.returncode == 0, out.stderr
    assert "Reset 1 notebook(s): 05_tls_starttls_vs_implicit.ipynb." in out.stdout, out.stderr
    assert "mine 05" not in (course / "05_tls_starttls_vs_implicit.ipynb").read_text()
    assert "mine 09" in (course / "09_choosing_your_port.ipynb").read_text()
    backups = list(course.glob("backup-*/05_tls_starttls_vs_implicit.ipynb"))
    assert len(backups) == 1 and "mine 05" in backups[0].read_text()
    bad = smtplab_cmd("notebooks", "--dir", str(course), "--reset", "99", "--yes")
    _one_line_error(bad, "'99' matches no notebook")


def test_reset_asks_first_and_never_silently(tmp_path: Path) -> None:
    from smtplab.notebooks import prepare

    course = prepare(tmp_path / "course")
    _edit(course / "05_tls_starttls_vs_implicit.ipynb", "mine 05")
    # No terminal to ask on and no --yes: refused in one line, nothing written.
    out = smtplab_cmd("notebooks", "--dir", str(course), "--reset", "--no-browser")
    _one_line_error(out, "add --yes")
    assert "mine 05" in (course / "05_tls_starttls_vs_implicit.ipynb").read_text()
    assert not list(course.glob("backup-*"))


def _runtime_file(runtime: Path, root: Path, pid: int, port: int = 8899) -> None:
    runtime.mkdir(parents=True, exist_ok=True)
    info = {
        "base_url": "/",
        "hostname": "127.0.0.1",
        "pid": pid,
        "port": port,
        "root_dir": str(root),
        "secure": False,
        "sock": "",
        "token": "t0ken",
        "url": f"http://127.0.0.1:{port}/",
        "version": "2.0.0",
    }
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


def test_running_server_for_the_same_folder_is_found(tmp_path: Path) -> None:
    from smtplab.notebooks import find_running_server

    runtime = tmp_path / "runtime"
    course = tmp_path / "course"
    course.mkdir()
    _runtime_file(runtime, tmp_path / "someone-else", os.getpid(), port=8800)
    assert find_running_server(course, str(runtime)) is None
    _runtime_file(runtime, course, os.getpid())
    found = find_running_server(course, str(runtime))
    assert found is not None
    assert found["start_url"] == "http://127.0.0.1:8899/lab/tree/00_start_here.ipynb?token=t0ken"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (runtime / f"jpserver-{os.getpid()}.json").unlink()
    _runtime_file(runtime, course, dead.pid)
    assert find_running_server(course, str(runtime)) is None  # its process is gone


def test_notebooks_twice_reuses_the_running_server(tmp_path: Path) -> None:
    """Given a live server's runtime file for the folder, no second JupyterLab starts."""
    runtime = tmp_path / "runtime"
    course = tmp_path / "course"
    _runtime_file(runtime, course, os.getpid())
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtplab", "notebooks", "--dir", str(course), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # it started a server after all: stop it, then fail
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    assert "already serving" in out
    assert "http://127.0.0.1:8899/lab/tree/00_start_here.ipynb?token=t0ken" in out
    assert (course / "00_start_here.ipynb").is_file()


def test_jupyter_is_asked_to_open_notebook_00(tmp_path: Path) -> None:
    from smtplab.notebooks import jupyter_command, prepare

    target = prepare(tmp_path)
    cmd = jupyter_command(target, open_browser=False, port=8890)
    assert "--LabApp.default_url=/lab/tree/00_start_here.ipynb" in cmd
    assert f"--ServerApp.root_dir={target}" in cmd and "--port=8890" in cmd


def _short_dir() -> str:
    return tempfile.mkdtemp(prefix="jr", dir="/tmp")


def _answers(url: str) -> bool:
    from labserver import http_get  # tests/labserver.py

    try:
        return http_get(url) == 200
    except OSError:
        return False


def test_kernels_talk_over_private_sockets_where_the_path_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smtplab.notebooks import jupyter_command

    short = _short_dir()  # as ~/.local/share/jupyter/runtime is for most user names
    try:
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", short)
        cmd = jupyter_command(tmp_path, open_browser=False, port=1)
        assert "--KernelManager.transport=ipc" in cmd
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", short + "/" + "x" * 50)  # too long a name
        cmd = jupyter_command(tmp_path, open_browser=False, port=1)
        assert "--KernelManager.transport=ipc" not in cmd
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_jupyterlab_as_launched_runs_a_kernel_without_a_warning(tmp_path: Path) -> None:
    """The launcher's own command line (``smtplab notebooks``, which ``start.py`` runs): a
    notebook opened in it gets a kernel that runs smtplab, and nothing in the terminal warns
    (ipykernel 7 printed "Kernel is running over TCP without encryption" there)."""
    from jupyter_client import BlockingKernelClient
    from labserver import free_port  # tests/labserver.py

    from smtplab.notebooks import jupyter_command, prepare

    course = prepare(tmp_path / "course")
    home, runtime = tmp_path / "jh", Path(_short_dir())  # pytest's own folders are too deep
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "IPYTHONDIR": str(home / "ipython"),
    }
    env.pop("PYTHONWARNINGS", None)
    port, token = free_port(), "t" * 32
    with pytest.MonkeyPatch.context() as mp:  # the launcher reads the runtime folder too
        mp.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
        cmd = jupyter_command(course, open_browser=False, port=port)
    cmd += ["--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.token={token}"]
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(
        cmd, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while not _answers(f"{base}/api/status?token={token}"):
            assert proc.poll() is None and time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.3)
        body = json.dumps(
            {"path": "00_start_here.ipynb", "type": "notebook", "name": "",
             "kernel": {"name": "python3"}}
        ).encode()  # fmt: skip
        req = urllib.request.Request(f"{base}/api/sessions?token={token}", data=body)
        with urllib.request.urlopen(req, timeout=60) as reply:
            kernel = json.loads(reply.read())["kernel"]["id"]
        client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel}.json"))
        client.load_connection_file()
        assert client.transport == "ipc"
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            said: list[str] = []
            reply = client.execute_interactive(
                "import smtplab; print(smtplab.__name__)",
                timeout=60,
                output_hook=lambda m: said.append(str(m["content"].get("text", ""))),
            )
        finally:
            client.stop_channels()
        assert reply["content"]["status"] == "ok" and "smtplab" in "".join(said)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)
    text = (tmp_path / "lab.log").read_text(errors="replace")
    assert "WARNING" not in text and "Traceback" not in text, text[-3000:]


def test_reset_refuses_a_notebook_open_in_jupyterlab(tmp_path: Path) -> None:
    """A real JupyterLab serves the copy with notebook 05 open (a session with its kernel):
    resetting 05 is refused in one line, nothing written; 09, not open, is reset with a word
    about tabs."""
    from labserver import JupyterLab  # tests/labserver.py

    from smtplab.notebooks import prepare

    course = prepare(tmp_path / "course")
    _edit(course / "05_tls_starttls_vs_implicit.ipynb", "mine 05")
    _edit(course / "09_choosing_your_port.ipynb", "mine 09")
    lab = JupyterLab(course)
    try:
        lab.wait_ready()
        body = json.dumps(
            {"path": "05_tls_starttls_vs_implicit.ipynb", "type": "notebook",
             "name": "", "kernel": {"name": "python3"}}
        ).encode()  # fmt: skip
        req = urllib.request.Request(
            f"{lab.base}/api/sessions?token={lab.token}", data=body, method="POST"
        )
        with urllib.request.urlopen(req, timeout=60) as reply:
            assert reply.status == 201
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(course / ".jupyter-test" / "runtime")}
        refused = smtplab_cmd("notebooks", "--dir", str(course), "--reset", "05", "--yes", env=env)
        _one_line_error(refused, "JupyterLab has 05_tls_starttls_vs_implicit.ipynb open")
        assert "mine 05" in (course / "05_tls_starttls_vs_implicit.ipynb").read_text()
        other = smtplab_cmd("notebooks", "--dir", str(course), "--reset", "09", "--yes", env=env)
        assert other.returncode == 0, other.stderr
        assert "JupyterLab is running on this folder" in other.stdout
        assert "mine 09" not in (course / "09_choosing_your_port.ipynb").read_text()
    finally:
        lab.stop()
