"""Replay: recorded server lines go back through the same protocol core and give the same result."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import smtplab
from smtplab._paths import data_dir
from smtplab.records import load_records
from smtplab.replaying import NEW_IN_V2, differences, replay
from smtplab.schema import upgrade_record

RECORDINGS = sorted((data_dir() / "recordings").glob("*.jsonl"))


def test_shipped_recordings_exist() -> None:
    names = {p.stem for p in RECORDINGS}
    assert set(smtplab.scenarios()) <= names
    assert (data_dir() / "classroom.jsonl").is_file()


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_replay_of_every_shipped_recording_equals_the_stored_result(path: Path) -> None:
    df = load_records(path)
    assert len(df) > 0
    for rec in df.to_dict("records"):
        r = replay(rec)
        assert differences(rec, r) == [], (rec["host"], rec["port"], rec["outcome"])
        assert r.probe_id == rec["probe_id"]


def test_replay_of_fresh_lab_probes_including_auth_and_relay_check() -> None:
    with smtplab.Lab(scenario="classroom") as lab:
        user, password = lab.credentials
        results = [
            smtplab.probe("smtp.lab.example", 587, lab=lab, auth=(user, password), timeout=2),
            smtplab.probe("smtp.lab.example", 465, lab=lab, auth=(user, "wrong"), timeout=2),
            smtplab.probe("mx.lab.example", 25, lab=lab, relay_check=True, timeout=2),
            smtplab.probe("smtp.lab.example", 587, lab=lab, mode="tls", timeout=2),
            smtplab.probe("selfsigned.lab.example", 587, lab=lab, timeout=2),
        ]
    for r in results:
        again = replay(r)
        assert differences(r, again) == [], (r.host, r.port)
        assert password not in str(again.to_record())


def test_a_tampered_recording_is_detected() -> None:
    rec = load_records(RECORDINGS[0]).to_dict("records")
    rec = next(r for r in rec if r["outcome"] == "open" and len(r["auth_after_tls"] or []) > 0)
    tampered = dict(rec)
    tampered["transcript"] = [
        {**line, "text": line["text"].replace("AUTH ", "AUTH CRAM-MD5 ")}
        if line["dir"] == "server"
        else line
        for line in rec["transcript"]
    ]
    assert "auth_after_tls" in differences(tampered, replay(tampered))


def test_replay_can_be_paced_by_the_recorded_timings() -> None:
    rec = load_records(RECORDINGS[0]).to_dict("records")
    rec = dict(next(r for r in rec if r["outcome"] == "open"))
    rec["transcript"] = [{**line, "t": 30.0 * i} for i, line in enumerate(rec["transcript"])]
    last = 30.0 * (len(rec["transcript"]) - 1) / 1000
    t = time.monotonic()
    replay(rec, pace=2)
    assert time.monotonic() - t >= last / 2 * 0.9
    t = time.monotonic()
    replay(rec)
    assert time.monotonic() - t < last / 2


# --- the seams: one Wire interface, no private reach-through, no shadowed name (issue 15 #7) ---


def test_replay_stays_callable_after_importing_its_module() -> None:
    """In a fresh interpreter, importing the module `smtplab.replaying` (for `differences`)
    leaves `smtplab.replay` the function."""
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    code = (
        "import smtplab\n"
        "from smtplab.replaying import differences\n"
        "import smtplab.replaying\n"
        "rec = {'host': 'mx.example', 'port': 25, 'outcome': 'refused', 'transcript': ["
        "{'t': 0, 'dir': 'event', 'text': 'connecting to 127.0.0.1 port 25'},"
        "{'t': 1, 'dir': 'event', 'text': 'connection refused'}]}\n"
        "r = smtplab.replay(rec)\n"
        "assert smtplab.replay_record is smtplab.replay\n"
        "print(r.outcome, differences(rec, r) == [] or differences(rec, r))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "refused"


def test_live_and_replayed_wires_implement_one_interface() -> None:
    from smtplab.engine.options import ProbeOptions
    from smtplab.engine.result import ProbeState
    from smtplab.engine.wire import LiveWire, Wire
    from smtplab.replaying import _RecordedWire

    st = ProbeState(ProbeOptions("mx.example", 25))
    assert isinstance(LiveWire(st), Wire)
    assert isinstance(_RecordedWire({"port": 25}, [], None)(st), Wire)


def test_replay_uses_no_private_name_of_the_engine() -> None:
    """Replay talks to the engine through its public seams only, and the live engine knows
    nothing of replay (no hooks for recorded outcomes or recorded resolvers)."""
    import ast

    import smtplab.replaying as replay_module

    tree = ast.parse(Path(replay_module.__file__).read_text(encoding="utf-8"))
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smtplab.engine")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []
    assert "_engine" not in replay_module.__dict__
    engine = Path(smtplab.__file__).parent / "engine"
    for path in engine.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for hook in ("recorded_outcome", "hasattr(self.make_wire", "smtplab.replaying import"):
            assert hook not in text, (path.name, hook)


def test_a_v1_record_is_upgraded_and_still_replays() -> None:
    """Schema v1 → v2: the fields v2 added were not recorded then (None, never guessed), the
    extensions stay as they were, and the replay reads the options from the v1 transcript."""
    recs = load_records(RECORDINGS[0]).to_dict("records")
    rec = next(r for r in recs if r["outcome"] == "open" and r["tls_version"])
    v1 = {k: v for k, v in rec.items() if k not in NEW_IN_V2} | {"schema_version": 1}
    up = upgrade_record(v1)
    assert up["schema_version"] == 2 and all(up[k] is None for k in NEW_IN_V2)
    assert list(up["extensions"]) == list(v1["extensions"]) and upgrade_record(up) == up
    again = replay(up)
    assert differences(up, again) == [], (rec["host"], rec["port"])
    assert again.checks == tuple(rec["checks"])  # read from the transcript's wording


def test_load_records_reads_a_v1_file_and_upgrades_it(tmp_path: Path) -> None:
    import json

    rec = load_records(RECORDINGS[0]).to_dict("records")[0]
    raw = json.loads(RECORDINGS[0].read_text(encoding="utf-8").splitlines()[0])
    v1 = {k: v for k, v in raw.items() if k not in NEW_IN_V2} | {"schema_version": 1}
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(v1) + "\n", encoding="utf-8")
    got = load_records(path).to_dict("records")[0]
    assert got["schema_version"] == 2 and got["probe_id"] == rec["probe_id"]
    assert all(got[k] is None or got[k] != got[k] for k in NEW_IN_V2)  # None, or NaN in a frame
    assert list(got["extensions"]) == list(v1["extensions"])


def test_replay_takes_the_options_from_the_record_not_its_wording() -> None:
    """A v2 record says what the probe was asked (timeout, deadline, checks): a replay needs
    no sentence of the transcript for it, so rewording the events changes nothing it does."""
    with smtplab.Lab(scenario="classroom") as lab:
        r = smtplab.probe(
            "smtp.lab.example", 587, lab=lab, relay_check=True, tls_required_check=True, timeout=2
        )
    assert r.checks == ("verify", "relay", "tls_required") and r.timeout == 2.0
    rec = r.to_record()
    rec["transcript"] = [
        {**x, "text": "(reworded)"} if x["dir"] == "event" and "check:" in x["text"] else x
        for x in rec["transcript"]
    ]
    again = replay(rec)
    assert (again.timeout, again.deadline, again.checks) == (r.timeout, r.deadline, r.checks)
    assert again.relay_check == r.relay_check
    assert [f.code for f in again.findings] == [f.code for f in r.findings]
    assert differences(rec, again) == ["transcript"]  # only the rewording itself


def test_live_records_keep_extensions_as_sent() -> None:
    """data/README.md's promise: extensions as sent (``SIZE 35882577``), live as imported."""
    with smtplab.Lab(scenario="classroom") as lab:
        r = smtplab.probe("smtp.lab.example", 587, lab=lab, timeout=2)
    sent = [x.text[4:] for x in r.transcript if x.dir == "server" and x.text.startswith("250")]
    assert r.size_limit is not None and f"SIZE {r.size_limit}" in r.extensions
    assert set(r.extensions) <= set(sent)
    assert "SIZE" in r.extension_keywords and r.starttls_offered  # (the list is after TLS)
