"""``smtplab doctor``: against the lab, with bad arguments, with records from other networks, and
on a real network made of Linux network namespaces and iptables rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netns import (
    NAME,
    Namespace,
    hosts,
    inside,
    namespace,
    namespaces,
    process,
    run,
    skip_reason,
    veth,
    wait_ready,
)

import smtplab
from smtplab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_hotel_wifi_text_puts_the_settings_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "smtp.lab.example", "--lab", "hotel-wifi", "--timeout", "1")
    assert code == 0
    settings = out.split("Port by port:")[0]
    assert "Provider: smtplab lab (guessed from the host name)." in out
    assert "Server (outgoing, SMTP)  smtp.lab.example" in settings
    assert "Port                     465" in settings
    assert "Security                 SSL/TLS (implicit TLS)" in settings
    assert "User name                student" in settings
    assert "If that fails, try:\n  2525 with STARTTLS" in out
    verdicts = " ".join(out.split("Port by port:")[1].split())  # as one line, whatever the wrap
    assert "25 intercepted Port 25 answered (open), greeting as smtp.isp-filter.example" in (
        verdicts
    )
    assert "587 blocked here Port 587 came back filtered" in verdicts


def test_json_is_one_object_with_the_promised_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(
        capsys, "smtp.lab.example", "--lab", "campus-dpi", "--json", "--timeout", "1"
    )
    assert code == 0 and len(out.strip().splitlines()) == 1
    d = json.loads(out)
    assert {"host", "purpose", "recommended", "fallbacks", "ports"} <= set(d)
    assert d["host"] == "smtp.lab.example" and d["purpose"] == "mail-client"
    assert {"port", "security", "auth"} <= set(d["recommended"])
    assert (d["recommended"]["port"], d["recommended"]["security"]) == (465, "implicit")
    ports = {p["port"]: p for p in d["ports"]}
    assert ports[587]["verdict"] == ports[2525]["verdict"] == "unsafe"
    assert "XXXXXXXA" in ports[587]["evidence"] and d["fallbacks"] == []


def test_nothing_safe_still_exits_0_and_says_what_to_try(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = doctor(
        capsys, "mx.lab.example", "--lab", "hotel-wifi", "--purpose", "mail-server", "--json"
    )
    d = json.loads(out)
    assert code == 0 and d["recommended"] is None and d["confidence"] == "low"
    assert {p["port"]: p["verdict"] for p in d["ports"]}[25] == "intercepted"
    assert any("smarthost" in s for s in d["next_steps"])


def test_provider_extra_ports_are_probed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(
        capsys,
        "smtp.lab.example",
        "--lab",
        "strict-firewall",
        "--provider",
        "Amazon SES",
        "--json",
        "--timeout",
        "1",
    )
    d = json.loads(out)
    assert code == 0 and d["provider"] == "Amazon SES"
    assert [p["port"] for p in d["ports"]] == [25, 465, 587, 2465, 2525, 2587]
    assert d["recommended"]["port"] == 465
    # SES's login facts come with it
    assert d["recommended"]["auth"] == smtplab.advice.provider_facts("Amazon SES").login


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--purpose", "pigeon"], "--purpose must be one of"),
        (["--provider", "No Such Mail"], "unknown provider"),
        (["--lab", "moon-base"], "unknown lab scenario"),
        (["--timeout", "soon"], "must be a number of seconds"),
        (["--timeout", "0"], "between 0.05 and 600"),
        (["--compare", "/nonexistent/records.jsonl"], "--compare /nonexistent/records.jsonl: no "),
        (["--compare", "/dev/zero"], "/dev/zero: is a device, pipe or socket; give a record file"),
        (["--compare", "/"], "--compare /: is a folder; give a record file"),
        (["--compare", __file__], "not valid JSON"),
        (["--cafile", "/"], "--cafile /: is a folder; give a PEM file"),
        (["--cafile", "/dev/zero"], "--cafile /dev/zero: is a device, pipe or socket; give a PEM"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    code, out, err = doctor(capsys, "smtp.lab.example", *args)
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_compare_answers_server_or_my_network(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "office.jsonl"
    with smtplab.Lab("open-internet") as lab:
        results = smtplab.probe_many(
            [("smtp.lab.example", p) for p in (25, 465, 587, 2525)], lab=lab, timeout=1
        )
    smtplab.save_records(results, elsewhere)
    code, out, _ = doctor(
        capsys,
        "smtp.lab.example",
        "--lab",
        "hotel-wifi",
        "--compare",
        str(elsewhere),
        "--json",
        "--timeout",
        "1",
    )
    d = json.loads(out)
    ports = {p["port"]: p for p in d["ports"]}
    assert code == 0 and d["vantage"] == "lab:hotel-wifi"
    assert ports[587]["elsewhere"].startswith("From elsewhere (vantage lab:open-internet), not ")
    assert "port 587 answers cleanly there" in ports[587]["elsewhere"]
    assert "your network" in ports[587]["elsewhere"]
    assert ports[587]["elsewhere_vantages"] == ["lab:open-internet"]
    assert d["compared"] == [
        {"file": str(elsewhere), "records": 4, "vantages": ["lab:open-internet"],
         "measured_here": False}
    ]  # fmt: skip
    assert ports[465]["elsewhere"] is None


def _forged(path: Path, host: str, vantage: str, ports: tuple[int, ...] = (587,)) -> None:
    """A record file claiming, under ``vantage``, that ``ports`` answer perfectly."""
    from smtplab.schema import empty_record

    smtplab.save_records(
        [
            empty_record(
                probe_id=f"forged-{port}",
                started_at="2026-12-01T00:00:00Z",
                vantage=vantage,
                host=host,
                port=port,
                outcome="open",
                banner=f"{host} ESMTP",
                banner_code=220,
                tls_mode="starttls",
                tls_version="TLSv1.3",
                starttls_offered=True,
                cert_verified=True,
                auth_before_tls=[],
                auth_after_tls=["PLAIN", "LOGIN"],
            )
            for port in ports
        ],
        path,
    )


def test_a_forged_record_with_the_live_label_does_not_replace_the_measurement(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The finding: on the hotel network a dropped 587 was shown as "works" because a
    ``--compare`` record carried the live vantage label. It adds a sentence, said as coming
    from elsewhere, and changes no verdict."""
    forged = tmp_path / "forged.jsonl"
    _forged(forged, "smtp.lab.example", "lab:hotel-wifi", (25, 587))
    args = ["smtp.lab.example", "--lab", "hotel-wifi", "--timeout", "1", "--compare", str(forged)]
    code, out, _ = doctor(capsys, *args, "--json")
    d = json.loads(out)
    ports = {p["port"]: p for p in d["ports"]}
    assert code == 0 and d["vantage"] == "lab:hotel-wifi"
    assert ports[587]["verdict"] == "blocked here" and ports[587]["outcome"] == "filtered"
    assert ports[25]["verdict"] == "intercepted"
    assert ports[587]["elsewhere"].startswith("From elsewhere (vantage lab:hotel-wifi), not ")
    assert ports[587]["elsewhere_vantages"] == ["lab:hotel-wifi"]
    assert d["recommended"]["port"] == 465
    assert [f["port"] for f in d["fallbacks"]] == [2525]
    assert d["compared"][0]["measured_here"] is False
    code, out, _ = doctor(capsys, *args)
    assert code == 0
    said = " ".join(out.split())  # as one line, whatever the wrapping
    assert "587 blocked here Port 587 came back filtered" in said
    assert "From elsewhere (vantage lab:hotel-wifi), not measured here" in said
    assert "a file can copy the label lab:hotel-wifi: only this run measures here" in said


# --------------------------------------------------------------------------- a real network
# --------------------------------------------------------------------------- a real network

SERVER = r"""
import asyncio, sys
from aiosmtpd.smtp import SMTP, AuthResult
from smtplab.lab import certs

ADDR, REAL, FAKE = sys.argv[2], "mail.test.example", "mail.impostor.example"
with open(sys.argv[1], "w") as f:
    f.write(certs.ca_pem())

class Handler:
    pass

def refuse(*args):
    return AuthResult(success=False, handled=False)

def smtp(name, ctx, implicit=False):
    return lambda: SMTP(
        Handler(), hostname=name, tls_context=None if implicit else ctx,
        auth_require_tls=not implicit, authenticator=refuse,
    )

async def main():
    loop = asyncio.get_running_loop()
    real, fake = certs.server_context(REAL), certs.server_context(FAKE)
    await loop.create_server(smtp(REAL, real), ADDR, 25)
    await loop.create_server(smtp(REAL, real), ADDR, 587)
    await loop.create_server(smtp(REAL, real, implicit=True), ADDR, 465, ssl=real)
    # the hotel gateway's own server: another name, another certificate
    await loop.create_server(smtp(FAKE, fake), ADDR, 2500)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture
def hotel_network(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two namespaces: a laptop, and a hotel gateway that also hosts the real mail server.

    The gateway DROPs 587 and REDIRECTs 25 to its own impostor server (another name, another
    certificate). Addresses exist only inside these namespaces.
    """
    reason = skip_reason(iptables=True)
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    laptop, gateway = f"slc{tag}", f"slg{tag}"
    with namespaces(laptop, gateway):
        veth(laptop, f"vc{tag}", "10.231.0.1", gateway, f"vg{tag}", "10.231.0.2")
        g = inside(gateway, "iptables")
        run(*g, "-A", "INPUT", "-p", "tcp", "--dport", "587", "-j", "DROP")
        run(*g, "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "25",
            "-j", "REDIRECT", "--to-ports", "2500")  # fmt: skip
        hosts(laptop, "10.231.0.2 mail.test.example\n127.0.0.1 localhost\n")
        ca = tmp_path / "ca.pem"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = inside(gateway, sys.executable, "-c", SERVER, str(ca), "10.231.0.2")
        with process(server, env) as proc:
            wait_ready(proc, 20)
            yield {"laptop": laptop, "ca": ca, "env": env}


def test_doctor_on_a_real_network_with_iptables(hotel_network: dict[str, Any]) -> None:
    net = hotel_network
    cmd = ["ip", "netns", "exec", net["laptop"], sys.executable, "-m", "smtplab", "doctor"]
    cmd += ["mail.test.example", "--json", "--timeout", "2", "--cafile", str(net["ca"])]
    done = subprocess.run(
        cmd, check=False, capture_output=True, text=True, timeout=120, env=net["env"]
    )
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    ports = {p["port"]: p for p in d["ports"]}
    assert d["recommended"]["port"] == 465 and d["recommended"]["security"] == "implicit"
    assert ports[25]["verdict"] == "intercepted", ports[25]
    assert "mail.impostor.example" in ports[25]["evidence"]
    assert "not valid" in ports[25]["evidence"]
    assert ports[587]["verdict"] == "blocked here" and ports[587]["outcome"] == "filtered"
    assert ports[465]["verdict"] == "works"
    assert d["fallbacks"] == []  # 2525 is closed and documented by no one


# --------------------------------------------------------------------------- hostile networks
# The doctor probes the real port numbers, so these servers run on the loopback of a network
# namespace of the test's own (tests/netns.py): nothing there can reach any other address.

#: Characters that would paint a terminal or reorder text: C0 (but newline) and C1 controls, DEL,
#: bidirectional marks, embeddings, overrides and isolates.
BIDI = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))}
BIDI |= set(map(chr, range(0x2066, 0x206A)))
HOSTILE = "\x1b]0;owned\x07\x1b[2J\u009b31m\u202e"


def unreadable(text: str) -> list[str]:
    return [c for c in text if (unicodedata.category(c) == "Cc" and c != "\n") or c in BIDI]


def doctor_in(ns: Namespace, *args: str) -> tuple[int, str, str]:
    cmd = [sys.executable, "-m", "smtplab", "doctor", NAME, "--timeout", "2"]
    done = ns.run([*cmd, "--cafile", ns.cafile, *args])
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


def test_a_forged_record_cannot_outrank_an_interceptor(tmp_path: Path) -> None:
    """The finding: every port behind an interceptor with a self-signed certificate, and one
    forged ``--compare`` record labelled ``here`` made the doctor say 587, "How sure: high"."""
    forged = tmp_path / "forged.jsonl"
    _forged(forged, NAME, "here")
    every = {str(p): "impostor" for p in (25, 465, 587, 2525)}
    with namespace(every, tmp_path) as ns:
        code, out, err = doctor_in(ns, "--compare", str(forged), "--json")
        assert code == 0, err
        d = json.loads(out)
        code, text, err = doctor_in(ns, "--compare", str(forged))
    assert code == 0, err
    assert d["recommended"] is None and d["fallbacks"] == [] and d["confidence"] == "low"
    ports = {p["port"]: p for p in d["ports"]}
    assert {p["verdict"] for p in d["ports"]} == {"intercepted"}
    assert ports[587]["elsewhere"].startswith("From elsewhere (vantage here), not measured here")
    assert "No port is safe to use from here." in text and "How sure: low." in text
    assert "How sure: high" not in text


def test_a_port_that_speaks_only_tls_1_0_is_not_recommended(tmp_path: Path) -> None:
    with namespace({"465": "tls10", "587": "good"}, tmp_path) as ns:
        code, out, err = doctor_in(ns, "--json")
    assert code == 0, err
    d = json.loads(out)
    ports = {p["port"]: p for p in d["ports"]}
    assert ports[465]["outcome"] == "open" and ports[465]["verdict"] == "unsafe"
    assert "TLSv1, older than TLS 1.2" in ports[465]["evidence"]
    assert d["recommended"]["port"] == 587 and d["fallbacks"] == []


def test_no_control_or_bidi_character_from_outside_reaches_the_terminal(tmp_path: Path) -> None:
    """Banners, EHLO names, AUTH words, a certificate's name, ``--vantage``, a compare file's
    name, labels, banners and certificate errors: all escaped, none raw, on stdout and stderr."""
    from smtplab.schema import empty_record

    compare = tmp_path / f"office{HOSTILE}.jsonl"
    smtplab.save_records(
        [
            empty_record(
                probe_id=f"h{port}",
                started_at="2026-12-01T00:00:00Z",
                vantage=f"office{HOSTILE}",
                host=NAME,
                port=port,
                outcome="open",
                banner=f"mail{HOSTILE}.test.example ESMTP {HOSTILE}",
                banner_code=220,
                tls_mode="starttls",
                cert_verified=False,
                cert_error=f"bad {HOSTILE}",
                auth_after_tls=[f"PLAIN{HOSTILE}"],
            )
            for port in (25, 465, 587, 2525)
        ],
        compare,
    )
    plan = {"25": "hostile", "465": "hostile_tls", "587": "hostile", "2525": "impostor"}
    runs = []
    with namespace(plan, tmp_path) as ns:
        args = ["--vantage", f"cafe{HOSTILE}", "--compare", str(compare)]
        runs.append(doctor_in(ns, *args))
        runs.append(doctor_in(ns, *args, "--json"))
        runs.append(doctor_in(ns, "--compare", str(tmp_path / f"gone{HOSTILE}.jsonl")))
        empty = tmp_path / f"folder{HOSTILE}"
        empty.mkdir()
        runs.append(doctor_in(ns, "--compare", str(empty), "--vantage", HOSTILE))
    (code, text, err), (jcode, js, jerr) = runs[:2]
    assert code == jcode == 0, err + jerr
    for _, out, err in runs:
        assert not unreadable(out) and not unreadable(err), (out, err)
    assert [c for c, _, _ in runs[2:]] == [2, 2]
    assert all(len(e.strip().splitlines()) == 1 for _, _, e in runs[2:])
    # escaped, not dropped: the learner sees that something odd was there
    assert f"probed from cafe{HOSTILE}".encode("unicode_escape").decode() not in text
    assert "cafe\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u202e" in text
    flat = "".join(text.split())  # a long escaped word folds across lines
    assert "greetingas\\x1b[2J\\x1b]0;owned\\x07mail.test.example" in flat
    assert "office\\x1b]0;owned" in text and "gone\\x1b]0;owned" in runs[2][2]
    d = json.loads(js)
    assert d["vantage"] == f"cafe{HOSTILE}"  # JSON keeps the value, escaped as \\uXXXX
