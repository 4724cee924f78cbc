"""The course notebooks: their shape, that they are stored clean, and that they run.

Three kinds of test, for every ``notebooks/*.ipynb``:

* **shape** (fast, no kernel): one title; an Overview with numbered objectives; Prerequisites;
  "Time to learn"; at least two exercises, each followed by an answer cell (``answer_N = None``)
  and a self-check cell, with a solution in ``<details>``; Summary, What's next and Resources.
* **clean**: no outputs and no execution counts are committed (CI executes the notebooks).
* **execution** (marker ``notebooks``): every notebook runs top to bottom, offline against the
  lab, on a copy in a temporary folder (the working directory is that copy, as for a learner's
  ``smtplab notebooks`` copy), without an error, without a traceback in any output, and in under
  a minute. The notebooks run two at a time, each in its own kernel, once per session.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

#: The issue's budget: each notebook runs top to bottom in under a minute.
BUDGET_S = 60.0
#: nbclient's limit for one cell: far above any cell, so a hang fails rather than blocks CI.
CELL_TIMEOUT_S = 120
#: Two cores in CI: two kernels at a time.
WORKERS = 2

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
#: What a warning looks like in an output box (with the file path Python prints beside it).
_NOISE = re.compile(r"\b\w*Warning: |/site-packages/")
_EXERCISE = re.compile(r"^###\s+Exercise\s+(\d+)\b", re.MULTILINE)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _prose(cell: Any) -> str:
    """A markdown cell's text without fenced code blocks (their ``# comments`` are not headings)."""
    return _FENCE.sub("", cell.source)


def _markdown(nb: nbformat.NotebookNode) -> str:
    return "\n".join(_prose(c) for c in nb.cells if c.cell_type == "markdown")


def _section(text: str, heading: str) -> str | None:
    """The text under ``## heading`` up to the next ``#``/``##`` heading, or None if absent."""
    m = re.search(
        rf"^##\s+{heading}\s*$(.*?)(?=^#{{1,2}}\s|\Z)",
        text,
        re.MULTILINE | re.DOTALL | re.IGNORECASE,
    )
    return m.group(1) if m else None


def test_the_course_is_there() -> None:
    assert len(NOTEBOOKS) >= 2, f"no notebooks found in {NOTEBOOKS_DIR}"
    names = [p.name for p in NOTEBOOKS]
    assert all(re.match(r"\d\d_[a-z0-9_]+\.ipynb$", n) for n in names), names


# --------------------------------------------------------------------------------------------
# shape


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_header(path: Path) -> None:
    nb = _read(path)
    text = _markdown(nb)
    titles = re.findall(r"^#\s+\S.*$", text, re.MULTILINE)
    assert len(titles) == 1, f"{path.name}: expected exactly one '# ' title, found {titles}"
    first = next(c for c in nb.cells if c.source.strip())
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), (
        f"{path.name}: the title must be the first cell"
    )
    overview = _section(text, "Overview")
    assert overview is not None, f"{path.name}: no '## Overview' section"
    objectives = re.findall(r"^\s*\d+\.\s+\S", overview, re.MULTILINE)
    assert len(objectives) >= 2, f"{path.name}: the Overview needs numbered objectives"
    prereq = _section(text, "Prerequisites")
    assert prereq is not None, f"{path.name}: no '## Prerequisites' section"
    assert "|" in prereq, f"{path.name}: Prerequisites should be a table"
    assert re.search(r"Time to learn\W+\s*\d+\s+minutes", text, re.IGNORECASE), (
        f"{path.name}: no 'Time to learn: N minutes'"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec must be python3"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_imports_in_one_cell_near_the_top(path: Path) -> None:
    code = [c for c in _read(path).cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cells"
    import_cells = [
        i for i, c in enumerate(code) if re.search(r"^(import|from)\s+\S+", c.source, re.MULTILINE)
    ]
    assert import_cells and import_cells[0] == 0, (
        f"{path.name}: the first code cell should hold the imports"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises(path: Path) -> None:
    cells = _read(path).cells
    found = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        m = _EXERCISE.search(_prose(cell))
        if not m:
            continue
        n = m.group(1)
        found.append(n)
        where = f"{path.name}, Exercise {n}"
        assert i + 3 < len(cells), f"{where}: missing answer, self-check or solution cells"
        answer, check = cells[i + 1], cells[i + 2]
        assert answer.cell_type == "code", f"{where}: the cell after the prompt must be code"
        lines = [ln.strip() for ln in answer.source.splitlines() if ln.strip()]
        assert f"answer_{n} = None" in lines, f"{where}: answer cell must set answer_{n} = None"
        assert all(ln.startswith("#") or ln == f"answer_{n} = None" for ln in lines), (
            f"{where}: the answer cell must be empty apart from comments and answer_{n} = None"
        )
        assert check.cell_type == "code", f"{where}: a self-check code cell must follow the answer"
        assert f"answer_{n}" in check.source, f"{where}: the self-check must read answer_{n}"
        assert re.search(r"not answered yet", check.source, re.IGNORECASE), (
            f"{where}: the self-check must say 'not answered yet' while answer_{n} is None"
        )
        assert "raise" not in re.sub(r"#.*", "", check.source), (
            f"{where}: a self-check prints feedback, it never raises"
        )
        rest = cells[i + 3 :]
        nxt = next(
            (
                j
                for j, c in enumerate(rest)
                if c.cell_type == "markdown" and _EXERCISE.search(_prose(c))
            ),
            len(rest),
        )
        solution = [
            c
            for c in rest[:nxt]
            if c.cell_type == "markdown" and "<details>" in c.source and "Solution" in c.source
        ]
        assert solution, f"{where}: no <details><summary>Solution</summary> after the self-check"
    assert len(found) >= 2, f"{path.name}: needs at least two '### Exercise N', found {found}"
    assert len(set(found)) == len(found), f"{path.name}: exercise numbers repeat: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_closing_sections(path: Path) -> None:
    text = _markdown(_read(path))
    positions = []
    for heading in ("Summary", "What's next", "Resources"):
        m = re.search(rf"^##\s+{re.escape(heading)}\s*$", text, re.MULTILINE | re.IGNORECASE)
        assert m, f"{path.name}: no '## {heading}' section"
        positions.append(m.start())
    assert positions == sorted(positions), f"{path.name}: Summary, What's next, Resources, in order"
    resources = _section(text, "Resources") or ""
    assert re.search(r"https?://", resources), f"{path.name}: Resources should link sources"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path: Path) -> None:
    nb = _read(path)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} are stored with outputs or execution counts; clear them "
        "(e.g. jupyter nbconvert --clear-output --inplace)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_self_checks_are_folded(path: Path) -> None:
    """A self-check's code computes or fingerprints its answer: it is folded, so that the answer
    stays hidden until the learner asks for it (issue 13)."""
    checks = [c for c in _read(path).cells if c.cell_type == "code" and "# Self-check" in c.source]
    open_ = [
        c.source.splitlines()[0]
        for c in checks
        if not c.metadata.get("jupyter", {}).get("source_hidden")
    ]
    assert not open_, f"{path.name}: self-checks shown unfolded: {open_}"


_WIDGET_NAME = re.compile(r"^([A-Za-z_]\w*)\s*=\s*widgets\.\w+\(", re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_run_all_leaves_no_widget_blank(path: Path) -> None:
    """Run All must not end by closing the widgets it showed (issue 16): a widget's ``.close()``
    may only run when the learner asks for it (inside an ``if``), never unconditionally."""
    cells = [c for c in _read(path).cells if c.cell_type == "code"]
    names = {m for c in cells for m in _WIDGET_NAME.findall(c.source)}
    closing = [
        (i, name)
        for i, c in enumerate(cells)
        for name in sorted(names)
        if re.search(rf"^{re.escape(name)}\.close\(\)", c.source, re.MULTILINE)
    ]
    assert not closing, (
        f"{path.name}: code cells close widgets whenever Run All reaches them: {closing}"
    )


_SHOWN_WIDGET = re.compile(r"^([A-Za-z_]\w*)\s*$")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_each_story_step_keeps_its_own_widget(path: Path) -> None:
    """A widget a cell shows is not changed by a later cell (issue 25): after Run All every
    widget on screen must still show the step its text speaks of, not the last step of the
    story (notebook 07's first panel showed strict-firewall under a text about home-isp).
    Later cells may run it, read it, or set an input and set it back in the same cell (a
    quick question to its filters); a new step gets a widget of its own."""
    cells = [c for c in _read(path).cells if c.cell_type == "code"]
    names = {m for c in cells for m in _WIDGET_NAME.findall(c.source)}
    changed = []
    for i, cell in enumerate(cells):
        lines = cell.source.strip().splitlines()
        last = _SHOWN_WIDGET.match(lines[-1]) if lines else None
        if last is None or last.group(1) not in names:
            continue
        name = re.escape(last.group(1))
        setter = re.compile(rf"^\s*({name}\.[\w.\[\]\"' ]+\.value)\s*=", re.MULTILINE)
        for j in range(i + 1, len(cells)):
            targets = setter.findall(cells[j].source)
            if any(targets.count(t) == 1 for t in targets):  # set, and not set back
                changed.append((i, j))
    assert not changed, (
        f"{path.name}: widgets shown in a cell get new inputs in a later cell: {changed}"
    )


# --------------------------------------------------------------------------------------------
# execution


def _execute(path_text: str, workdir_text: str) -> dict[str, Any]:
    """Run one notebook copy in its own kernel (in a worker process); report time and errors."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    path = Path(path_text)
    error = None
    retried = None
    # A cell that fails is the notebook's fault and is never retried. A kernel that does not
    # start or dies is the machine's: that gets one more try, and the report says so.
    for attempt in (1, 2):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": workdir_text}},
        )
        error = None
        start = time.monotonic()
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError) as exc:
            error = str(exc)[-3000:]
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[-3000:]
            if attempt == 1:
                retried = error
                continue
        break
    seconds = time.monotonic() - start
    tracebacks: list[str] = []
    noise: list[str] = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = "".join(
                [str(out.get("text", ""))]
                + [str(v) for v in out.get("data", {}).values() if isinstance(v, str)]
                + list(out.get("traceback", []))
            )
            if out.get("output_type") == "error" or "Traceback" in text:
                tracebacks.append(f"cell {i}: {text[-800:]}")
            elif out.get("name") == "stderr" or _NOISE.search(text):
                noise.append(f"cell {i}: {text[-800:]}")
    nbformat.write(nb, path)  # the executed copy, for a look when a test fails
    return {
        "seconds": seconds,
        "error": error,
        "tracebacks": tracebacks,
        "noise": noise,
        "retried": retried,
    }


def _selected(request: pytest.FixtureRequest) -> list[Path]:
    """The notebooks this session's selected tests need: all for the whole-course test, else
    only those picked with ``-k`` (so ``-k 10_`` runs one notebook, not the course)."""
    wanted = set()
    for item in request.session.items:
        name = getattr(item, "originalname", item.name)
        if name == "test_the_whole_course_runs_well_under_five_minutes":
            return NOTEBOOKS
        if name == "test_notebook_runs_offline_in_under_a_minute":
            wanted.add(item.callspec.id)  # type: ignore[attr-defined]
    return [p for p in NOTEBOOKS if p.stem in wanted]


@pytest.fixture(scope="module")
def executed(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, dict[str, Any]]:
    """The selected notebooks executed once, two at a time, on a copy of the notebooks folder."""
    workdir = tmp_path_factory.mktemp("course") / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, workdir, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    # spawn: each worker is a fresh interpreter, free of pytest's warning filters
    ctx = multiprocessing.get_context("spawn")
    results: dict[str, dict[str, Any]] = {}
    start = time.monotonic()
    with concurrent.futures.ProcessPoolExecutor(max_workers=WORKERS, mp_context=ctx) as pool:
        futures = {
            pool.submit(_execute, str(workdir / p.name), str(workdir)): p.stem
            for p in _selected(request)
        }
        for fut in concurrent.futures.as_completed(futures):
            results[futures[fut]] = fut.result()
    results["__total__"] = {"seconds": time.monotonic() - start}
    return results


def _timings(executed: dict[str, dict[str, Any]]) -> str:
    rows = [f"{k}: {v['seconds']:.1f} s" for k, v in sorted(executed.items())]
    return "; ".join(rows)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_offline_in_under_a_minute(
    path: Path, executed: dict[str, dict[str, Any]]
) -> None:
    result = executed[path.stem]
    assert result["error"] is None, f"{path.name} failed:\n{result['error']}"
    assert not result["tracebacks"], f"{path.name} printed a traceback:\n" + "\n".join(
        result["tracebacks"]
    )
    # nothing on stderr, no warning and no path into the installed packages on a learner's screen
    assert not result["noise"], f"{path.name} printed a warning:\n" + "\n".join(result["noise"])
    assert result["seconds"] < BUDGET_S, (
        f"{path.name} took {result['seconds']:.1f} s (budget {BUDGET_S:.0f} s). "
        f"All timings: {_timings(executed)}"
    )


@pytest.mark.notebooks
def test_the_whole_course_runs_well_under_five_minutes(executed: dict[str, dict[str, Any]]) -> None:
    print("notebook timings (two at a time):", _timings(executed))  # shown with pytest -rP
    for name, result in sorted(executed.items()):
        if result.get("retried"):
            print(f"{name}: the kernel failed once and was restarted: {result['retried']}")
    assert executed["__total__"]["seconds"] < 300, _timings(executed)


# --------------------------------------------------------------------------------------------
# framing questions, key points and the glossary (issue 26)
#
# The rule: every notebook opens its Overview with a "> **Questions**" box and ends, just before
# its Summary, with a "> **Key points**" box whose "*New words*" line lists the terms it
# introduces. GLOSSARY.md must define each of them and name that notebook under "Seen in"; each
# glossary entry must be introduced by some notebook; and every acronym in a notebook's prose
# must be a glossary entry or one of the general words below.

GLOSSARY = NOTEBOOKS_DIR / "GLOSSARY.md"
_KEY_POINTS = re.compile(r"^>\s*\*\*Key points\*\*", re.MULTILINE)
_NEW_WORDS = re.compile(r"^>\s*\*New words\*[^:]*:\s*(.+?)\s*$", re.MULTILINE)
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,}(?:-[A-Z0-9]+)*\b")
#: Acronyms a notebook may use without a glossary entry: general computing words, organisations,
#: units, identifiers, RFC 2119 keywords, SMTP command and mechanism names, state names, and
#: words an RFC capitalises in a sentence the course quotes (RFC 5068's "SUBMISSION port 587").
_GENERAL = """API AWS BCP BY CLOSED CONNECTING CR LF DATA DER PEM DROP REJECT FAQ GB MB GLOSSARY
GREETING GROUP HOWTO HTTPS IANA IP ISP JSON LOGIN PLAIN M3AAWG MAAWG MAIL MDN MIME MUST SHOULD NOT
MAY NO NUL PKI QUIT RCPT READY RFC SES SESSION SHA-256 SIZE SQL SSL SYN TCP TXT USENIX VM WP AUTH
EHLO-SENT STARTTLS-SENT TLS-HANDSHAKE DANE-EE HELO SUBMISSION"""
GENERAL_WORDS = frozenset(_GENERAL.split())


def _glossary() -> dict[str, set[str]]:
    """Every name a glossary entry answers to (lower case) -> the notebooks in its 'Seen in'."""
    entries: dict[str, set[str]] = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| **"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 4 and all(cells), f"GLOSSARY.md: a row needs four cells: {line[:80]}"
        names = re.findall(r"\*\*(.+?)\*\*", cells[0]) + re.findall(r"\(([^)]*)\)", cells[0])
        seen = set(re.findall(r"\b\d\d\b", cells[3]))
        for name in names:
            entries[name.strip().lower()] = seen
    return entries


def _key_points(nb: nbformat.NotebookNode) -> str:
    boxes = [
        c.source for c in nb.cells if c.cell_type == "markdown" and _KEY_POINTS.search(c.source)
    ]
    return boxes[0] if boxes else ""


def _new_words(nb: nbformat.NotebookNode) -> list[str]:
    m = _NEW_WORDS.search(_key_points(nb))
    return [w.strip() for w in m.group(1).rstrip(".").split(",") if w.strip()] if m else []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_questions_and_key_points(path: Path) -> None:
    nb = _read(path)
    overview = _section(_markdown(nb), "Overview") or ""
    assert re.search(r"^>\s*\*\*Questions\*\*", overview, re.MULTILINE), (
        f"{path.name}: the Overview should open with a '> **Questions**' box"
    )
    assert re.search(r"^>\s*-\s+\S.*\?\s*$", overview, re.MULTILINE), (
        f"{path.name}: the Questions box needs at least one question"
    )
    cells = [c for c in nb.cells if c.cell_type == "markdown"]
    box = next((i for i, c in enumerate(cells) if _KEY_POINTS.search(c.source)), None)
    summary = next(
        (i for i, c in enumerate(cells) if re.search(r"^##\s+Summary", c.source, re.M)), None
    )
    assert box is not None, f"{path.name}: no '> **Key points**' box"
    assert summary is not None and box < summary, f"{path.name}: Key points go before the Summary"
    bullets = re.findall(r"^>\s*-\s+\S", cells[box].source, re.MULTILINE)
    assert len(bullets) >= 2, f"{path.name}: the Key points box needs at least two points"
    assert _new_words(nb), f"{path.name}: the Key points box needs a '*New words*: …' line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_new_words_are_defined_in_the_glossary(path: Path) -> None:
    nb = _read(path)
    glossary = _glossary()
    number = path.name[:2]
    box = _key_points(nb)
    prose = "\n".join(
        _prose(c) for c in nb.cells if c.cell_type == "markdown" and c.source != box
    ).lower()
    for word in _new_words(nb):
        assert word.lower() in glossary, (
            f"{path.name}: '{word}' is a new word with no GLOSSARY entry"
        )
        assert number in glossary[word.lower()], (
            f"{path.name}: GLOSSARY.md's entry for '{word}' should list {number} under 'Seen in'"
        )
        assert word.lower() in prose, f"{path.name}: '{word}' is listed as new but never used"


def test_every_glossary_entry_is_introduced_by_a_notebook() -> None:
    introduced = {w.lower() for p in NOTEBOOKS for w in _new_words(_read(p))}
    rows = [ln for ln in GLOSSARY.read_text(encoding="utf-8").splitlines() if ln.startswith("| **")]
    orphans = []
    for row in rows:
        first = row.strip().strip("|").split(" | ")[0]
        names = re.findall(r"\*\*(.+?)\*\*", first) + re.findall(r"\(([^)]*)\)", first)
        if not {n.strip().lower() for n in names} & introduced:
            orphans.append(first)
    assert not orphans, f"GLOSSARY.md entries no notebook lists as a new word: {orphans}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_acronyms_are_in_the_glossary(path: Path) -> None:
    glossary = {name.upper() for name in _glossary()}
    text = _markdown(_read(path))
    text = re.sub(r"`[^`]*`", "", text)  # code names are not words of the course
    text = re.sub(r"\(https?://[^)]*\)|https?://\S+", "", text)  # nor are addresses
    unknown = sorted(
        {
            w
            for w in _ACRONYM.findall(text)
            if w not in glossary
            and w not in GENERAL_WORDS
            and not re.fullmatch(r"(RFC|CVE|MC|HT)[-\d]+|POP3|\d.*", w)
        }
    )
    assert not unknown, (
        f"{path.name}: acronyms with no GLOSSARY entry: {unknown} (define them, or add a general "
        "word to GENERAL_WORDS in this test)"
    )
