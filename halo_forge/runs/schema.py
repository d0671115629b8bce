"""The index's tables (runs, edges, figure columns, meta) and the one way rows are written into them."""

from __future__ import annotations

import contextlib
import logging

from halo_forge.runs.columns import HEADLINE, build_batch
from halo_forge.runs.query import quote
from halo_forge.summary import TrainingSummary

log = logging.getLogger("halo_forge.runs")

INDEX_VERSION = "2"  # 2: the dataset column (and facet)
MAX_FIGURE_COLUMNS = 1000

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS runs ("
    + ", ".join(f"{quote(c.name)} {c.sql}" + (" PRIMARY KEY" if c.name == "run_id" else "")
                for c in HEADLINE.values())
    + ", summary JSON, search_text VARCHAR)",
    "CREATE TABLE IF NOT EXISTS edges (src VARCHAR, dst VARCHAR, kind VARCHAR, run_id VARCHAR)",
    "CREATE TABLE IF NOT EXISTS figure_columns (path VARCHAR, kind VARCHAR, col VARCHAR, PRIMARY KEY (path, kind))",
]
# dataset digest → run, base model → run, run → output model (nodes are `dataset:…`, `model:…`, `run:…`)
EDGES_FROM_BATCH = """
INSERT INTO edges
SELECT 'dataset:' || dataset_digest, 'run:' || run_id, 'dataset', run_id FROM _batch WHERE dataset_digest IS NOT NULL
UNION ALL
SELECT 'model:' || coalesce(model_digest, 'hub:' || model_name), 'run:' || run_id, 'base_model', run_id FROM _batch
 WHERE model_digest IS NOT NULL OR model_name IS NOT NULL
UNION ALL
SELECT 'run:' || run_id, 'model:' || output_model_digest, 'output_model', run_id FROM _batch
 WHERE output_model_digest IS NOT NULL
"""


def version(con) -> str | None:
    """The schema version an index file was written with (None: not an index this code wrote)."""
    try:
        hit = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except Exception:  # noqa: BLE001 - no meta table: not an index this code wrote
        return None
    return hit[0] if hit else None


def ensure_schema(con, path) -> None:
    """Create the tables, or rebuild them from the summaries they hold when written by another version."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    if tables and version(con) != INDEX_VERSION:
        # another index version: rebuild from the summaries it holds (the JSON column is the truth)
        old = []
        if "runs" in tables:
            with contextlib.suppress(Exception):
                old = [r[0] for r in con.execute("SELECT summary FROM runs").fetchall()]
        for t in tables:
            con.execute(f"DROP TABLE IF EXISTS {quote(t)}")
        create(con)
        keep = []
        for doc in old:
            with contextlib.suppress(ValueError):
                keep.append(TrainingSummary.model_validate_json(doc))
        insert_summaries(con, keep)
        log.warning("run index: rebuilt %s for index version %s (%d runs)", path, INDEX_VERSION, len(keep))
    elif not tables or "runs" not in tables:
        create(con)


def create(con) -> None:
    for stmt in SCHEMA:
        con.execute(stmt)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [INDEX_VERSION])


def insert_summaries(con, summaries: list[TrainingSummary], chunk: int = 20_000) -> None:
    for i in range(0, len(summaries), chunk):
        insert(con, *build_batch(summaries[i:i + chunk]))


def _figure_mapping(con, figs: dict) -> dict:
    """The column of every figure path in `figs`, adding columns (up to MAX_FIGURE_COLUMNS) for new ones."""
    mapping = {(p, k): c for p, k, c in con.execute("SELECT path, kind, col FROM figure_columns").fetchall()}
    used = [int(c[1:]) for c in mapping.values() if c]
    next_n, n_cols = max(used, default=0) + 1, len(used)
    for key in figs:
        if key in mapping:
            continue
        col = None
        if n_cols < MAX_FIGURE_COLUMNS:
            col, next_n, n_cols = f"f{next_n}", next_n + 1, n_cols + 1
            sql_type = "DOUBLE" if key[1] == "num" else "VARCHAR"
            con.execute(f"ALTER TABLE runs ADD COLUMN {quote(col)} {sql_type}")
        con.execute("INSERT INTO figure_columns VALUES (?, ?, ?)", [key[0], key[1], col])
        mapping[key] = col
    return mapping


def insert(con, head, figs: dict) -> None:
    """Replace-or-insert a batch (one transaction): rows, their edges, new figure columns."""
    con.execute("BEGIN TRANSACTION")
    try:
        mapping = _figure_mapping(con, figs)
        table = head
        for key, arr in figs.items():
            if mapping[key]:
                table = table.append_column(mapping[key], arr)
        con.register("_batch", table)
        con.execute("DELETE FROM edges WHERE run_id IN (SELECT run_id FROM _batch)")
        con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM _batch)")
        con.execute("INSERT INTO runs BY NAME SELECT * FROM _batch")
        con.execute(EDGES_FROM_BATCH)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    finally:
        with contextlib.suppress(Exception):
            con.unregister("_batch")
