"""The probe's rules are said once (smtplab/rules.py): the signatures, the command line and the
checks all agree with the table."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import smtplab
from smtplab import rules
from smtplab.cli import build_parser
from smtplab.engine import ProbeInputError, ProbeOptions
from smtplab.engine.run import _MANY_OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def _keywords(func: object) -> list[tuple[str, object]]:
    sig = inspect.signature(func)  # type: ignore[arg-type]
    return [(p.name, p.default) for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]


@pytest.mark.parametrize(
    "func,every",
    [(smtplab.probe, False), (smtplab.aprobe, False), (ProbeOptions.create, True)],
    ids=["probe", "aprobe", "create"],
)
def test_signatures_match_the_options_table(func: object, every: bool) -> None:
    want = [(o.name, o.default) for o in rules.OPTIONS if every or o.single]
    assert _keywords(func) == want
    port = inspect.signature(func).parameters["port"]  # type: ignore[arg-type]
    assert port.default == rules.DEFAULT_PORT


def test_probe_many_passes_on_every_option_of_the_table() -> None:
    assert set(_MANY_OPTIONS) == {o.name for o in rules.OPTIONS}


def test_the_command_line_flags_come_from_the_table() -> None:
    parser = build_parser()
    args = parser.parse_args(["probe", "h"])
    for o in rules.OPTIONS:
        if o.flag is None:
            continue
        assert o.flag in parser.format_help() or hasattr(args, o.name)
        assert hasattr(args, o.name), o.name
        if o.kind == "bool" or o.choices:
            assert getattr(args, o.name) == o.default, o.name
    flagged = parser.parse_args(
        ["probe", "h", *[o.flag for o in rules.OPTIONS if o.flag and o.kind == "bool"]]
    )
    assert all(getattr(flagged, o.name) for o in rules.OPTIONS if o.flag and o.kind == "bool")


def test_the_deadline_is_one_function() -> None:
    assert rules.deadline_for(8.0) == 26.0
    assert rules.deadline_for(599.0) == rules.MAX_TIMEOUT
    assert ProbeOptions.create("127.0.0.1", 25, timeout=1.5).deadline == rules.deadline_for(1.5)
    assert ProbeOptions.deadline == rules.deadline_for(rules.DEFAULT_TIMEOUT)


@pytest.mark.parametrize("bad", [0.001, 601, float("nan"), "8", True])
def test_one_wording_for_a_bad_timeout(bad: object) -> None:
    with pytest.raises(ProbeInputError) as err:
        ProbeOptions.create("127.0.0.1", 25, timeout=bad)
    assert str(err.value).startswith("timeout must be")
    assert f"{rules.MIN_TIMEOUT:g}" in str(err.value) and f"{rules.MAX_TIMEOUT:g}" in str(err.value)


def test_the_command_line_says_the_same_about_a_bad_timeout() -> None:
    from smtplab.cli.errors import UsageError
    from smtplab.cli.options import timeout_seconds

    for text in ("abc", "0.001", "nan"):
        with pytest.raises(UsageError) as err:
            timeout_seconds(text)
        assert str(err.value) == rules.timeout_problem(text, "--timeout", text=True)
        assert str(err.value).startswith("--timeout must be a number of seconds between 0.05")
    assert timeout_seconds("2.5") == 2.5


#: Spellings of a rule that once lived in several places; each now lives in smtplab/rules.py.
_SAID_ONCE = {
    "the four ports": (25, 465, 587, 2525),
    "the TLS floor": ("TLSv1.2", "TLSv1.3"),
}


def _tuples(tree: ast.AST) -> set[tuple[object, ...]]:
    """Every tuple of constants written in the code (docstrings and comments do not count)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
            out.add(tuple(e.value for e in node.elts))  # type: ignore[attr-defined]
    return out


def _modules() -> list[tuple[str, ast.AST, str]]:
    return [
        (str(path.relative_to(ROOT)), ast.parse(text := path.read_text(encoding="utf-8")), text)
        for path in sorted((ROOT / "smtplab").rglob("*.py"))
    ]


@pytest.mark.parametrize("rule", sorted(_SAID_ONCE))
def test_each_rule_is_said_in_one_module(rule: str) -> None:
    where = [name for name, tree, _ in _modules() if _SAID_ONCE[rule] in _tuples(tree)]
    assert where == ["smtplab/rules.py"]


def test_the_deadline_formula_is_written_once() -> None:
    formula = re.compile(r"3 \* [a-z_.]*timeout \+ 2|3 \* t \+ 2")
    where = [name for name, _, text in _modules() if formula.search(text)]
    assert where == ["smtplab/rules.py"]
