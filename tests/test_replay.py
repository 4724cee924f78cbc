"""Replay: recorded server lines go back through the same protocol core and give the same result."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import smtplab
from smtplab._paths import data_dir
from smtplab.records import load_records
from smtplab.replay import differences, replay

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
