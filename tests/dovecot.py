"""A real Dovecot, as an authentication service only, checking OAuth tokens by introspection.

Debian's ``dovecot-core`` (2.3) has the ``oauth2`` passdb built in: given an XOAUTH2 or OAUTHBEARER
login, it POSTs ``token=...`` to an introspection endpoint (RFC 7662; ``introspection_mode =
post``) and accepts the login when the answer says ``"active": true`` and names the same user
(``username_attribute``). Postfix asks it through the ``auth-client`` socket
(``smtpd_sasl_type = dovecot``), so Postfix offers whatever mechanisms Dovecot has.

This instance runs with its own configuration in a temp dir, serves no mail protocol, and listens
only on that Unix socket; its introspection URL points at the lab's authorization server on
loopback. Configuration as Dovecot's manual gives it
(https://doc.dovecot.org/2.3/configuration_manual/authentication/oauth2/, the WSO2 example:
``introspection_mode = post``, credentials in the URL, ``active_attribute = active``).
Needs root (Dovecot's master drops to its ``dovecot`` user) and the ``dovecot-core`` package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Final

DOVECOT: Final = shutil.which("dovecot") or "/usr/sbin/dovecot"

DOVECOT_CONF = """\
# Written by smtplab's tests: Dovecot as an OAuth-checking SASL service for Postfix, nothing else.
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
# No IMAP or POP: protocols is empty. (listen may not be empty, but nothing listens on it.)
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = xoauth2 oauthbearer
auth_verbose = yes
# Dovecot waits auth_failure_delay (2 s) before each failure and, through anvil's auth penalty,
# doubles the wait per failure from one IP, up to 15 s: a defence against guessing that would
# make the tests' refusals, all from 127.0.0.1, slower than the client's timeout. Both off here
# (the penalty socket with mode 0 is how Dovecot's manual turns it off).
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/dovecot-oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener {socket} {{
    mode = 0666
  }}
}}
"""

OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
"""


def skip_reason() -> str | None:
    """Why Dovecot cannot run here, or None when it can."""
    if not Path(DOVECOT).exists():
        return "Dovecot is not installed (Debian: apt-get install dovecot-core)"
    if os.geteuid() != 0:
        return "starting Dovecot needs root (its master drops privileges); CI runs as root"
    return None


class DovecotError(RuntimeError):
    """Dovecot did not start; the message carries its log."""


def introspection_url(url: str, client_id: str, secret: str) -> str:
    """``url`` with ``client_id:secret@`` in it: HTTP Basic client authentication, the form
    Dovecot's manual shows for ``introspection_mode = post``."""
    parts = urllib.parse.urlsplit(url)
    auth = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))


class Dovecot:
    """``Dovecot(introspection_url).start()``; Postfix's ``smtpd_sasl_path`` is :attr:`socket`."""

    def __init__(self, introspection: str) -> None:
        self.introspection = introspection
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        assert self.dir is not None
        return self.dir / "auth-client"

    def log(self) -> str:
        try:
            assert self.dir is not None
            return (self.dir / "dovecot.log").read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    def start(self) -> Dovecot:
        d = Path(tempfile.mkdtemp(prefix="smtplab-dovecot-"))
        d.chmod(0o755)  # Postfix (user postfix) must reach the socket inside
        self.dir = d
        conf = d / "dovecot.conf"
        conf.write_text(DOVECOT_CONF.format(dir=d, socket=self.socket))
        (d / "dovecot-oauth2.conf.ext").write_text(OAUTH2_CONF.format(url=self.introspection))
        (d / "dovecot-oauth2.conf.ext").chmod(0o600)  # it holds the introspection secret
        self.proc = subprocess.Popen(
            [DOVECOT, "-c", str(conf), "-F"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.stop()
                raise DovecotError(f"Dovecot did not start: {err}\n{self.log()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the master stops its children and exits
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
