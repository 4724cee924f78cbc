"""Every finding code smtplab can report is in the catalogue, and docs/findings.md shows it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from smtplab import catalogue, schema
from smtplab.findings import RULES, cert_finding_code

ROOT = Path(__file__).resolve().parent.parent
#: The callables that make a finding from a code given first.
_MAKERS = {"Finding", "live_finding", "_finding"}


def _strings(node: ast.AST) -> set[str]:
    """The strings a value can be: constants, also inside ``a if c else b`` (not keys of a
    subscript or arguments of a call, which are not the value)."""
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_strings(v) for v in node.values))
    return set()


def _emitted() -> dict[str, set[str]]:
    """code -> the modules that make it: a string given first to a finding maker, or every
    string a name given first is assigned in the same function."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "smtplab").rglob("*.py")):
        name = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scopes = [
            n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        for scope in scopes:
            assigned: dict[str, set[str]] = {}
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        for t in ast.walk(target):
                            if isinstance(t, ast.Name):
                                # code, message = "tls_required", "…": the first string is the code
                                value = node.value
                                if isinstance(value, ast.Tuple) and isinstance(target, ast.Tuple):
                                    i = [e.id for e in target.elts if isinstance(e, ast.Name)]
                                    value = value.elts[i.index(t.id)] if t.id in i else value
                                assigned.setdefault(t.id, set()).update(_strings(value))
            for node in ast.walk(scope):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called not in _MAKERS or (called == "_finding" and "synthetic" not in name):
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    codes = {first.value}
                elif isinstance(first, ast.Name):
                    codes = assigned.get(first.id, set())
                else:
                    continue
                for code in codes:
                    found.setdefault(code, set()).add(name)
    return found


def test_the_scan_sees_the_engine_findings() -> None:
    """The scan below is only as good as what it finds: it must see the live findings."""
    emitted = _emitted()
    assert {"starttls_injection", "auth_ok", "mail_needs_login", "protocol_problem"} <= set(emitted)
    assert "smtplab/engine/conversation.py" in emitted["starttls_refused"]


def test_every_code_made_anywhere_is_in_the_catalogue() -> None:
    emitted = _emitted()
    # the synthetic generator's variable codes: outcome words and certificate problems
    variable = {"filtered", "refused", "silent", "not_smtp", "reset", "tls_failed"}
    missing = {
        code: sorted(where)
        for code, where in emitted.items()
        if code not in catalogue.codes()
        and not (code in schema.OUTCOMES and code not in variable)
        and code not in schema.SEVERITIES
    }
    assert missing == {}


def test_every_certificate_problem_has_a_catalogued_code() -> None:
    for problem in schema.CERT_PROBLEMS:
        assert cert_finding_code(problem) in catalogue.codes()


def test_codes_are_unique_and_severities_known() -> None:
    codes = [e.code for e in catalogue.CATALOGUE]
    assert len(codes) == len(set(codes))
    assert len(catalogue.CATALOGUE) == len(RULES) + len(catalogue.LIVE)
    for e in catalogue.CATALOGUE:
        assert e.severities and set(e.severities) <= set(schema.SEVERITIES), e.code
        assert e.template and e.source, e.code


def test_a_finding_missing_from_the_catalogue_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not in smtplab\.catalogue"):
        catalogue.live_finding("made_up", "info", "x")
    with pytest.raises(ValueError, match="severity"):
        catalogue.live_finding("auth_ok", "high", "x")
    assert catalogue.live_finding("auth_ok", "info", "ok").code == "auth_ok"


def test_the_docs_page_is_up_to_date() -> None:
    page = ROOT / "docs" / "findings.md"
    assert page.read_text(encoding="utf-8") == catalogue.render_markdown(), (
        "docs/findings.md is stale: run python -m smtplab.catalogue"
    )
    for e in catalogue.CATALOGUE:
        assert f"| `{e.code}` |" in page.read_text(encoding="utf-8")
