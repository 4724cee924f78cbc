"""The dataset summaries on a real Dask cluster give exactly DuckDB's answer on the same files.

A real ``LocalCluster`` (two worker processes, loopback only, no dashboard) is started once for
the module.  The data is a scan imported by smtplab's own importers into hive-partitioned
Parquet (by vantage and port): varied outcomes, TLS versions and findings, two vantages, one
of them with a character (``:``) that the partition folder names must escape.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smtplab.importers import import_scan

distributed = pytest.importorskip("distributed")
duckdb = pytest.importorskip("duckdb")

from smtplab.distributed import Summaries, summaries  # noqa: E402

STATUSES = ["success"] * 6 + ["connection-refused", "connection-timeout", "io-timeout"]


def _zgrab_line(rng: random.Random, i: int) -> dict[str, Any]:
    port = rng.choice([25, 465, 587, 2525])
    status = rng.choice(STATUSES)
    result: dict[str, Any] = {}
    if status == "success":
        code = rng.choice(["220", "220", "220", "554"])
        result["banner"] = f"{code} mx{i}.example ESMTP\r\n"
        auth = rng.choice(["", "250-AUTH PLAIN LOGIN\r\n"])
        result["ehlo"] = f"250-mx{i}.example\r\n{auth}250-SIZE 1000\r\n250 STARTTLS\r\n"
        version = rng.choice(["TLSv1.3", "TLSv1.2", "TLSv1.0", None])
        if version:
            if port != 465:
                result["starttls"] = "220 go ahead\r\n"
            result["tls"] = {
                "handshake_log": {
                    "server_hello": {"version": {"name": version}},
                    "server_certificates": {"validation": {"browser_trusted": rng.random() < 0.7}},
                }
            }
    return {
        "ip": f"192.0.2.{i % 250 + 1}",
        "domain": f"mx{i}.example",
        "port": port,
        "data": {"smtp": {"status": status, "timestamp": "2026-11-02T09:15:07Z", "result": result}},
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dist")
    out = d / "parquet"
    rng = random.Random(14)
    for k, vantage in enumerate(["campus", "lab:home-isp"]):
        src = d / f"scan{k}.jsonl"
        src.write_text("".join(json.dumps(_zgrab_line(rng, i)) + "\n" for i in range(800)))
        summary = import_scan(
            src, out, vantage=vantage, batch_size=500, partition_cols=["vantage", "port"]
        )
        assert summary.records == 800 and summary.skipped == 0
    return out


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    c = Client(cluster)
    # The workers are fresh processes: let them import Dask's dataframe code (seconds) in the
    # background while the test builds its dataset.
    warm = [
        c.submit(lambda: bool(importlib.import_module("dask.dataframe")), workers=[w], pure=False)
        for w in c.scheduler_info()["workers"]
    ]
    try:
        yield c
    finally:
        del warm
        c.close()
        cluster.close()


def _duckdb_answer(path: Path) -> Summaries:
    files = f"{path}/**/*.parquet" if path.is_dir() else str(path)
    src = f"read_parquet('{files}', hive_partitioning = true)"
    con = duckdb.connect()
    outcomes = con.sql(
        f"SELECT port, vantage, outcome, count(*) FROM {src} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    versions = con.sql(
        f"SELECT port, tls_version, count(*) FROM {src} WHERE tls_version IS NOT NULL "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    findings = con.sql(
        f"SELECT f.code, f.severity, count(*) FROM (SELECT unnest(findings) AS f FROM {src}) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    [(n,)] = con.sql(f"SELECT count(*) FROM {src}").fetchall()
    return Summaries(tuple(outcomes), tuple(versions), tuple(findings), n)


@pytest.mark.timeout(120)
def test_dask_cluster_gives_duckdbs_answer(client: Any, dataset: Path) -> None:
    want = _duckdb_answer(dataset)
    assert want.records == 1600
    # The data is varied enough for the comparison to mean something.
    assert {o for _, _, o, _ in want.outcomes} >= {"open", "rejected", "refused", "filtered"}
    assert {v for _, v, _ in want.tls_versions} == {"TLSv1.0", "TLSv1.2", "TLSv1.3"}
    assert {v for _, v, _, _ in want.outcomes} == {"campus", "lab:home-isp"}
    assert len(want.findings) >= 4
    got = summaries(dataset, client=client)
    assert got == want
    # It really ran on the cluster's two worker processes.
    assert len(client.scheduler_info()["workers"]) == 2


@pytest.mark.timeout(120)
def test_one_partition_folder(client: Any, dataset: Path) -> None:
    one = next(dataset.glob("vantage=campus/port=587"))
    got = summaries(one, client=client)
    # Outside the hive folder the partition values are not in the files: compare the rest.
    files = f"read_parquet('{one}/*.parquet')"
    [(n,)] = duckdb.sql(f"SELECT count(*) FROM {files}").fetchall()
    assert got.records == n > 0
    codes = duckdb.sql(
        f"SELECT f.code, f.severity, count(*) FROM (SELECT unnest(findings) AS f FROM {files}) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert got.findings == tuple(codes)


def test_dask_is_imported_lazily_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import sys, smtplab.distributed; print('dask' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r'pip install "dask\[distributed\]"'):
        summaries("anything")


def _table_with_nulls(n: int) -> Any:
    """Synthetic records, a missing value in every third vantage, fifth port, seventh
    outcome and fourth TLS version (vantage, port and outcome break the schema: a record
    file damaged on the way, still counted)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from smtplab.synthetic import synthetic_table

    table = synthetic_table(n, seed=5)
    for name, every in [("vantage", 3), ("port", 5), ("outcome", 7), ("tls_version", 4)]:
        col = table.column(name)
        mask = pa.array(np.arange(n) % every == 0)
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.if_else(mask, pa.nulls(n, col.type), col))
    return table


@pytest.mark.timeout(120)
def test_records_with_missing_values_are_counted_not_dropped(client: Any, tmp_path: Path) -> None:
    """204 records with nulls were 136 in the outcome counts: groupby dropped them."""
    import pyarrow.parquet as pq

    path = tmp_path / "nulls.parquet"
    pq.write_table(_table_with_nulls(204), path)
    want = _duckdb_answer(path)
    assert want.records == 204
    assert any(None in row for row in want.outcomes)  # the nulls are there to count
    got = summaries(path, client=client)
    assert got == want
    assert sum(c for *_, c in got.outcomes) == got.records == 204


@pytest.mark.timeout(120)
def test_text_ports_are_read_as_load_records_reads_them(client: Any, tmp_path: Path) -> None:
    """A port written as text ("587") is the port 587, as load_records reads it, in a folder
    whose other file has integer ports; a port that is no number ("smtp") raises one
    RecordError naming the file and the field."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from smtplab.records import RecordError, load_records
    from smtplab.synthetic import synthetic_table

    table = synthetic_table(300, seed=6)
    numbers, texts = tmp_path / "numbers", tmp_path / "texts"
    numbers.mkdir()
    texts.mkdir()
    i = table.schema.get_field_index("port")
    as_text = table.set_column(i, "port", pc.cast(table.column("port"), pa.string()))
    for folder, second in [(numbers, table), (texts, as_text)]:
        pq.write_table(table.slice(0, 150), folder / "a.parquet")
        pq.write_table(second.slice(150), folder / "b.parquet")
    want = _duckdb_answer(numbers)
    got = summaries(texts, client=client)
    assert got == want
    loaded = load_records(texts / "b.parquet")
    assert loaded["port"].dtype == "Int64"
    assert got.records == 300

    ports = as_text.column("port").to_pylist()
    ports[40] = "smtp"
    bad = as_text.set_column(i, "port", pa.array(ports))
    pq.write_table(bad, texts / "b.parquet")
    with pytest.raises(RecordError) as raised:
        summaries(texts, client=client)
    assert raised.value.path == str(texts / "b.parquet")
    assert raised.value.field == "port"
    assert "'smtp'" in str(raised.value)


@pytest.mark.timeout(180)
def test_the_class_export_is_read_unchanged(client: Any, tmp_path: Path) -> None:
    """A class's records, shared to the collector and exported as Parquet from its page, give
    the Dask summaries DuckDB's answer, and load_records reads the JSON Lines export."""
    import json
    import urllib.request

    import smtplab
    from smtplab.classroom.server import ClassServer

    with ClassServer(tmp_path / "class") as server:
        for label, scenario in (("home", "home-isp"), ("hotel", "hotel-wifi")):
            with smtplab.Lab(scenario=scenario) as lab:
                results = smtplab.probe_many(
                    [("smtp.lab.example", p) for p in (25, 465, 587, 2525)], lab=lab, timeout=1
                )
            body = {"code": server.session.code, "label": label}
            req = urllib.request.Request(f"{server.url}/api/join", json.dumps(body).encode())
            with urllib.request.urlopen(req, timeout=30) as reply:
                learner = json.loads(reply.read())["learner"]
            body = {"learner": learner, "records": [r.to_record() for r in results]}
            req = urllib.request.Request(f"{server.url}/api/records", json.dumps(body).encode())
            with urllib.request.urlopen(req, timeout=30) as reply:
                assert json.loads(reply.read())["accepted"] == 4
        key = server.session.teacher_key
        for name in ("parquet", "jsonl"):
            with urllib.request.urlopen(f"{server.url}/api/export.{name}?key={key}") as reply:
                (tmp_path / f"class.{name}").write_bytes(reply.read())
    assert len(smtplab.load_records(tmp_path / "class.jsonl")) == 8
    want = _duckdb_answer(tmp_path / "class.parquet")
    assert want.records == 8
    assert summaries(tmp_path / "class.parquet", client=client) == want
