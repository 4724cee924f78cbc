"""``smtplab doctor``: against the lab, with bad arguments, with records from other networks, and
on a real network made of Linux network namespaces and iptables rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
    verdicts = out.split("Port by port:")[1]
    assert "25    intercepted  Port 25 answered (open), greeting as smtp.isp-filter.example" in (
        verdicts
    )
    assert "587   blocked here Port 587 came back filtered" in verdicts


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
        (["--timeout", "soon"], "not a number"),
        (["--timeout", "0"], "between 0 and 600"),
        (["--compare", "/nonexistent/records.jsonl"], "no such file"),
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
    assert ports[587]["elsewhere"].startswith("From lab:open-internet port 587 answers")
    assert "your network" in ports[587]["elsewhere"]
    assert ports[465]["elsewhere"] is None


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


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def _netns_skip_reason() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install -y iproute2 iptables)"
    return None


@pytest.fixture
def hotel_network(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two namespaces: a laptop, and a hotel gateway that also hosts the real mail server.

    The gateway DROPs 587 and REDIRECTs 25 to its own impostor server (another name, another
    certificate). Addresses exist only inside these namespaces.
    """
    reason = _netns_skip_reason()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    laptop, gateway = f"slc{tag}", f"slg{tag}"
    hosts_dir = Path("/etc/netns") / laptop
    created: list[str] = []
    proc: subprocess.Popen[str] | None = None
    try:
        try:
            _run("ip", "netns", "add", laptop)
            created.append(laptop)
            _run("ip", "netns", "add", gateway)
            created.append(gateway)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create network namespaces here: {exc.stderr!r}")
        _run("ip", "link", "add", f"vc{tag}", "netns", laptop, "type", "veth", "peer", "name",
             f"vg{tag}", "netns", gateway)  # fmt: skip
        ends = ((laptop, f"vc{tag}", "10.231.0.1"), (gateway, f"vg{tag}", "10.231.0.2"))
        for ns, dev, addr in ends:
            _run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        g = ("ip", "netns", "exec", gateway, "iptables")
        _run(*g, "-A", "INPUT", "-p", "tcp", "--dport", "587", "-j", "DROP")
        _run(*g, "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "25",
             "-j", "REDIRECT", "--to-ports", "2500")  # fmt: skip
        hosts_dir.mkdir(parents=True, exist_ok=True)
        (hosts_dir / "hosts").write_text("10.231.0.2 mail.test.example\n127.0.0.1 localhost\n")
        ca = tmp_path / "ca.pem"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            ["ip", "netns", "exec", gateway, sys.executable, "-c", SERVER, str(ca), "10.231.0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        line = proc.stdout.readline()
        assert line.strip() == "ready" and time.monotonic() < deadline, proc.stderr.read()
        yield {"laptop": laptop, "ca": ca, "env": env}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=10)
        for ns in created:
            subprocess.run(
                ["ip", "netns", "delete", ns], check=False, capture_output=True, timeout=30
            )
        shutil.rmtree(hosts_dir, ignore_errors=True)


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
