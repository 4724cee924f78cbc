"""The ``smtplab`` command.

    smtplab probe HOST [-p 25,465,587,2525] [--mode auto|plain|starttls|tls] [--timeout S]
                       [-c N] [--json] [--record FILE] [--lab SCENARIO] [--vantage LABEL] [--mx]
                       [--transcript] [--cert]
    smtplab lab [--scenario NAME | --list] [--dir FOLDER] [--inbox PORT]
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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from smtplab.cli.errors import UsageError
from smtplab.errors import SmtplabError
from smtplab.safe_text import safe_text

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
    ("doctor", "which port and settings to use, and why", "doctor_cmd", "add_arguments", "run"),
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
    ("class", "collect a class's probes and show them live", "class_cmd",
     "add_class_arguments", "run_class"),
)  # fmt: skip

for _name, _help, _module, _add, _run in _BUILT_IN:
    _path = f"smtplab.cli.{_module}"
    register(_name, _help, _lazy(_path, _add), _lazy(_path, _run))


#: Examples at the end of each command's ``--help``: what a learner would type first.
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "": (
        ("smtplab doctor smtp.gmail.com", "which port and settings to use from this network"),
        ("smtplab probe smtp.lab.example --lab home-isp", "probe the embedded lab"),
        ("smtplab notebooks", "open the course"),
    ),
    "probe": (
        ("smtplab probe smtp.lab.example --lab home-isp", "the four ports, on the lab's home ISP"),
        ("smtplab probe smtp.example.org -p 587 --transcript", "one port, the conversation shown"),
        ("smtplab probe smtp.lab.example --lab classroom -p 465 --cert", "the certificate card"),
        ("smtplab probe mx.example.org -p 25 --json", "one JSON record per probe"),
    ),
    "doctor": (
        ("smtplab doctor smtp.lab.example --lab hotel-wifi", "advice on the lab's hotel Wi-Fi"),
        ("smtplab doctor smtp.gmail.com --provider gmail", "advice for Gmail from this network"),
        ("smtplab doctor smtp.example.org --compare class.jsonl",
         "is it the server or my network?"),
        ("smtplab doctor smtp.gmail.com --vantage phone --share 192.168.1.10:8025 "
         "--code K7QX2M", "and share what it measured with the class"),
        ("smtplab doctor smtp.lab.example --lab open-internet --login student",
         "then log in there (asks for the password; never on the command line)"),
    ),
    "explain": (
        ('smtplab explain "535 5.7.8 Username and Password not accepted"', "what a reply means"),
    ),
    "lab": (
        ("smtplab lab --list", "the lab's networks, one line each"),
        ("smtplab lab --scenario hotel-wifi", "run the hotel Wi-Fi network until Ctrl-C"),
        ("smtplab lab --dir ~/class-lab --inbox 8025",
         "keep the password and CA file there; the inbox page on port 8025"),
    ),
    "record": (
        ("smtplab record smtp.lab.example --lab home-isp --vantage home -o home.jsonl",
         "probe and append the records to a file"),
        ("smtplab record smtp.gmail.com --vantage phone -o me.jsonl "
         "--share 192.168.1.10:8025 --code K7QX2M", "and share them with the class"),
    ),
    "show": (
        ("smtplab show home.jsonl", "one row per host and port"),
        ("smtplab show --summary home.jsonl hotel.jsonl", "outcomes by network and port"),
    ),
    "merge": (
        ("smtplab merge home.jsonl hotel.jsonl -o class.jsonl", "pool files, no duplicates"),
    ),
    "class": (
        ("smtplab class serve", "start the class's collector; it prints the join code"),
    ),
    "notebooks": (
        ("smtplab notebooks", "open the course (your copy in ~/smtplab-notebooks)"),
        ("smtplab notebooks --reset 05", "put notebook 05 back as shipped; yours goes to a backup"),
        ("smtplab notebooks --reset --yes", "reset every notebook you edited, without asking"),
    ),
}  # fmt: skip


def examples(command: str) -> str | None:
    """The ``examples:`` block of ``command``'s help ("" for the top level), or None."""
    rows = EXAMPLES.get(command)
    if not rows:
        return None
    width = max(len(cmd) for cmd, _ in rows)
    if any(4 + width + len(why) > 80 for _, why in rows):  # an 80-column terminal: own lines
        body = "\n".join(f"  {cmd}\n      {why}" for cmd, why in rows)
    else:
        body = "\n".join(f"  {cmd.ljust(width)}  {why}" for cmd, why in rows)
    return f"examples:\n{body}"


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
    from smtplab import __version__

    parser = _Parser(
        prog="smtplab",
        description="Learn and check SMTP ports 25, 465, 587, 2525.",
        epilog=examples(""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"smtplab {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    chosen = None if argv is None else _chosen(argv)
    for command in COMMANDS.values():
        command_parser = sub.add_parser(
            command.name,
            help=command.help,
            description=command.help[:1].upper() + command.help[1:] + ".",
            epilog=examples(command.name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
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


def _quiet_warnings() -> None:
    """No library's warning reaches a learner's screen (with its file path): a deprecation in a
    dependency is ours to fix, and the tests find it, since they run with warnings as errors.
    ``-W``, ``PYTHONWARNINGS`` or ``SMTPLAB_DEBUG=1`` keep Python's own handling."""
    if not sys.warnoptions and not os.environ.get("SMTPLAB_DEBUG"):
        warnings.simplefilter("ignore")


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

    A probe loads asyncio and ssl (and cryptography, for a certificate OpenSSL refused), and may
    have a thread still reading the trust store (a refused port never needed it). A normal exit
    waits for that thread and then frees every module and object one by one, which costs tens
    of milliseconds and shows nothing.
    Here the output is flushed and the ``atexit`` handlers run (a forgotten lab is still
    stopped), and then the process ends with the status :func:`main` returned.
    """
    _quiet_warnings()  # the whole process only: main() called from Python keeps its filters
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
