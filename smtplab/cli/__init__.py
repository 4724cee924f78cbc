"""The ``smtplab`` command.

    smtplab probe HOST [-p 25,465,587,2525] [--mode auto|plain|starttls|tls] [--timeout S]
                       [-c N] [--json] [--record FILE] [--lab SCENARIO] [--vantage LABEL] [--mx]
                       [--transcript]
    smtplab lab [--scenario NAME | --list]
    smtplab record HOST... [-p LIST] --vantage LABEL -o FILE [--lab SCENARIO] [-c N]
    smtplab show FILE... [--lenient] [--transcript]
    smtplab merge FILE... -o OUT
    smtplab notebooks [--dir DIR] [--reset] [--no-browser] [--port N]

Exit status: 0 when probes ran, whatever they found; 2 for bad arguments or a file that cannot be
read or written, with one line saying what was wrong (results already obtained are still printed).

Each command is a :class:`Command` (name, help, ``add_arguments``, ``run``) in :data:`COMMANDS`;
another module may add one with :func:`register`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from smtplab.cli import lab_cmd, notebooks_cmd, probe_cmd, records_cmd
from smtplab.cli.errors import UsageError
from smtplab.cli.options import parse_ports
from smtplab.cli.render import make_console, probe_table
from smtplab.cli.text import safe_text
from smtplab.probe import ProbeInputError

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


register("probe", "probe a host's SMTP ports", probe_cmd.add_probe_arguments, probe_cmd.run_probe)


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    from smtplab import doctor  # the advice engine loads only for `smtplab doctor`

    doctor.add_arguments(parser)


def _doctor_run(args: argparse.Namespace) -> int:
    from smtplab import doctor

    return doctor.run(args)


register("doctor", "which port and settings to use, and why", _doctor_arguments, _doctor_run)
register(
    "lab", "run the embedded mail lab until Ctrl-C", lab_cmd.add_lab_arguments, lab_cmd.run_lab
)
register(
    "record",
    "probe hosts and append the records to a file",
    probe_cmd.add_record_arguments,
    probe_cmd.run_record,
)
register(
    "show",
    "summarise a record file by host and port",
    records_cmd.add_show_arguments,
    records_cmd.run_show,
)
register(
    "merge",
    "pool record files, dropping duplicate probes",
    records_cmd.add_merge_arguments,
    records_cmd.run_merge,
)
register(
    "notebooks",
    "open the course notebooks in JupyterLab",
    notebooks_cmd.add_notebooks_arguments,
    notebooks_cmd.run_notebooks,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smtplab", description="Learn and check SMTP ports 25, 465, 587, 2525.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for command in COMMANDS.values():
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    return parser


def format_table(results: Sequence[Any], width: int = 100) -> str:
    """The probe table as plain text ``width`` columns wide (findings under their row)."""
    import io

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
    parser = build_parser()
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
    except (UsageError, ProbeInputError) as exc:
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
    except Exception as exc:  # a known error type from records (bad file) gets one line too
        if type(exc).__name__ in ("RecordError",):
            return _fail(str(exc))
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
