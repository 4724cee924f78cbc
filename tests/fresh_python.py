"""A probe in a new interpreter, and what it loaded: the tests import ``cryptography`` themselves,
so whether a probe needs it can only be seen from a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def probe_in_a_fresh_python(
    ports: Sequence[int], **env: str
) -> tuple[list[dict[str, object]], bool]:
    """``smtplab probe 127.0.0.1 -p PORTS --json`` run in a new interpreter with ``env`` added
    (``SSL_CERT_FILE``, say): its records, and whether it imported ``cryptography``."""
    code = (
        "import sys\n"
        "from smtplab.cli import main\n"
        f"main(['probe', '127.0.0.1', '-p', '{','.join(map(str, ports))}', '--json',"
        " '--timeout', '5'])\n"
        "print('CRYPTOGRAPHY', any(m.startswith('cryptography') for m in sys.modules),\n"
        "      file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    assert "CRYPTOGRAPHY" in done.stderr, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return records, "CRYPTOGRAPHY True" in done.stderr
