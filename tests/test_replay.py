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
#: Records of schema version 2 (their events are sentences only), kept as the shipped
#: recordings were before version 3: the replay reads them by their words.
OLD_RECORDINGS = Path(__file__).parent / "data" / "recordings-v2.jsonl"


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


def test_replay_of_old_version_recordings_reads_their_words() -> None:
    """Version 2 records (events without kinds) still load and replay to the stored result,
    their sentences read once into kinds by the prose reader."""
    import json

    raw = [json.loads(x) for x in OLD_RECORDINGS.read_text(encoding="utf-8").splitlines()]
    assert {r["schema_version"] for r in raw} == {2} and len(raw) >= 20
    assert not any("kind" in x for r in raw for x in r["transcript"])
    df = load_records(OLD_RECORDINGS)
    assert set(df["schema_version"]) == {3}  # upgraded as read
    outcomes = set()
    for rec in df.to_dict("records"):
        r = replay(rec)
        assert differences(rec, r) == [], (rec["host"], rec["port"], rec["outcome"])
        outcomes.add(r.outcome)
    assert {"open", "filtered", "refused", "silent"} <= outcomes


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
    # Replay waits for what the server said, at its recorded time, counted from the first line
    # it paces (the connection, line 1); the client's last QUIT is sent at once.
    server = [i for i, line in enumerate(rec["transcript"]) if line["dir"] == "server"]
    span = 30.0 * (server[-1] - 1) / 1000
    assert span >= 0.15, rec["transcript"]  # long enough to tell paced from not
    t = time.monotonic()
    replay(rec, pace=2)
    assert time.monotonic() - t >= span / 2 * 0.9
    t = time.monotonic()
    replay(rec)
    assert time.monotonic() - t < span / 2


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


def test_live_and_replayed_wires_implement_one_narrow_interface() -> None:
    """A stream is five methods (httpcore's shape), live and recorded alike; the networks that
    open them implement one interface too."""
    from smtplab.engine.options import ProbeOptions
    from smtplab.engine.wire import LiveNetwork, LiveStream, Network, Stream
    from smtplab.replaying import RecordedNetwork, RecordedStream

    members = {n for n in vars(Stream) if not n.startswith("_")}
    assert members == {"read", "write", "start_tls", "close", "get_extra_info"}
    for cls in (LiveStream, RecordedStream):
        assert members <= set(dir(cls)), cls
    recorded = RecordedNetwork([])
    assert isinstance(recorded, Network)
    assert isinstance(LiveNetwork(ProbeOptions("mx.example", 25), lambda n: None), Network)
    assert isinstance(RecordedStream(recorded.cursor), Stream)


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
    recs = load_records(OLD_RECORDINGS).to_dict("records")
    rec = next(r for r in recs if r["outcome"] == "open" and r["tls_version"])
    v1 = {k: v for k, v in rec.items() if k not in NEW_IN_V2} | {"schema_version": 1}
    up = upgrade_record(v1)
    assert up["schema_version"] == 3 and all(up[k] is None for k in NEW_IN_V2)
    assert list(up["extensions"]) == list(v1["extensions"]) and upgrade_record(up) == up
    again = replay(up)
    assert differences(up, again) == [], (rec["host"], rec["port"])
    assert again.checks == tuple(rec["checks"])  # read from the transcript's wording


def test_load_records_reads_a_v1_file_and_upgrades_it(tmp_path: Path) -> None:
    import json

    rec = load_records(OLD_RECORDINGS).to_dict("records")[0]
    raw = json.loads(OLD_RECORDINGS.read_text(encoding="utf-8").splitlines()[0])
    v1 = {k: v for k, v in raw.items() if k not in NEW_IN_V2} | {"schema_version": 1}
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(v1) + "\n", encoding="utf-8")
    got = load_records(path).to_dict("records")[0]
    assert got["schema_version"] == 3 and got["probe_id"] == rec["probe_id"]
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


# --- events are data: the words may change, the replay may not (issue 22 #1) -------------------


def _reword_every_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event sentence in other words, keeping only its blanks."""
    import string

    from smtplab.engine import events

    for key, template in list(events.SENTENCES.items()):
        blanks = [f"{{{name}}}" for _, name, _, _ in string.Formatter().parse(template) if name]
        monkeypatch.setitem(events.SENTENCES, key, " ".join(["Zq event", key, *blanks]))


def _same_but_the_words(original: smtplab.ProbeResult | dict, again: smtplab.ProbeResult) -> None:
    """Every field equal; transcript lines equal but for the events' sentences."""
    rec = original.to_record() if isinstance(original, smtplab.ProbeResult) else original
    assert set(differences(rec, again)) <= {"transcript"}, differences(rec, again)
    a = [smtplab.TranscriptLine.from_dict(x) for x in rec["transcript"]]
    b = list(again.transcript)

    def shape(lines: list) -> tuple[list, list]:
        said = [(x.dir, x.text) for x in lines if x.dir != "event"]
        return said, [(x.kind, x.data) for x in lines if x.dir == "event"]

    assert shape(a) == shape(b)


def _lab_probes() -> list[smtplab.ProbeResult]:
    with smtplab.Lab(scenario="classroom") as lab:
        user, password = lab.credentials
        targets = [(e.host, e.port) for e in lab.endpoints]
        results = smtplab.probe_many(targets, lab=lab, timeout=1.5)
        results += [
            smtplab.probe("smtp.lab.example", 587, lab=lab, auth=(user, password), timeout=2),
            smtplab.probe("mx.lab.example", 25, lab=lab, relay_check=True, timeout=2),
            smtplab.probe(
                "smtp.lab.example", 587, lab=lab, tls_required_check=True, mode="starttls"
            ),
            smtplab.probe("nowhere.lab.example", 25, lab=lab, timeout=1),
        ]
    return results


def test_rewording_every_event_sentence_changes_no_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes recorded with the usual sentences replay, with every sentence reworded, to the
    same result: the replay dispatches on kinds and data and reads no word of an event. The
    shipped recordings (schema 3) go through the same test."""
    results = _lab_probes()
    shipped = [rec for path in RECORDINGS for rec in load_records(path).to_dict("records")]
    assert all(r["schema_version"] == 3 for r in shipped)
    kinds = {x.kind for r in results for x in r.transcript if x.dir == "event"}
    kinds |= {x["kind"] for r in shipped for x in r["transcript"] if x["dir"] == "event"}
    assert {"connect_failed", "greeting_timeout", "tls_established", "tls_race"} <= kinds, kinds
    assert {"cert_verdict", "check", "dns_failed", "retry", "retry_failed"} <= kinds, kinds
    _reword_every_sentence(monkeypatch)
    for original in [*results, *shipped]:
        again = replay(original)
        assert any("Zq event" in x.text for x in again.transcript if x.dir == "event")
        _same_but_the_words(original, again)


def test_live_and_replay_agree_whatever_the_sentences_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every sentence reworded, live probes and their replays are still equal, and a
    record whose event sentences were all replaced by nonsense replays to the same result
    (the issue's own experiment: "connect timed out" reworded must not steer anything)."""
    _reword_every_sentence(monkeypatch)
    results = _lab_probes()
    for r in results:
        again = replay(r)
        assert differences(r, again) == [], (r.transcript, again.transcript)
        rec = r.to_record()
        rec["transcript"] = [
            {**x, "text": "nonsense"} if x["dir"] == "event" else x for x in rec["transcript"]
        ]
        _same_but_the_words(r, replay(rec))
