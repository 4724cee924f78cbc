"""The class's records in an embedded DuckDB database beside the dataset files.

One table of learners (a random id the collector gave, the label the learner chose, when they
joined) and one of records (whose learner, when it arrived, a few columns the live view asks
about, and the whole record as JSON). No learner address is ever stored: the collector never
passes one in. Every record comes in already checked (:func:`smtplab.records.check_record`) and
scrubbed (:func:`smtplab.classroom.share.scrub`).

DuckDB allows one writer per database file; the store holds one connection and a lock, so the
web service's threads take turns.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtplab.classroom.words import shown_outcome

__all__ = ["ClassStore", "Learner"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS learners (
    id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    learner VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    host VARCHAR,
    port INTEGER,
    word VARCHAR NOT NULL,
    record JSON NOT NULL
);
"""


@dataclass(frozen=True)
class Learner:
    id: str
    label: str
    records: int


class ClassStore:
    """The class's database at ``path`` (``:memory:`` for a class that keeps nothing)."""

    def __init__(self, path: str | Path) -> None:
        import duckdb

        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = duckdb.connect(self.path)
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- learners ---------------------------------------------------------------------------

    def add_learner(self, learner_id: str, label: str) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        with self._lock:
            self._db.execute("INSERT INTO learners VALUES (?, ?, ?)", [learner_id, label, now])

    def learner(self, learner_id: str) -> Learner | None:
        with self._lock:
            row = self._db.execute(
                "SELECT l.id, l.label, count(r.learner) FROM learners l "
                "LEFT JOIN records r ON r.learner = l.id WHERE l.id = ? GROUP BY l.id, l.label",
                [learner_id],
            ).fetchone()
        return Learner(str(row[0]), str(row[1]), int(row[2])) if row else None

    def learners(self) -> list[Learner]:
        with self._lock:
            rows = self._db.execute(
                "SELECT l.id, l.label, count(r.learner) FROM learners l "
                "LEFT JOIN records r ON r.learner = l.id GROUP BY l.id, l.label, l.joined_at "
                "ORDER BY l.joined_at"
            ).fetchall()
        return [Learner(str(i), str(label), int(n)) for i, label, n in rows]

    def delete_learner(self, learner_id: str) -> int:
        """Forget one learner and every record of theirs; the number of records deleted."""
        with self._lock:
            (n,) = self._db.execute(
                "SELECT count(*) FROM records WHERE learner = ?", [learner_id]
            ).fetchone() or (0,)
            self._db.execute("DELETE FROM records WHERE learner = ?", [learner_id])
            self._db.execute("DELETE FROM learners WHERE id = ?", [learner_id])
        return int(n)

    def delete_all(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM records").fetchone() or (0,)
            self._db.execute("DELETE FROM records")
            self._db.execute("DELETE FROM learners")
        return int(n)

    # --- records ----------------------------------------------------------------------------

    def add_records(self, learner_id: str, records: Sequence[Mapping[str, Any]]) -> int:
        if not records:
            return 0
        now = dt.datetime.now(dt.timezone.utc)
        rows = [
            (learner_id, now, r.get("host"), r.get("port"), shown_outcome(r), _dumps(r))
            for r in records
        ]
        with self._lock:
            self._db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM records").fetchone() or (0,)
        return int(n)

    def by_port_and_network(self) -> list[tuple[str, str, int, str, int]]:
        """(learner id, label, port, word, probes) for every learner, port and word."""
        with self._lock:
            rows = self._db.execute(
                "SELECT l.id, l.label, r.port, r.word, count(*) FROM records r "
                "JOIN learners l ON l.id = r.learner GROUP BY ALL ORDER BY l.label, r.port, r.word"
            ).fetchall()
        return [(str(a), str(b), int(c), str(d), int(e)) for a, b, c, d, e in rows]

    def by_target(self) -> list[tuple[str, int, str, str, int]]:
        """(host, port, learner id, word, probes): who reached which target, for "the server
        or my network?"."""
        with self._lock:
            rows = self._db.execute(
                "SELECT host, port, learner, word, count(*) FROM records GROUP BY ALL"
            ).fetchall()
        return [(str(a), int(b), str(c), str(d), int(e)) for a, b, c, d, e in rows]

    def records(self, learner_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record (of one learner), oldest first, with the learner's label as
        ``vantage``: the class's data as a dataset."""
        sql = (
            "SELECT l.label, r.record FROM records r JOIN learners l ON l.id = r.learner "
            + ("WHERE r.learner = ? " if learner_id else "")
            + "ORDER BY r.received_at"
        )
        with self._lock:
            rows = self._db.execute(sql, [learner_id] if learner_id else []).fetchall()
        for label, text in rows:
            rec = json.loads(text)
            rec["vantage"] = label
            yield rec


def _dumps(rec: Mapping[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"), default=str)
