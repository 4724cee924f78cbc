"""A real Exim on loopback: Debian's binary unpacked into a private directory, its own config.

The second real MTA next to Postfix (``tests/postfix.py``). Installing Debian's ``exim4`` would
remove Postfix (both provide ``mail-transport-agent``), so the package is not installed: its files
are unpacked with ``dpkg -x`` into a cache directory (:data:`EXIM_ROOT`) and the binary runs from
there with a configuration written by the test (``exim -C FILE -bdf``: the daemon, in the
foreground, as a child of the test). ``python tests/exim.py fetch`` does the unpacking:

    apt-get download exim4-daemon-light libidn12
    dpkg -x exim4-daemon-light_*.deb  $EXIM_ROOT
    dpkg -x libidn12_*.deb            $EXIM_ROOT   # the one library the binary needs that
                                                   # bookworm does not install with Postfix
    useradd --system --user-group Debian-exim       # Debian's build looks this user up by name

It offers the four services a learner meets, plus two harder cases, each on an unprivileged
127.0.0.1 port:

=============  ==================================================================================
service        what it does
=============  ==================================================================================
``smtp``       25-style relay MTA: cleartext greeting, STARTTLS offered, no AUTH.
``submission`` 587-style: MAIL before STARTTLS refused with 530, AUTH PLAIN/LOGIN offered only
               inside TLS (``auth_advertise_hosts``).
``submissions`` 465-style: implicit TLS (``tls_on_connect_ports``), AUTH inside TLS.
``alt``        2525-style: configured like ``submission``.
``expired``    like ``submission``, but its certificate is self-signed, expired in 2020 and made
               out for ``old.lab.example`` (``tls_certificate`` chosen by ``$received_port``).
``login_first`` like ``submission``, but MAIL without a login gets ``550 5.7.1 Authentication
               required`` before and after STARTTLS alike (Haraka's 587 answers so): it
               needs a login, not encryption.
=============  ==================================================================================

AUTH checks one fixed test user (:data:`USER`, :data:`PASSWORD`) with Exim's ``plaintext``
authenticator. Nothing is delivered: recipients are refused unless the client logged in, and
then the message goes to ``:blackhole:``. The certificate is self-signed and made fresh for each
run (:attr:`Exim.cert_file`). Exim uses GnuTLS, where Postfix uses OpenSSL.

Use it as a context manager (``with Exim() as ex: ex.ports["submission"]``), or from pytest
through the session fixture in ``test_exim.py``. Needs root (``-C`` with a private config keeps
privileges only for root) and the unpacked package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from mta import service_ports, wait_listening, write_self_signed
from postfix import SERVICES as _FOUR

HOSTNAME: Final = "exim.lab.example"
#: The name on the ``expired`` service's certificate, which is not the name dialled.
OLD_HOSTNAME: Final = "old.lab.example"
#: Postfix's four services plus two: ``expired``, a STARTTLS port whose certificate is
#: self-signed, expired in 2020 and made out for another name (:data:`OLD_HOSTNAME`), three
#: problems at once; and ``login_first``, a 587 that refuses MAIL without a login, as Haraka does.
SERVICES: Final = {**_FOUR, "expired": 587, "login_first": 587}
USER: Final = "learner@lab.example"
PASSWORD: Final = "smtplab-test-password"  # a test fixture, not a secret
EXIM_USER: Final = "Debian-exim"
PACKAGES: Final = ("exim4-daemon-light", "libidn12")

#: Where ``fetch`` unpacks the packages; ``SMTPLAB_EXIM_ROOT`` overrides it.
EXIM_ROOT: Final = Path(
    os.environ.get("SMTPLAB_EXIM_ROOT")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smtplab" / "exim4"
)
EXIM: Final = EXIM_ROOT / "usr" / "sbin" / "exim4"
FETCH_HINT: Final = (
    "python tests/exim.py fetch (apt-get download exim4-daemon-light libidn12, dpkg -x into "
    f"{EXIM_ROOT}, useradd {EXIM_USER}); apt-get install exim4 would remove Postfix"
)


def _libdirs() -> list[str]:
    return [str(p) for p in (EXIM_ROOT / "usr" / "lib").glob("*-linux-gnu*") if p.is_dir()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([*_libdirs(), env.get("LD_LIBRARY_PATH", "")]).strip(":")
    return env


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def skip_reason() -> str | None:
    """Why Exim cannot run here, or None when it can."""
    if not EXIM.exists():
        return f"Exim is not unpacked in {EXIM_ROOT}: {FETCH_HINT}"
    if os.geteuid() != 0:
        return "running Exim with a private -C config needs root; CI runs as root"
    if not _has_user(EXIM_USER):
        return f"the '{EXIM_USER}' system user is missing: {FETCH_HINT}"
    out = subprocess.run(
        [str(EXIM), "-C", "/dev/null", "-bV"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
        check=False,
    )
    if "Exim version" not in out.stdout:
        return f"the unpacked Exim does not run ({(out.stdout + out.stderr).strip()}): {FETCH_HINT}"
    return None


def fetch(root: Path = EXIM_ROOT) -> Path:
    """Download the packages with apt-get, unpack them into ``root``, create Debian's user.

    Downloads afresh each time (security updates); runs ``apt-get update`` once if the package
    lists are missing or stale (a 404 for a superseded version)."""
    with tempfile.TemporaryDirectory(prefix="smtplab-exim-deb-") as tmp:
        os.chmod(tmp, 0o777)  # apt's sandbox user _apt writes the downloads here
        download = ["apt-get", "download", "-q", *PACKAGES]
        if subprocess.run(download, cwd=tmp, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(download, cwd=tmp, check=True)
        root.mkdir(parents=True, exist_ok=True)
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    if not _has_user(EXIM_USER):
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                EXIM_USER,
            ],
            check=True,
        )
    return root / "usr" / "sbin" / "exim4"


def self_signed(cert_file: Path, key_file: Path, *, expired: bool = False) -> None:
    """A fresh self-signed RSA certificate for exim.lab.example, localhost and 127.0.0.1; or,
    ``expired``, one for old.lab.example only that was valid in 2019-2020."""
    import datetime as dt

    utc = dt.timezone.utc
    in_2019 = (dt.datetime(2019, 1, 1, tzinfo=utc), dt.datetime(2020, 1, 1, tzinfo=utc))
    write_self_signed(
        cert_file,
        key_file,
        common_name=OLD_HOSTNAME if expired else HOSTNAME,
        organisation="smtplab test Exim",
        names=(OLD_HOSTNAME,) if expired else (HOSTNAME, "localhost", "127.0.0.1"),
        rsa=True,
        valid=in_2019 if expired else None,
    )


CONFIGURE = """\
# Written by smtplab's tests: a private Exim on loopback that delivers nothing.
primary_hostname = {hostname}
qualify_domain = lab.example
exim_user = {exim_user}
exim_group = {exim_user}
never_users = root
spool_directory = {dir}/spool
log_file_path = {dir}/log/%slog
pid_file_path = {dir}/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = {smtp} : {submissions} : {submission} : {alt} : {expired} : {login_first}
tls_on_connect_ports = {submissions}
smtp_banner = $smtp_active_hostname ESMTP Exim $version_number (smtplab test instance)
keep_environment =
# Every connection is logged ("SMTP connection from"), so tests can count them.
log_selector = +smtp_connection +tls_peerdn
# No DNS about clients, no ident callbacks.
host_lookup =
rfc1413_hosts =
# TLS with a fresh self-signed certificate; STARTTLS offered everywhere.
tls_advertise_hosts = *
# The expired service's certificate is chosen by the port the client connected to.
tls_certificate = ${{if eq{{$received_port}}{{{expired}}} \\
                        {{{dir}/tls/old.pem}}{{{dir}/tls/cert.pem}}}}
tls_privatekey = ${{if eq{{$received_port}}{{{expired}}} \\
                       {{{dir}/tls/old.key}}{{{dir}/tls/key.pem}}}}
# AUTH only inside TLS and never on the 25-style relay.
auth_advertise_hosts = ${{if or{{{{eq{{$tls_in_cipher}}{{}}}} \\
                                 {{eq{{$received_port}}{{{smtp}}}}}}}{{}}{{*}}}}
acl_smtp_mail = acl_check_mail
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_mail:
  deny    condition = ${{if eq{{$received_port}}{{{login_first}}}}}
          !authenticated = *
          message = 550 5.7.1 Authentication required
  deny    condition = ${{if and{{{{!eq{{$received_port}}{{{smtp}}}}}{{eq{{$tls_in_cipher}}{{}}}}}}}}
          message = 530 5.7.0 Must issue a STARTTLS command first
  accept

acl_check_rcpt:
  accept  authenticated = *
  deny    message = 554 5.7.1 relay not permitted (the smtplab test Exim delivers nothing)

begin routers

blackhole:
  driver = redirect
  data = :blackhole:

begin transports

begin authenticators

PLAIN:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${{if and{{{{eq{{$auth2}}{{{user}}}}}{{eq{{$auth3}}{{{password}}}}}}}}}
  server_set_id = $auth2

LOGIN:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${{if and{{{{eq{{$auth1}}{{{user}}}}}{{eq{{$auth2}}{{{password}}}}}}}}}
  server_set_id = $auth1
"""


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass  # already gone


def _group_gone(proc: subprocess.Popen[bytes], pgid: int, limit: float) -> bool:
    """Reap the daemon and wait (up to ``limit``) until no process of its group is left."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


class EximError(RuntimeError):
    """Exim did not start; the message carries its output and log."""


class Exim:
    """A private Exim daemon: ``start()``, probe ``ports[...]``, ``stop()``.

    ``ports`` maps each service (``smtp``, ``submissions``, ``submission``, ``alt``) to its
    127.0.0.1 port; pass ``ports=`` to choose them, otherwise free unprivileged ones are picked.
    """

    def __init__(self, ports: dict[str, int] | None = None) -> None:
        reason = skip_reason()
        if reason:
            raise EximError(reason)
        self.ports = service_ports(ports, SERVICES)
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def cert_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "tls" / "cert.pem"

    @property
    def config_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "exim.conf"

    def log(self) -> str:
        """Exim's main and panic logs so far."""
        if self.dir is None:
            return ""
        parts = []
        for name in ("mainlog", "paniclog", "rejectlog"):
            p = self.dir / "log" / name
            if p.exists():
                parts.append(f"--- {name}\n{p.read_text(errors='replace')}")
        return "\n".join(parts)

    def exim(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run the unpacked binary with this instance's config (e.g. ``-bV``, ``-bP``)."""
        return subprocess.run(
            [str(EXIM), "-C", str(self.config_file), *args],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=timeout,
            check=False,
        )

    def write_config(self) -> Path:
        """Create the temp dir with the configuration, spool, log dir and certificate."""
        import pwd

        d = Path(tempfile.mkdtemp(prefix="smtplab-exim-"))
        d.chmod(0o755)  # the receiving processes run as Debian-exim and read tls/, spool/
        self.dir = d
        pw = pwd.getpwnam(EXIM_USER)
        for sub in ("spool", "log", "tls"):
            (d / sub).mkdir(mode=0o750)
            os.chown(d / sub, pw.pw_uid, pw.pw_gid)
        self_signed(d / "tls" / "cert.pem", d / "tls" / "key.pem")
        self_signed(d / "tls" / "old.pem", d / "tls" / "old.key", expired=True)
        for f in ("cert.pem", "key.pem", "old.pem", "old.key"):
            os.chown(d / "tls" / f, pw.pw_uid, pw.pw_gid)
        self.config_file.write_text(
            CONFIGURE.format(
                dir=d,
                hostname=HOSTNAME,
                exim_user=EXIM_USER,
                user=USER,
                password=PASSWORD,
                **self.ports,
            )
        )
        return d

    def check(self) -> str:
        """``exim -C FILE -bV``: reads and checks the whole config; raises EximError if bad."""
        out = self.exim("-bV")
        text = (out.stdout + out.stderr).strip()
        if out.returncode != 0 or "Exim version" not in text:
            raise EximError(f"exim -bV failed ({out.returncode}): {text}\n{self.log()}")
        return text

    def start(self) -> Exim:
        """Write the config, check it, start the daemon and wait until every port answers."""
        if self.dir is None:
            self.write_config()
        try:
            self.check()
            assert self.dir is not None
            with (self.dir / "daemon.out").open("w") as out:
                # its own session: stop() ends the daemon and the children serving connections
                self.proc = subprocess.Popen(
                    [str(EXIM), "-C", str(self.config_file), "-bdf"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_env(),
                    start_new_session=True,
                )
            self._wait_listening(10.0)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, limit: float) -> None:
        wait_listening("Exim", self.ports, limit, self.log, EximError, self._still_running)

    def _still_running(self) -> None:
        assert self.proc is not None and self.dir is not None
        if self.proc.poll() is not None:
            out = (self.dir / "daemon.out").read_text(errors="replace")
            raise EximError(f"Exim exited ({self.proc.returncode}): {out}\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the daemon and the children still serving connections (its process group,
        SIGKILL as a last resort), wait until all are gone, then remove the temp dir (a child
        that outlived it would recreate the log directory)."""
        try:
            if self.proc is not None:
                pgid = self.proc.pid  # start_new_session: the daemon leads its own group
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    _signal_group(pgid, sig)
                    if _group_gone(self.proc, pgid, timeout):
                        break
        finally:
            self.proc = None
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def __enter__(self) -> Exim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # python tests/exim.py [fetch]
    if sys.argv[1:] == ["fetch"]:
        print("Exim unpacked:", fetch())
    reason = skip_reason()
    if reason:
        sys.exit(f"Exim cannot run: {reason}")
    with Exim() as ex:
        print("Exim is up:", ex.ports)
        print(ex.check().splitlines()[0])
