"""A lab folder: where a lab keeps what must outlive one run (its password, its CA file).

A teacher who starts ``smtplab lab`` before every lesson wants the password typed into the class's
mail programs last week to work again, and a CA file at a path that does not change. The folder
holds ``password`` (mode 0600), the CA's certificate ``lab-ca.pem`` and its key ``lab-ca.key``
(mode 0600; see :func:`smtplab.lab.certs.keep_ca_in`); it is made with mode 0700. By default it is
``$XDG_CACHE_HOME/smtplab/lab`` (``~/.cache/smtplab/lab``). ``Lab(...)`` without a folder keeps
its random password per lab, as before.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import string
from pathlib import Path
from typing import Final

__all__ = ["LabFolder", "default_folder", "new_password"]

# Lab passwords: letters and digits only, so that they can be typed into any mail client and
# passed on any command line (a leading "-" would look like an option); 12 of 62 symbols give
# about 71 bits, far beyond guessing during a lesson.
_PASSWORD_ALPHABET: Final = string.ascii_letters + string.digits
_PASSWORD_LENGTH: Final = 12

PASSWORD_FILE: Final = "password"
CA_FILE: Final = "lab-ca.pem"
CA_KEY_FILE: Final = "lab-ca.key"
#: Larger than any CA certificate or key the lab makes (both are well under 1 KiB).
_MAX_KEPT: Final = 64 * 1024


def new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_LENGTH))


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/smtplab/lab``, or ``~/.cache/smtplab/lab``."""
    cache = os.environ.get("XDG_CACHE_HOME") or ""
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "smtplab" / "lab"


def _valid(password: str) -> bool:
    return len(password) >= 8 and all(c in _PASSWORD_ALPHABET for c in password)


class LabFolder:
    """The folder at ``path`` (made on first use, mode 0700)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_folder()

    def _make(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def ca_path(self) -> Path:
        return self.path / CA_FILE

    def password(self) -> str:
        """The folder's password: the one kept there, or a new one kept there now (mode 0600).

        A password file that is unreadable or holds anything but 8 or more letters and digits
        is replaced by a new password."""
        file = self.path / PASSWORD_FILE
        with contextlib.suppress(OSError, UnicodeDecodeError):
            kept = file.read_text(encoding="ascii").strip()
            if _valid(kept):
                return kept
        self._make()
        password = new_password()
        tmp = self.path / f".{PASSWORD_FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(password + "\n")
        try:
            os.link(tmp, file)  # atomic, and never over a password another lab just kept
        except FileExistsError:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                kept = file.read_text(encoding="ascii").strip()
                if _valid(kept):
                    return kept
            os.replace(tmp, file)  # what is there is no password: replace it
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return password

    def read_ca(self) -> tuple[bytes, bytes] | None:
        """The kept CA (certificate PEM, key PEM), or ``None``: missing, too large, or a key file
        that is not a regular file of this user, or that others could read or write."""
        key_file = self.path / CA_KEY_FILE
        try:
            st = os.lstat(key_file)
            if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
                return None
            if hasattr(os, "getuid") and st.st_uid != os.getuid():
                return None
            cert, key = (self.path / CA_FILE).read_bytes(), key_file.read_bytes()
        except OSError:
            return None
        if len(cert) > _MAX_KEPT or len(key) > _MAX_KEPT:
            return None
        return cert, key

    def write_ca_pair(self, cert_pem: bytes, key_pem: bytes) -> None:
        """Keep a CA: its key (mode 0600) first, then its certificate, each replaced at once."""
        self._make()
        tmp = self.path / f".{CA_KEY_FILE}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        os.replace(tmp, self.path / CA_KEY_FILE)
        self.write_ca(cert_pem.decode("ascii"))

    def write_ca(self, pem: str) -> Path:
        """Write the lab CA's certificate to ``lab-ca.pem`` in the folder; returns its path."""
        self._make()
        path = self.ca_path
        tmp = self.path / f".{CA_FILE}.{secrets.token_hex(4)}"
        tmp.write_text(pem if pem.endswith("\n") else pem + "\n", encoding="ascii")
        os.replace(tmp, path)
        return path
