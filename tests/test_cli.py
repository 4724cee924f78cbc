"""The `smtplab` command: exit codes, one-line errors, table and JSON Lines output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from servers import ServerThread

from smtplab import schema
from smtplab.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtplab", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["probe", "127.0.0.1", "-p", "70000"], "out of range"),
        (["probe", "127.0.0.1", "-p", "smtp"], "not a number"),
        (["probe", "127.0.0.1", "-p", "0"], "out of range"),
        (["probe", "bad host"], "spaces"),
        (["probe", ""], "empty"),
        (["probe", "127.0.0.1", "--timeout", "soon"], "not a number"),
        (["probe", "127.0.0.1", "--mode", "ssl"], "invalid choice"),
        (["probe", "127.0.0.1", "--ehlo", "x\r\nQUIT"], "EHLO"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_probe_table_and_json(servers: ServerThread) -> None:
    port = servers.smtp()
    table = run("probe", "127.0.0.1", "-p", str(port), "--timeout", "3")
    assert table.returncode == 0, table.stderr
    assert "OUTCOME" in table.stdout and "open" in table.stdout
    out = run("probe", "127.0.0.1", "-p", f"{port},1", "--json", "--timeout", "3")
    assert out.returncode == 0
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["outcome"] for r in records] == ["open", "refused"]
    assert all(list(r) == list(schema.FIELD_NAMES) for r in records)


def test_a_module_can_register_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    """How smtplab.doctor (or any later command) plugs in: register(name, help, add, run)."""
    from smtplab import cli

    def add(p: object) -> None:
        p.add_argument("--shout", action="store_true")  # type: ignore[attr-defined]

    def run(args: object) -> int:
        print("HELLO" if args.shout else "hello")  # type: ignore[attr-defined]
        return 0

    cli.register("hello", "say hello", add, run)
    try:
        assert main(["hello", "--shout"]) == 0
        assert capsys.readouterr().out == "HELLO\n"
        assert "hello" in cli.build_parser().format_help()
    finally:
        del cli.COMMANDS["hello"]
    assert main(["hello"]) == 2  # gone again: an unknown command, one line


def fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter, so that what it imports is its own doing."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_json_probe_loads_only_the_probe_engine() -> None:
    """`smtplab probe --json` starts fast because it loads neither the terminal renderer nor the
    lab, the records layer or the advice engine; and `import smtplab` loads no engine at all."""
    code = (
        "import sys, smtplab\n"
        "assert 'smtplab.engine' not in sys.modules, 'import smtplab loaded the probe engine'\n"
        "from smtplab.cli import main\n"
        "status = main(['probe', '127.0.0.1', '-p', '1', '--json', '--timeout', '1'])\n"
        "heavy = ('rich', 'smtplab.advice', 'smtplab.doctor', 'smtplab.lab', 'smtplab.records',\n"
        "         'smtplab.discovery', 'smtplab.replaying', 'pandas')\n"
        "loaded = sorted({m.split('.')[0] if m.startswith(('rich', 'pandas')) else m\n"
        "                 for m in sys.modules if m.startswith(heavy)})\n"
        "print('LOADED', status, loaded, file=sys.stderr)\n"
    )
    done = fresh_python(code)
    assert "LOADED 0 []" in done.stderr, done.stderr
    assert json.loads(done.stdout)["outcome"] == "refused"


def test_public_functions_are_plain_functions_whatever_is_imported() -> None:
    """`smtplab.probe`, `smtplab.discover` and `smtplab.replay` are functions defined in modules
    of other names (no module-class swap): importing every engine module changes nothing, and
    the old module paths are gone rather than half there."""
    code = (
        "import importlib, types, smtplab\n"
        "first = smtplab.probe\n"
        "import smtplab.engine.options, smtplab.discovery, smtplab.replaying\n"
        "from smtplab.engine import run\n"
        "assert smtplab.probe is first and callable(first), smtplab.probe\n"
        "assert callable(smtplab.discover) and callable(smtplab.replay)\n"
        "assert smtplab.replay_record is smtplab.replay\n"
        "assert type(smtplab) is types.ModuleType, type(smtplab)\n"
        "import smtplab as again\n"
        "assert again.probe.__module__ == 'smtplab.engine.run'\n"
        "for old in ('smtplab.probe', 'smtplab.replay', 'smtplab.discover'):\n"
        "    try:\n"
        "        importlib.import_module(old)\n"
        "    except ImportError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(old + ' is still a module')\n"
        "print('OK')\n"
    )
    done = fresh_python(code)
    assert done.stdout.strip() == "OK", done.stderr


def test_version() -> None:
    from smtplab import __version__

    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"smtplab {__version__}"


@pytest.mark.parametrize(
    "command",
    ["", "probe", "doctor", "explain", "lab", "record", "show", "merge", "class", "notebooks"],
)
def test_every_help_ends_with_examples_that_parse(command: str) -> None:
    import shlex

    from smtplab.cli import COMMANDS, EXAMPLES, build_parser

    assert command == "" or command in COMMANDS
    done = run(*([command] if command else []), "--help")
    assert done.returncode == 0
    assert "examples:\n" in done.stdout, done.stdout
    for example, _ in EXAMPLES[command]:
        assert example in done.stdout
        argv = shlex.split(example)[1:]
        args = build_parser(argv).parse_args(argv)  # raises UsageError for a wrong example
        assert args.command == argv[0]


def test_every_registered_command_has_examples() -> None:
    from smtplab.cli import COMMANDS, EXAMPLES

    assert set(COMMANDS) <= set(EXAMPLES), set(COMMANDS) - set(EXAMPLES)
