"""A class in a box: five learners' networks, each its own network namespace with real iptables
rules, probing one mail server and sharing with one collector; the teacher's page, read in
Chromium, shows which networks block or intercept which port.

Topology (every address exists only inside the namespaces this test creates, netns):

* the *school* namespace holds the mail server (``mail.test.example`` on 25, 465, 587, 2525, and
  an impostor greeting as ``mail.impostor.example`` on 2500) and the collector on 443;
* each learner namespace has a veth link to the school, its own hosts file, and the firewall of
  its network in its OUTPUT chain:

  ==========  ==============================================================================
  home        port 25 dropped (the usual ISP block)
  office      port 587 dropped
  hotel       port 25 redirected to the impostor (DNAT), as hotels and some ISPs do
  campus      nothing in the way
  lockdown    everything dropped but 443 (and DNS), so only the collector gets through
  ==========  ==============================================================================
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from netns import hosts, inside, namespaces, process, run, skip_reason, veth, wait_ready

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")

#: The school's mail server: tests/netns_servers.py, real aiosmtpd on every interface of the
#: school namespace, with an impostor (another name, a self-signed certificate) on 2500.
SERVERS = Path(__file__).resolve().parent / "netns_servers.py"
PLAN = {"25": "good", "465": "good", "587": "good", "2525": "good", "2500": "impostor"}

#: label -> iptables rules (arguments after ``iptables``) in the learner's OUTPUT chain
NETWORKS: dict[str, list[list[str]]] = {
    "home": [["-A", "OUTPUT", "-p", "tcp", "--dport", "25", "-j", "DROP"]],
    "office": [["-A", "OUTPUT", "-p", "tcp", "--dport", "587", "-j", "DROP"]],
    "hotel": [["-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "25", "-j", "DNAT",
               "--to-destination", "{school}:2500"]],
    "campus": [],
    "lockdown": [["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"],
                 ["-A", "OUTPUT", "-p", "tcp", "--dport", "443", "-j", "ACCEPT"],
                 ["-A", "OUTPUT", "-j", "DROP"]],
}  # fmt: skip


@pytest.fixture
def classroom(tmp_path: Path) -> Iterator[dict[str, Any]]:
    reason = skip_reason(iptables=True)
    if reason:
        if os.environ.get("SMTPLAB_REQUIRE_PEERS"):
            pytest.fail(reason)
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:5]
    school = f"scl{tag}"
    learners = {label: f"sl{i}{tag}" for i, label in enumerate(NETWORKS)}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    with namespaces(school, *learners.values(), or_skip=False), ExitStack() as running:
        for i, (label, ns) in enumerate(learners.items()):
            school_ip, learner_ip = f"10.232.{i}.2", f"10.232.{i}.1"
            veth(ns, f"vl{i}{tag}", learner_ip, school, f"vs{i}{tag}", school_ip)
            for rule in NETWORKS[label]:
                run(*inside(ns, "iptables", *[r.format(school=school_ip) for r in rule]))
            hosts(ns, f"{school_ip} mail.test.example\n127.0.0.1 localhost\n")
        mail = running.enter_context(process(
            inside(school, sys.executable, str(SERVERS), json.dumps(PLAN),
                   str(tmp_path / "ca.pem"), "mail.test.example", "0.0.0.0"),
            env,
        ))  # fmt: skip
        wait_ready(mail, None)
        collector = running.enter_context(process(
            inside(school, sys.executable, "-m", "smtplab", "class", "serve", "--port", "443",
                   "--dir", str(tmp_path / "class")),
            env,
        ))  # fmt: skip
        assert collector.stdout is not None
        head = ""
        while "Ctrl-C stops" not in head and collector.poll() is None:
            head += collector.stdout.readline()
        code = re.search(r"Join code: (\w+)", head)
        key = re.search(r"\?key=(\S+)", head)
        assert code and key, head + (collector.stderr.read() if collector.poll() else "")
        yield {"school": school, "learners": learners, "code": code.group(1),
               "key": key.group(1), "env": env, "tmp": tmp_path}  # fmt: skip


def _share(c: dict[str, Any], label: str, index: int) -> subprocess.Popen[str]:
    ns = c["learners"][label]
    out = c["tmp"] / f"{label}.jsonl"
    return subprocess.Popen(
        inside(ns, sys.executable, "-m", "smtplab", "record", "mail.test.example",
               "--timeout", "2", "--vantage", label, "-o", str(out),
               "--share", f"10.232.{index}.2:443", "--code", c["code"], "--yes"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c["env"],
    )  # fmt: skip


def test_five_networks_share_and_the_page_shows_the_pattern(classroom: dict[str, Any]) -> None:
    c = classroom
    runs = {label: _share(c, label, i) for i, label in enumerate(c["learners"])}
    for label, proc in runs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{label}: {err}"
        assert "Shared 4 of 4 record(s) with the class." in out, f"{label}: {out}\n{err}"
    fetch = (
        "import json, sys, urllib.request; "
        "print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())"
    )
    url = f"http://10.232.0.2:443/api/summary?key={c['key']}"
    done = subprocess.run(
        inside(c["school"], sys.executable, "-c", fetch, url),
        capture_output=True, text=True, timeout=60, check=True, env=c["env"],
    )  # fmt: skip
    s = json.loads(done.stdout)
    cells = {(g["label"], g["port"]): g["word"] for g in s["grid"]}
    expected = {
        "home": {25: "filtered", 465: "open", 587: "open", 2525: "open"},
        "office": {25: "open", 465: "open", 587: "filtered", 2525: "open"},
        "hotel": {25: "intercepted", 465: "open", 587: "open", 2525: "open"},
        "campus": {25: "open", 465: "open", 587: "open", 2525: "open"},
        "lockdown": {25: "filtered", 465: "filtered", 587: "filtered", 2525: "filtered"},
    }
    got = {label: {p: cells[label, p] for p in (25, 465, 587, 2525)} for label in expected}
    assert got == expected
    assert s["blocks_25"] == ["home", "hotel", "lockdown"]
    answers = {(d["label"], d["port"]): d["answer"] for d in s["diagnosis"]}
    assert answers["office", 587].startswith("your network: ")
    assert "campus" in answers["office", 587]
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (the data above was checked)")
    page = subprocess.run(
        inside(c["school"], str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--no-first-run",
               f"--user-data-dir={c['tmp'] / 'chromium'}", "--virtual-time-budget=8000",
               "--dump-dom", f"http://10.232.0.2:443/?key={c['key']}"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    dom = page.stdout
    assert "20 probe records from 5 networks." in dom, dom[-3000:]
    assert "⚠ intercepted" in dom and "✗ filtered" in dom and "✓ open" in dom
    assert re.search(r"Networks that block port 25</h2>\s*<p[^>]*>home, hotel, lockdown<", dom), dom
