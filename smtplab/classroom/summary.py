"""What the teacher's live view shows, computed from the class's store.

* **the grid**: for each learner's network and each port, the word of the latest probes
  (:func:`smtplab.outcome_words.shown_outcome`: an intercepted 25 is ``intercepted``, never
  ``open``) and how many probes say it;
* **which networks block 25**: the networks whose port 25 did not get out;
* **the server or my network?**: for each learner's failing target, whether another learner's
  network reached the same host and port (then it is this network) or nobody's did;
* **the class's advice**: :func:`smtplab.advise` on each learner's own records (what was measured
  on that network; another network's results never stand in for it).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from smtplab.classroom.store import ClassStore
from smtplab.outcome_words import BAD_WORDS

__all__ = ["MAX_ROWS", "diagnose", "summarise"]

#: Rows of "is it the server or my network?" sent to the page (a class probing thousands of
#: hosts would otherwise send them all every two seconds); the total is sent beside them.
MAX_ROWS = 200


def _dominant(counts: dict[str, int]) -> str:
    """The word most probes said; on a tie, the worse one (a flaky port is not "open")."""
    return max(counts, key=lambda w: (counts[w], w != "open", w))


def diagnose(
    by_target: list[tuple[str, int, str, str, int]], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """For each learner's failing (host, port): "this network" when another learner's network
    reached it, else "the server, or every network tried"."""
    words: dict[tuple[str, int], dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for host, port, learner, word, n in by_target:
        words[host, port][learner][word] += n
    rows = []
    for (host, port), learners in sorted(words.items()):
        verdicts = {learner: _dominant(counts) for learner, counts in learners.items()}
        reached_by = sorted(labels.get(w, w) for w, v in verdicts.items() if v == "open")
        for learner, word in sorted(verdicts.items(), key=lambda kv: labels.get(kv[0], "")):
            if word not in BAD_WORDS:
                continue
            if reached_by:
                answer = f"your network: {', '.join(reached_by)} reached it"
            else:
                answer = "the server, or every network tried: nobody reached it"
            rows.append(
                {"label": labels.get(learner, learner), "host": host, "port": port,
                 "word": word, "answer": answer}
            )  # fmt: skip
    return rows


def _advice(mine: list[dict[str, Any]]) -> dict[str, Any]:
    from smtplab.advice import advise

    advice = advise(mine, purpose="mail-client")
    rec = advice.recommended
    if rec is None:
        return {"port": None, "security": None, "confidence": advice.confidence}
    return {"port": rec.port, "security": rec.security, "confidence": advice.confidence}


def summarise(store: ClassStore) -> dict[str, Any]:
    """The live view's data, JSON-ready (computed again only when the class's data changed)."""
    # the page polls every two seconds, and nothing changes between most polls
    version = store.version()
    cached = store.cache.get("summary")
    if cached is not None and cached[0] == version:
        return dict(cached[1])
    result = _summarise(store)
    store.cache["summary"] = (version, result)
    return result


def _summarise(store: ClassStore) -> dict[str, Any]:
    learners = store.learners()
    labels = {lr.id: lr.label for lr in learners}
    cells: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for learner, _label, port, word, n in store.by_port_and_network():
        cells[learner, port][word] += n
    ports = sorted({port for _, port in cells} | {25, 465, 587, 2525})
    grid = [
        {"learner": learner, "label": labels.get(learner, learner), "port": port,
         "word": _dominant(counts), "probes": sum(counts.values())}
        for (learner, port), counts in sorted(cells.items())
    ]  # fmt: skip
    latest = store.latest()
    diagnosis = diagnose(store.by_target(), labels)
    blocks_25 = sorted(
        {str(g["label"]) for g in grid if g["port"] == 25 and g["word"] in BAD_WORDS}
    )
    return {
        "records": store.count(),
        "learners": [{"id": lr.id, "label": lr.label, "records": lr.records} for lr in learners],
        "ports": ports,
        "grid": grid,
        "blocks_25": blocks_25,
        "chart_alt": _chart_alt(grid),
        "diagnosis": diagnosis[:MAX_ROWS],
        "diagnosis_total": len(diagnosis),
        "advice": [
            {"label": lr.label, **_advice(latest[lr.id])} for lr in learners if lr.id in latest
        ],
    }


def _chart_alt(grid: list[dict[str, Any]]) -> str:
    """The heat map in words, for its alt text (a screen reader reads the grid as sentences)."""
    if not grid:
        return "No probes shared yet."
    by_net: dict[str, list[str]] = defaultdict(list)
    for g in grid:
        by_net[str(g["label"])].append(f"port {g['port']} {g['word']}")
    return (
        "What each network saw: "
        + "; ".join(f"{net}: {', '.join(cells)}" for net, cells in sorted(by_net.items()))
        + "."
    )
