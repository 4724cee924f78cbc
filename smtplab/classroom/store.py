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

from smtplab.outcome_words import shown_outcome

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
        self._lock = threading.Lock()
        #: What was computed from the store, and the :meth:`version` it was computed at.
        self.cache: dict[str, tuple[tuple[int, int], Any]] = {}
        self._run(_SCHEMA)

    def _run(self, sql: str, params: list[Any] | None = None) -> None:
        """A statement that returns no rows, read to its end (DuckDB 2 refuses the next
        statement on a connection whose last result is unfinished)."""
        self._db.execute(sql, params or []).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- learners ---------------------------------------------------------------------------

    def add_learner(self, learner_id: str, label: str) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        with self._lock:
            self._run("INSERT INTO learners VALUES (?, ?, ?)", [learner_id, label, now])

    def learner(self, learner_id: str) -> Learner | None:
        with self._lock:
            rows = self._db.execute(
                "SELECT l.id, l.label, count(r.learner) FROM learners l "
                "LEFT JOIN records r ON r.learner = l.id WHERE l.id = ? GROUP BY l.id, l.label",
                [learner_id],
            ).fetchall()  # read whole: DuckDB 2 refuses the next statement after a fetchone
        return Learner(str(rows[0][0]), str(rows[0][1]), int(rows[0][2])) if rows else None

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
            ((n,),) = self._db.execute(
                "SELECT count(*) FROM records WHERE learner = ?", [learner_id]
            ).fetchall()
            self._run("DELETE FROM records WHERE learner = ?", [learner_id])
            self._run("DELETE FROM learners WHERE id = ?", [learner_id])
        return int(n)

    def delete_all(self) -> int:
        with self._lock:
            ((n,),) = self._db.execute("SELECT count(*) FROM records").fetchall()
            self._run("DELETE FROM records")
            self._run("DELETE FROM learners")
        return int(n)

    # --- records ----------------------------------------------------------------------------

    def add_records(self, learner_id: str, records: Sequence[Mapping[str, Any]]) -> int:
        if not records:
            return 0
        import pyarrow as pa

        now = dt.datetime.now(dt.timezone.utc)
        batch = pa.table(  # one columnar insert: DuckDB's executemany goes row by row
            {
                "learner": pa.array([learner_id] * len(records), pa.string()),
                "received_at": pa.array([now] * len(records), pa.timestamp("us", tz="UTC")),
                "host": pa.array([_text(r.get("host")) for r in records], pa.string()),
                "port": pa.array([_port(r.get("port")) for r in records], pa.int32()),
                "word": pa.array([shown_outcome(r) for r in records], pa.string()),
                "record": pa.array([_dumps(r) for r in records], pa.string()),
            }
        )
        with self._lock:
            self._db.register("incoming", batch)
            try:
                self._run("INSERT INTO records SELECT * FROM incoming")
            finally:
                self._db.unregister("incoming")
        return len(records)

    def count(self) -> int:
        with self._lock:
            ((n,),) = self._db.execute("SELECT count(*) FROM records").fetchall()
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

    def latest(self) -> dict[str, list[dict[str, Any]]]:
        """Each learner's latest record for each port of the host they probed most: what their
        advice rests on. One pass over the table for the whole class."""
        with self._lock:
            rows = self._db.execute(
                "WITH top AS (SELECT learner, arg_max(host, n) AS host FROM (SELECT learner, host, "
                "  count(*) AS n FROM records GROUP BY ALL) GROUP BY learner) "
                "SELECT r.learner, r.record FROM records r JOIN top USING (learner, host) "
                "QUALIFY row_number() OVER (PARTITION BY r.learner, r.port "
                "  ORDER BY r.received_at DESC) = 1"
            ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for learner, text in rows:
            out.setdefault(str(learner), []).append(json.loads(text))
        return out

    def version(self) -> tuple[int, int]:
        """Changes when records or learners come or go (for caching what is computed)."""
        with self._lock:
            ((records, learners),) = self._db.execute(
                "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM learners)"
            ).fetchall()
        return int(records), int(learners)

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


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _port(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dumps(rec: Mapping[str, Any]) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"), default=str)
