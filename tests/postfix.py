"""A real Postfix on loopback, started with its own configuration directory in a temp dir.

Debian's Postfix, not a fake: the tests and the benchmark probe it as they would probe any mail
server. It offers the four services a learner meets, each on an unprivileged 127.0.0.1 port:

=============  ==================================================================================
service        what it does
=============  ==================================================================================
``smtp``       25-style relay MTA: cleartext greeting, STARTTLS offered, no AUTH.
``submission`` 587-style: STARTTLS required before mail (``smtpd_tls_security_level=encrypt``),
               AUTH offered only after TLS (``smtpd_tls_auth_only``).
``submissions`` 465-style: implicit TLS (``smtpd_tls_wrappermode``), AUTH inside TLS.
``alt``        2525-style: configured like ``submission``, as providers do on 2525.
=============  ==================================================================================

AUTH is offered through Cyrus SASL (``libsasl2-modules``: PLAIN and LOGIN) with an empty
``sasldb``: the mechanisms are announced, so probes see what a real submission port shows,
but no login can succeed — the tests never log in. If the SASL plugins are missing, the
submission services run without AUTH and :attr:`Postfix.sasl` is False.

Nothing the server accepts is delivered anywhere: every transport is ``error:``. The
certificate is self-signed and made fresh for each run (:attr:`Postfix.cert_file`).

Use it as a context manager (``with Postfix() as pf: pf.ports["submission"]``), or from
pytest through the session fixture in ``test_postfix.py``. Needs root (Postfix's master runs
as root and drops to the ``postfix`` user) and the ``postfix`` package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

from mta import service_ports, wait_listening, write_self_signed

POSTFIX: Final = shutil.which("postfix") or "/usr/sbin/postfix"
HOSTNAME: Final = "postfix.lab.example"

#: The services in the order of the DESIGN's port list (25, 465, 587, 2525) and the real port
#: number each one stands for.
SERVICES: Final = {"smtp": 25, "submissions": 465, "submission": 587, "alt": 2525}

#: Cyrus SASL plugins live here on Debian (amd64, arm64, ...): PLAIN and LOGIN are enough.
_SASL_DIRS = (
    "/usr/lib/x86_64-linux-gnu/sasl2",
    "/usr/lib/aarch64-linux-gnu/sasl2",
    "/usr/lib/sasl2",
)


def skip_reason() -> str | None:
    """Why Postfix cannot run here, or None when it can."""
    if not Path(POSTFIX).exists():
        return "Postfix is not installed (Debian: apt-get install postfix)"
    if os.geteuid() != 0:
        return "starting Postfix needs root (its master process runs as root); CI runs as root"
    try:
        import pwd

        pwd.getpwnam("postfix")
    except KeyError:
        return "the 'postfix' system user is missing (reinstall the postfix package)"
    return None


def _sasl_available() -> bool:
    for d in _SASL_DIRS:
        p = Path(d)
        if p.is_dir() and any(p.glob("libplain.so*")) and any(p.glob("libsasldb.so*")):
            return True
    return False


def _self_signed(cert_file: Path, key_file: Path) -> None:
    """A fresh self-signed EC certificate for postfix.lab.example, localhost and 127.0.0.1."""
    write_self_signed(
        cert_file,
        key_file,
        common_name=HOSTNAME,
        organisation="smtplab test Postfix",
        names=(HOSTNAME, "localhost", "127.0.0.1"),
    )


MASTER_CF = """\
# service        type  private unpriv chroot wakeup maxproc command + args
# No chroot: the daemons read the configuration, certificate and SASL files in place.
{smtp} inet n - n - - smtpd
  -o syslog_name=postfix/smtp
{submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable={sasl}
{submissions} inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable={sasl}
{alt} inet n - n - - smtpd
  -o syslog_name=postfix/alt
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable={sasl}
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
proxywrite unix - - n -    1 proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
virtual   unix  - n n -    - virtual
lmtp      unix  - - n -    - lmtp
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
# Written by smtplab's tests: a private Postfix instance on loopback that delivers nothing.
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = lab.example
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP Postfix (smtplab test instance)
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
biff = no
# Nothing leaves: every transport fails, no DNS is asked about clients.
default_transport = error:the smtplab test Postfix delivers nothing
relay_transport = error:the smtplab test Postfix delivers nothing
local_transport = error:the smtplab test Postfix delivers nothing
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
# TLS with a fresh self-signed certificate; STARTTLS offered everywhere.
smtpd_tls_cert_file = {dir}/tls/cert.pem
smtpd_tls_key_file = {dir}/tls/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtp_tls_security_level = none
# Cyrus SASL with an empty sasldb: AUTH PLAIN/LOGIN announced, no login can succeed.
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {dir}/sasl
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
"""

SASL_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: {dir}/sasl/sasldb2
"""


class PostfixError(RuntimeError):
    """Postfix did not start or stop; the message carries its output and log."""


class Postfix:
    """A private Postfix instance: ``start()``, probe ``ports[...]``, ``stop()``.

    ``ports`` maps each service (``smtp``, ``submissions``, ``submission``, ``alt``) to its
    127.0.0.1 port; pass ``ports=`` to choose them (e.g. the real numbers 25/465/587/2525, which
    need them free), otherwise free unprivileged ones are picked.
    """

    def __init__(
        self, ports: dict[str, int] | None = None, *, dovecot_socket: Path | None = None
    ) -> None:
        reason = skip_reason()
        if reason:
            raise PostfixError(reason)
        self.ports = service_ports(ports, SERVICES)
        #: Dovecot's auth-client socket: SASL through Dovecot (``smtpd_sasl_type = dovecot``),
        #: which offers whatever mechanisms Dovecot has (see tests/dovecot.py), instead of Cyrus.
        self.dovecot_socket = dovecot_socket
        self.sasl = dovecot_socket is not None or _sasl_available()
        self.dir: Path | None = None
        self.master_pid: int | None = None

    # --- paths --------------------------------------------------------------------------------

    @property
    def cert_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "tls" / "cert.pem"

    @property
    def log_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "maillog"

    def log(self) -> str:
        """Postfix's own log (maillog_file) so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    # --- life cycle ---------------------------------------------------------------------------

    def _postfix(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert self.dir is not None
        return subprocess.run(
            [POSTFIX, "-c", str(self.dir), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def write_config(self) -> Path:
        """Create the temp dir with main.cf, master.cf, certificate and SASL config."""
        d = Path(tempfile.mkdtemp(prefix="smtplab-postfix-"))
        d.chmod(0o755)  # the daemons run as 'postfix' and must reach queue, tls and sasl
        self.dir = d
        (d / "queue").mkdir(mode=0o755)  # Postfix makes the rest (post-install create-missing)
        (d / "tls").mkdir()
        (d / "sasl").mkdir()
        _self_signed(d / "tls" / "cert.pem", d / "tls" / "key.pem")
        (d / "sasl" / "smtpd.conf").write_text(SASL_CONF.format(dir=d))
        main_cf = MAIN_CF.format(dir=d, hostname=HOSTNAME)
        if self.dovecot_socket is not None:
            main_cf = main_cf.replace("smtpd_sasl_type = cyrus", "smtpd_sasl_type = dovecot")
            main_cf = main_cf.replace(
                "smtpd_sasl_path = smtpd", f"smtpd_sasl_path = {self.dovecot_socket}"
            )
        (d / "main.cf").write_text(main_cf)
        (d / "master.cf").write_text(
            MASTER_CF.format(
                **{k: f"127.0.0.1:{p}" for k, p in self.ports.items()},
                sasl="yes" if self.sasl else "no",
            )
        )
        return d

    def check(self) -> str:
        """``postfix -c DIR check``: raises PostfixError with its output if it fails."""
        out = self._postfix("check")
        text = (out.stdout + out.stderr).strip()
        if out.returncode != 0:
            raise PostfixError(f"postfix check failed ({out.returncode}): {text}\n{self.log()}")
        return text

    def start(self) -> Postfix:
        """Write the config, check it, start the master and wait until every port answers."""
        if self.dir is None:
            self.write_config()
        try:
            self.check()
            out = self._postfix("start")
            if out.returncode != 0:
                raise PostfixError(
                    f"postfix start failed ({out.returncode}): {out.stdout}{out.stderr}\n"
                    f"{self.log()}"
                )
            assert self.dir is not None
            pid_file = self.dir / "queue" / "pid" / "master.pid"
            self.master_pid = int(pid_file.read_text().split()[0])
            self._wait_listening(10.0)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, limit: float) -> None:
        wait_listening("Postfix", self.ports, limit, self.log, PostfixError)

    def _master_alive(self) -> bool:
        if self.master_pid is None:
            return False
        try:
            stat = Path(f"/proc/{self.master_pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has exited

    def stop(self, timeout: float = 15.0) -> None:
        """``postfix stop``, wait for the master to exit (SIGKILL as a last resort), clean up."""
        if self.dir is None:
            return
        try:
            if self.master_pid is not None and self._master_alive():
                self._postfix("stop", timeout=timeout)
                deadline = time.monotonic() + timeout
                while self._master_alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self._master_alive():
                    os.kill(self.master_pid, 9)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.master_pid = None

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # a quick manual check: python tests/postfix.py
    with Postfix() as pf:
        print("Postfix is up:", pf.ports, "SASL:", pf.sasl)
        print(pf.check() or "postfix check: no warnings")
