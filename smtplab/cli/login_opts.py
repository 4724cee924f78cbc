"""``smtplab doctor HOST --login USER``: the command-line face of :mod:`smtplab.login_check`.

    smtplab doctor HOST --login USER [--token] [--password-env NAME] [--send-test ADDRESS]

The secret (a password, or an OAuth token with ``--token``) never comes from the command line,
where other users of the machine and the shell's history would see it. It comes from the
variable ``--password-env NAME`` names, else ``SMTPLAB_TOKEN`` (with ``--token``) or
``SMTPLAB_PASSWORD`` (else ``SMTPLAB_TOKEN``, taken as a token), else a prompt on the terminal
that does not echo (:func:`getpass.getpass`). It is asked for only once the advice has found a
port safe for it, is kept in memory only for the login, and is never printed or written: the
report holds no transcript, and the probe's redaction hides it from everything the probe keeps.

With ``--lab SCENARIO`` the login goes to a lab started with the lab folder
(``~/.cache/smtplab/lab``, see ``smtplab lab --dir``), whose password is the same on every run.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from smtplab.advice import Advice
from smtplab.login_check import (
    LoginRefused,
    LoginReport,
    check_login,
    plan_login,
    valid_address,
)
from smtplab.safe_text import safe_text

__all__ = ["add_login_arguments", "check_login_arguments", "login_json", "login_text", "run_login"]

PASSWORD_ENV = "SMTPLAB_PASSWORD"
TOKEN_ENV = "SMTPLAB_TOKEN"


class NoSecret(Exception):
    """No secret could be read (no variable set and no terminal to ask on)."""


def add_login_arguments(parser: argparse.ArgumentParser) -> None:
    """``--login``, ``--token``, ``--password-env`` and ``--send-test``, on ``parser``.

    Turns off ``parser``'s abbreviations: ``--pass SECRET`` would otherwise be read as
    ``--password-env SECRET``."""
    parser.allow_abbrev = False
    g = parser.add_argument_group("login check (the secret is never a command-line argument)")
    g.add_argument(
        "--login",
        metavar="USER",
        help="then try logging in as USER on the chosen port, only over verified TLS; the "
        f"password comes from ${PASSWORD_ENV} or a prompt",
    )
    g.add_argument(
        "--token",
        action="store_true",
        help=f"the secret is an OAuth 2.0 token (sent with XOAUTH2; from ${TOKEN_ENV} or a prompt)",
    )
    g.add_argument(
        "--password-env",
        metavar="NAME",
        help="read the password or token from the environment variable NAME",
    )
    g.add_argument(
        "--send-test",
        metavar="ADDRESS",
        help="after a login that worked, send one short test message to ADDRESS (only then)",
    )


def check_login_arguments(args: argparse.Namespace) -> None:
    """Raise ``ValueError`` (one line) for login options that cannot work, before any probe."""
    login = getattr(args, "login", None)
    if not login:
        if args.token or args.password_env or args.send_test:
            raise ValueError("--token, --password-env and --send-test need --login USER")
        return
    if any(ord(c) < 33 or ord(c) == 127 for c in login):
        raise ValueError("--login: the user name has spaces or control characters")
    if args.password_env and args.password_env not in os.environ:
        # the name is not repeated: it might be a secret typed where a name belongs
        raise ValueError(
            "--password-env: the variable named is not set (give the NAME of a variable that "
            "holds the secret, never the secret itself)"
        )
    if args.send_test is not None and not valid_address(args.send_test):
        raise ValueError("--send-test wants one plain e-mail address, such as you@example.org")


def _read_secret(args: argparse.Namespace, prompt: str) -> tuple[str, bool]:
    """(secret, is_token): from the environment, else a prompt that does not echo."""
    if args.password_env:
        return os.environ.get(args.password_env, ""), bool(args.token)
    if args.token and os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV], True
    if not args.token and os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV], False
    if not args.token and os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV], True
    if not sys.stdin.isatty():
        name = TOKEN_ENV if args.token else PASSWORD_ENV
        raise NoSecret(f"no terminal to ask for it on: set {name} or use --password-env NAME")
    try:
        return getpass.getpass(prompt), bool(args.token)
    except (EOFError, KeyboardInterrupt):
        raise NoSecret("nothing was typed") from None


def run_login(args: argparse.Namespace, advice: Advice) -> LoginReport:
    """Read the secret and try the login the advice allows (see the module docstring)."""
    user = str(args.login)
    try:
        plan = plan_login(advice, method="token" if args.token else "auto")
    except LoginRefused as exc:
        return LoginReport("not_tried", advice.host, None, None, None, str(exc))
    rec = plan.setting
    what = "OAuth token" if args.token or plan.mechanism == "XOAUTH2" else "Password"
    prompt = safe_text(f"{what} for {user} at {rec.host} port {rec.port} (not shown): ")
    try:
        secret, is_token = _read_secret(args, prompt)
    except NoSecret as exc:
        return LoginReport("not_tried", rec.host, rec.port, rec.security_words, None,
                           f"not tried: no secret ({exc}).")  # fmt: skip
    if not secret:
        return LoginReport("not_tried", rec.host, rec.port, rec.security_words, None,
                           "not tried: the secret is empty.")  # fmt: skip
    kw: dict[str, Any] = {
        "method": "token" if is_token else "auto",
        "send_test": args.send_test,
        "timeout": float(args.timeout),
        "cafile": args.cafile,
    }
    try:
        if args.lab:
            from smtplab.lab import Lab
            from smtplab.lab.folder import default_folder

            with Lab(args.lab, folder=default_folder()) as lab:
                return check_login(advice, user, secret, lab=lab, **kw)
        return check_login(advice, user, secret, **kw)
    except ValueError as exc:  # the engine's input checks: they never repeat the secret
        return LoginReport("not_tried", rec.host, rec.port, rec.security_words, None,
                           f"not tried: {exc}.")  # fmt: skip
    except OSError as exc:  # the lab folder could not be made or read
        return LoginReport("not_tried", rec.host, rec.port, rec.security_words, None,
                           f"not tried: the lab folder: {exc.strerror or exc}.")  # fmt: skip


def login_text(report: LoginReport) -> str:
    """The report for people: the line, then the explanation of a refusal. Escaped."""
    lines = ["", report.line()]
    e = report.explanation
    if e is not None:
        lines.append(f"  What it means: {e.meaning}")
        lines.append(f"  Whose side: {e.side}")
        lines += [f"  - {step}" for step in e.todo]
        if e.sources:
            lines.append(f"  Source: {'; '.join(e.sources)}")
    return "\n".join(safe_text(line) for line in lines)


def login_json(report: LoginReport) -> dict[str, Any]:
    """The report as a JSON-ready object (the doctor's ``login`` key)."""
    e = report.explanation
    return {
        "status": report.status,
        "host": report.host,
        "port": report.port,
        "security": report.security,
        "mechanism": report.mechanism,
        "message": report.message,
        "secret_sent": report.secret_sent,
        "test_sent": report.test_sent,
        "findings": list(report.findings),
        "explanation": None
        if e is None
        else {"reply": e.reply, "side": e.side, "meaning": e.meaning, "todo": list(e.todo)},
    }
