"""The imports run one way (ARCHITECTURE.md): no module imports a layer above its own, and no
modules import each other in a circle. Read with ``ast`` from the source, imports inside
functions and under ``TYPE_CHECKING`` included, so a lazy import cannot hide a wrong direction."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "smtplab"

#: The layers, bottom first. A module may import its own layer and those below, never above.
#: The key is the first name under ``smtplab`` (a module, or a package and all it holds).
LAYERS: dict[str, int] = {
    # 0: words and rules every part shares, and plain plumbing that knows nothing of SMTP
    **dict.fromkeys(
        ("errors", "_paths", "schema", "rules", "protocol", "redaction", "safe_text", "webserver"),
        0,
    ),
    # 3 (with advice): the login check, its options checked and its answer explained
    "login_check": 3,
    # 3 (with advice): the word every view shows for a probe, judged with advice's evidence
    "outcome_words": 3,
    # 1: the probe engine and what a result means
    **dict.fromkeys(
        (
            "tls",
            "certcheck",
            "openssl_verdict",
            "certpath",
            "certcard",
            "findings",
            "catalogue",
            "engine",
            "discovery",
        ),
        1,
    ),
    # 2: records: files, checking, normalising, replay, importers, reference data
    **dict.fromkeys(
        (
            "records",
            "prose_events",
            "replaying",
            "importers",
            "reference",
            "knowledge",
            "labworld",
            "synthetic",
            "_synthetic_servers",
            "distributed",
        ),
        2,
    ),
    # 3: advice over records and provider facts
    **dict.fromkeys(("advice", "checklist"), 3),
    # 4: the embedded lab, and the datasets recorded from it
    **dict.fromkeys(("lab", "datasets"), 4),
    # 5: the class collector
    "classroom": 5,
    # 6: views: charts, widgets, the notebooks' files
    **dict.fromkeys(("charts", "widgets", "notebooks"), 6),
    # 7: the command line and the package's public face
    **dict.fromkeys(("cli", "doctor", "__main__", "__init__"), 7),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every smtplab module ``name`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # from smtplab import schema: the submodule; from smtplab.x import f: the module x
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
            targets = subs or [module]
        else:
            continue
        for target in targets:
            while target and target not in known:  # import smtplab.a.b.c -> the deepest module
                target = target.rpartition(".")[0]
            if target.startswith("smtplab") and target != name:
                yield target


def _key(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: set(_imports(name, path, known)) for name, path in known.items()}


def test_every_module_has_a_layer() -> None:
    assert sorted({_key(m) for m in _modules()} - set(LAYERS)) == []


def test_the_scan_sees_lazy_imports() -> None:
    """certcheck imports certpath only inside functions (and under TYPE_CHECKING): the scan
    must see it."""
    assert "smtplab.certpath" in _graph()["smtplab.certcheck"]


def _upward() -> dict[tuple[str, str], int]:
    out = {}
    for module, targets in _graph().items():
        for target in targets:
            if target == "smtplab":  # the package itself: Python runs it before any submodule
                continue
            if LAYERS[_key(target)] > LAYERS[_key(module)]:
                out[module, target] = LAYERS[_key(target)]
    return out


def test_no_module_imports_a_layer_above_its_own() -> None:
    """None does (issue 22 took the last ones out): a new one fails here, naming it."""
    assert sorted(_upward()) == []


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    graph = _graph()
    # a package's __init__ re-exports its modules: an edge from the package to its own
    # submodules is how Python packages work, not a cycle between concerns
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    assert sorted(map(sorted, _cycles(graph))) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_the_architecture_page_names_every_part() -> None:
    page = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for key in LAYERS:
        shown = "smtplab/__init__.py" if key == "__init__" else key
        package = (PACKAGE / key).is_dir()
        assert f"`{shown}/`" in page if package else f"`{shown}`" in page, key
