"""The class collector, for real: uvicorn on loopback, learners as `smtplab record --share`
processes probing the lab, the page read in Debian's Chromium, and what a classroom's
misbehaviour sends (wrong codes, floods, bad records, markup in every field)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtplab.classroom.app import Limits
from smtplab.classroom.server import ClassServer
from smtplab.classroom.share import scrub

CHROMIUM = Path("/usr/bin/chromium")


def call(
    server: ClassServer, path: str, body: Any = None, *, key: bool = False, raw: bytes | None = None
) -> tuple[int, Any]:
    url = f"{server.url}{path}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("X-Teacher-Key", server.session.teacher_key)
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            text = reply.read()
            status = reply.status
    except urllib.error.HTTPError as exc:
        text, status = exc.read(), exc.code
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode("utf-8", "replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ClassServer]:
    from smtplab.charts.classview import class_heatmap

    limits = Limits(rate=50, per_learner=40)
    with ClassServer(tmp_path / "class", limits=limits, chart=class_heatmap) as running:
        yield running


def join(server: ClassServer, label: str) -> str:
    status, reply = call(server, "/api/join", {"code": server.session.code, "label": label})
    assert status == 200, reply
    return str(reply["learner"])


def lab_records(scenario: str, vantage: str) -> list[dict[str, Any]]:
    import smtplab

    with smtplab.Lab(scenario=scenario) as lab:
        results = smtplab.probe_many(
            [("smtp.lab.example", p) for p in (25, 465, 587, 2525)],
            lab=lab,
            timeout=1,
            vantage=vantage,
        )
    return [r.to_record() for r in results]


def test_learners_share_from_the_command_and_the_teacher_sees_the_pattern(
    server: ClassServer, tmp_path: Path
) -> None:
    mine = tmp_path / "home.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "smtplab", "record", "smtp.lab.example", "--lab", "home-isp",
         "--timeout", "1", "--vantage", "home broadband", "-o", str(mine),
         "--share", server.url, "--code", server.session.code, "--yes"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "To share with the class" in done.stdout  # shown before it is sent
    assert "Shared 4 of 4 record(s) with the class." in done.stdout
    assert len(mine.read_text().splitlines()) == 4  # kept locally too
    hotel = join(server, "hotel wifi")
    status, reply = call(
        server, "/api/records", {"learner": hotel, "records": lab_records("hotel-wifi", "x")}
    )
    assert status == 200 and reply["accepted"] == 4, reply
    status, s = call(server, "/api/summary", key=True)
    assert status == 200
    cells = {(g["label"], g["port"]): g["word"] for g in s["grid"]}
    assert cells["home broadband", 25] == "filtered"
    assert cells["home broadband", 587] == "open"
    assert cells["hotel wifi", 25] == "intercepted"  # answered, but never "open"
    assert cells["hotel wifi", 587] == "filtered"
    assert s["blocks_25"] == ["home broadband", "hotel wifi"]
    answers = {(d["label"], d["port"]): d["answer"] for d in s["diagnosis"]}
    assert answers["hotel wifi", 587].startswith("your network: home broadband reached it")
    assert answers["home broadband", 25].startswith("the server, or every network tried")
    advice = {a["label"]: a["port"] for a in s["advice"]}
    assert advice["hotel wifi"] in (465, 2525) and advice["home broadband"] in (465, 587, 2525)
    # the heat map, as an image with its alt text in words
    assert "hotel wifi: port 25 intercepted" in s["chart_alt"]
    status, svg = call(server, "/api/chart.svg", key=True)
    assert status == 200 and "<svg" in svg and "intercepted" in svg
    assert call(server, "/api/chart.svg")[0] == 403


def test_exports_read_back_with_load_records(server: ClassServer, tmp_path: Path) -> None:
    import smtplab

    learner = join(server, "campus")
    call(server, "/api/records", {"learner": learner, "records": lab_records("open-internet", "x")})
    status, text = call(server, "/api/export.jsonl", key=True)
    assert status == 200
    path = tmp_path / "class.jsonl"
    path.write_text(text if isinstance(text, str) else "".join(json.dumps(text) + "\n"))
    df = smtplab.load_records(path)
    assert len(df) == 4 and set(df["vantage"]) == {"campus"}
    req = urllib.request.Request(
        f"{server.url}/api/export.parquet?key={server.session.teacher_key}"
    )
    with urllib.request.urlopen(req, timeout=30) as reply:
        (tmp_path / "class.parquet").write_bytes(reply.read())
    assert len(smtplab.load_records(tmp_path / "class.parquet")) == 4
    assert call(server, "/api/export.jsonl")[0] == 403  # not without the teacher's key


def test_the_join_code_is_required_and_new_each_session(tmp_path: Path) -> None:
    with ClassServer(tmp_path / "a") as one, ClassServer(tmp_path / "b") as two:
        assert one.session.code != two.session.code  # a new code each session
        status, reply = call(one, "/api/join", {"code": "WRONG1", "label": "home"})
        assert status == 403 and "wrong join code" in reply["error"]
        learner = join(one, "home")
        status, reply = call(two, "/api/records", {"learner": learner, "records": []})
        assert status == 403 and "join the class first" in reply["error"]


def test_a_bad_record_is_refused_with_its_reason_and_the_rest_kept(server: ClassServer) -> None:
    learner = join(server, "home")
    good = lab_records("open-internet", "x")[:2]
    bad_port = {**good[0], "port": "smtp"}
    bad_outcome = {**good[1], "outcome": "<script>alert(1)</script>"}
    status, reply = call(
        server, "/api/records", {"learner": learner, "records": [good[0], bad_port, bad_outcome]}
    )
    assert status == 200 and reply["accepted"] == 1
    reasons = dict(reply["refused"])
    assert set(reasons) == {1, 2}
    assert "port" in reasons[1] and "outcome" in reasons[2]
    assert server.store.count() == 1


def test_sizes_rates_and_counts_are_bounded(tmp_path: Path) -> None:
    limits = Limits(body_bytes=50_000, batch=3, per_learner=5, rate=3, joins_per_minute=3)
    with ClassServer(tmp_path / "c", limits=limits) as server:
        learner = join(server, "home")
        status, reply = call(server, "/api/records", raw=b'{"learner": "' + b"x" * 60_000 + b'"}')
        assert status == 413, reply
        recs = lab_records("open-internet", "x")
        status, reply = call(server, "/api/records", {"learner": learner, "records": recs})
        assert status == 413 and "at most 3" in reply["error"]
        seen = [call(server, "/api/records", {"learner": learner, "records": recs[:3]})
                for _ in range(6)]  # fmt: skip
        # three requests a second, one spent on the batch refused above: two pass (3, then 2
        # of 3 records), then 429s
        assert [status for status, _ in seen[:2]] == [200, 200]
        assert seen[0][1]["accepted"] == 3 and seen[1][1]["accepted"] == 2
        assert seen[1][1]["refused"] == [[2, "this learner already has 5 records"]]
        assert any(status == 429 for status, _ in seen[2:])
        assert server.store.count() == 5  # never past the per-learner bound
        joins = [call(server, "/api/join", {"code": server.session.code, "label": f"n{i}"})[0]
                 for i in range(3)]  # fmt: skip
        assert 429 in joins  # three joins a minute, one already used


@pytest.mark.parametrize(
    "label,why",
    [("", "empty"), ("x" * 61, "at most 60"), ("home\x1b[2J", "control characters")],
)
def test_labels_are_checked(server: ClassServer, label: str, why: str) -> None:
    status, reply = call(server, "/api/join", {"code": server.session.code, "label": label})
    assert status == 400 and why in reply["error"]


def test_no_learner_address_is_stored_or_shown(server: ClassServer) -> None:
    rec = lab_records("open-internet", "x")[2]
    rec["banner"] = "smtp.lab.example ESMTP hello [203.0.113.9]"
    rec["transcript"] = [
        *rec["transcript"],
        {"t": 0.1, "dir": "client", "text": "EHLO [198.51.100.7]"},
        {"t": 0.2, "dir": "server", "text": "250-smtp.lab.example Hello 2001:db8::7"},
    ]
    assert "198.51.100.7" not in json.dumps(scrub(rec))
    learner = join(server, "home")
    call(server, "/api/records", {"learner": learner, "records": [rec]})
    stored = json.dumps(list(server.store.records()))
    for address in ("203.0.113.9", "198.51.100.7", "2001:db8::7"):
        assert address not in stored
    assert str(rec["address"]) in stored  # the server's own address stays
    assert "127.0.0.1" not in stored.replace(str(rec["address"]), "")  # nor the client's


def test_the_teacher_deletes_one_learner_or_the_class(server: ClassServer) -> None:
    a, b = join(server, "a"), join(server, "b")
    recs = lab_records("open-internet", "x")
    for learner in (a, b):
        call(server, "/api/records", {"learner": learner, "records": recs})
    assert call(server, f"/api/learners/{a}/delete", {})[0] == 403
    status, reply = call(server, f"/api/learners/{a}/delete", {}, key=True)
    assert status == 200 and reply["deleted"] == 4
    assert {lr.label for lr in server.store.learners()} == {"b"}
    status, reply = call(server, "/api/delete-all", {}, key=True)
    assert reply["deleted"] == 4 and server.store.count() == 0


@pytest.mark.browser
def test_markup_in_every_field_is_shown_as_text_in_chromium(
    server: ClassServer, tmp_path: Path
) -> None:
    evil = '<img src=x onerror="document.title=1">'
    learner = join(server, evil)
    recs = lab_records("open-internet", "x")
    for r in recs:
        r["host"] = f"{evil}.example"
        r["banner"] = evil
    call(server, "/api/records", {"learner": learner, "records": recs})
    if not CHROMIUM.exists() and os.environ.get("SMTPLAB_REQUIRE_PEERS"):
        pytest.fail("Debian's chromium is missing")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=8000",
         "--dump-dom", f"{server.url}/?key={server.session.teacher_key}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    dom = done.stdout
    assert "probe records from 1 networks" in dom, dom[-2000:]
    # no element was made from learners' text: the one image is the page's own chart
    assert dom.count("<img") == 1 and '<img id="chart"' in dom
    assert "&lt;img src=x" in dom  # it is shown, as text
    assert "<title>smtplab class</title>" in dom  # the onerror never ran


def test_the_class_ca_stays_the_same_from_one_lesson_to_the_next(tmp_path: Path) -> None:
    """``class serve --https`` in two sessions (two processes) on the same folder: learners keep
    the CA file they were given; the service certificate is new each time, the CA is not."""
    code = (
        "import sys; from pathlib import Path; "
        "from smtplab.classroom.server import lab_ca_certificate as make; "
        "cert, key, ca = make(Path(sys.argv[1]), ['127.0.0.1']); "
        "print(ca.read_text() + cert.read_text())"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "class")],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        for _ in range(2)
    ]  # fmt: skip
    first_ca, second_ca = (r.split("-----END CERTIFICATE-----")[0] for r in runs)
    assert "BEGIN CERTIFICATE" in first_ca and first_ca == second_ca
    assert runs[0] != runs[1]  # a new service certificate each session, from the same CA


def test_https_with_the_labs_ca_verifies_and_refuses_without_it(tmp_path: Path) -> None:
    from smtplab.classroom.server import lab_ca_certificate
    from smtplab.classroom.share import ShareError, send

    cert, key, ca = lab_ca_certificate(tmp_path / "class", ["127.0.0.1", "localhost"])
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    with ClassServer(tmp_path / "class", tls=(cert, key)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        recs = lab_records("open-internet", "x")
        report = send(recs, address=server.url, code=server.session.code, label="home",
                      cafile=str(ca))  # fmt: skip
        assert report.accepted == 4
        with pytest.raises(ShareError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            send(recs, address=server.url, code=server.session.code, label="away")
        mine = tmp_path / "mine.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "smtplab", "record", "smtp.lab.example", "--lab",
             "open-internet", "--timeout", "1", "--vantage", "campus", "-o", str(mine),
             "--share", server.url, "--code", server.session.code, "--yes",
             "--class-ca", str(ca)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Shared 4 of 4 record(s)" in done.stdout
        assert server.store.count() == 8


@pytest.mark.browser
def test_the_teacher_forgets_a_learner_and_the_class_from_the_page(server: ClassServer) -> None:
    from playwright.sync_api import sync_playwright

    a, b = join(server, "alice's phone"), join(server, "campus")
    recs = lab_records("open-internet", "x")
    for learner in (a, b):
        call(server, "/api/records", {"learner": learner, "records": recs})
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{server.url}/?key={server.session.teacher_key}")
            page.wait_for_function(
                "() => document.getElementById('learners').children.length === 2"
            )
            page.get_by_role("button", name="Forget alice's phone").click()
            page.wait_for_function(
                "() => document.getElementById('learners').children.length === 1"
            )
            assert {lr.label for lr in server.store.learners()} == {"campus"}
            page.click("#forget-all")
            page.wait_for_function(
                "() => document.getElementById('learners').children.length === 0"
            )
            assert server.store.count() == 0
        finally:
            browser.close()
