"""The ``smtplab`` command.

    smtplab probe HOST [-p 25,465,587,2525] [--mode auto|plain|starttls|tls] [--timeout S]
                       [-c N] [--json] [--record FILE] [--lab SCENARIO] [--vantage LABEL] [--mx]
                       [--transcript]
    smtplab lab [--scenario NAME | --list]
    smtplab record HOST... [-p LIST] --vantage LABEL -o FILE [--lab SCENARIO] [-c N]
    smtplab show FILE... [--lenient] [--summary] [--limit N] [--transcript]
    smtplab merge FILE... -o OUT
    smtplab notebooks [--dir DIR] [--reset] [--no-browser] [--port N]
    smtplab explain "REPLY" [--provider NAME] [--json]

Exit status: 0 when probes ran, whatever they found; 2 for bad arguments or a file that cannot be
read or written, with one line saying what was wrong (results already obtained are still printed).

Each command is a :class:`Command` (name, help, ``add_arguments``, ``run``) in :data:`COMMANDS`;
another module may add one with :func:`register`. A command's module loads only when that command
runs, so ``smtplab probe`` never pays for the lab, the records layer or the advice engine, and
``--json`` output never loads the terminal renderer.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from smtplab.cli.errors import UsageError
from smtplab.cli.text import safe_text
from smtplab.errors import SmtplabError

__all__ = [
    "COMMANDS",
    "Command",
    "UsageError",
    "build_parser",
    "format_table",
    "main",
    "parse_ports",
    "register",
    "safe_text",
]


@dataclass(frozen=True)
class Command:
    """One subcommand: ``add_arguments(parser)`` declares its options, ``run(args)`` returns the
    exit status and raises :class:`UsageError` for a one-line error (exit status 2)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: The subcommands, in the order ``smtplab --help`` lists them.
COMMANDS: dict[str, Command] = {}


def register(
    name: str,
    help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> Command:
    """Add (or replace) the subcommand ``name``; returns it."""
    command = Command(name, help, add_arguments, run)
    COMMANDS[name] = command
    return command


def _lazy(module: str, name: str) -> Callable[[Any], Any]:
    """``module.name(arg)``, with ``module`` imported on the first call."""

    def call(arg: Any) -> Any:
        return getattr(importlib.import_module(module), name)(arg)

    call.__qualname__ = f"{module}.{name}"
    return call


_BUILT_IN = (
    ("probe", "probe a host's SMTP ports", "probe_cmd", "add_probe_arguments", "run_probe"),
    ("doctor", "which port and settings to use, and why", "..doctor", "add_arguments", "run"),
    ("explain", "what an SMTP reply means, whose side it is on, what to do", "explain_cmd",
     "add_explain_arguments", "run_explain"),
    ("lab", "run the embedded mail lab until Ctrl-C", "lab_cmd", "add_lab_arguments", "run_lab"),
    ("record", "probe hosts and append the records to a file", "probe_cmd",
     "add_record_arguments", "run_record"),
    ("show", "summarise a record file by host and port", "records_cmd",
     "add_show_arguments", "run_show"),
    ("merge", "pool record files, dropping duplicate probes", "records_cmd",
     "add_merge_arguments", "run_merge"),
    ("notebooks", "open the course notebooks in JupyterLab", "notebooks_cmd",
     "add_notebooks_arguments", "run_notebooks"),
)  # fmt: skip

for _name, _help, _module, _add, _run in _BUILT_IN:
    _path = "smtplab.doctor" if _module == "..doctor" else f"smtplab.cli.{_module}"
    register(_name, _help, _lazy(_path, _add), _lazy(_path, _run))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_ports(text: str) -> list[int]:
    """``"25,465"`` -> ``[25, 465]`` (see :func:`smtplab.cli.options.parse_ports`)."""
    from smtplab.cli import options  # loads the probe engine's input checks

    return options.parse_ports(text)


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given ``argv``, only the command it names declares its options (the
    others are listed by name and help), so only that command's module loads."""
    parser = _Parser(prog="smtplab", description="Learn and check SMTP ports 25, 465, 587, 2525.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    chosen = None if argv is None else _chosen(argv)
    for command in COMMANDS.values():
        command_parser = sub.add_parser(command.name, help=command.help)
        if argv is None or command.name == chosen:
            command.add_arguments(command_parser)
    return parser


def format_table(results: Sequence[Any], width: int = 100) -> str:
    """The probe table as plain text ``width`` columns wide (findings under their row)."""
    import io

    from smtplab.cli.render import make_console, probe_table

    buffer = io.StringIO()
    console = make_console(buffer, plain=True)
    console.width = width
    console.print(probe_table(results, width))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def _quiet_broken_pipe() -> int:
    """The reader went away (``| head -1``): stop quietly, as the Python docs recommend."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())  # the final flush at exit must not fail again
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
    return 1


def _fail(message: str) -> int:
    try:
        print(f"smtplab: {safe_text(message)}", file=sys.stderr)
    except (OSError, ValueError):
        pass
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        status = COMMANDS[args.command].run(args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return status
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except SmtplabError as exc:  # bad arguments, input, files, lab: one line, no traceback
        return _fail(str(exc))
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename or exc}: no such file")
    except IsADirectoryError as exc:
        return _fail(f"{exc.filename or exc}: is a folder, not a file")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """The ``smtplab`` command as a whole process: :func:`main`, then a quick exit.

    A probe loads asyncio, ssl and cryptography, and may have a thread still reading the trust
    store (a refused port never needed it). A normal exit waits for that thread and then frees
    every module and object one by one, which costs tens of milliseconds and shows nothing.
    Here the output is flushed and the ``atexit`` handlers run (a forgotten lab is still
    stopped), and then the process ends with the status :func:`main` returned.
    """
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: main has already dealt with it
            pass
    atexit._run_exitfuncs()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
