"""What the run index stores for one summary: headline columns, figure leaves, search text.

Pure Python (pyarrow is imported only where a batch is built). The headline columns are the
figures people filter and sort on; every other scalar leaf of the summary (config, extra, inputs,
evaluation details, …) becomes a *figure*, stored in a real column of its own so that a filter on
`extra.steps_per_second` is a column scan, not JSON parsing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from halo_forge.summary import TrainingSummary


@dataclass(frozen=True)
class Column:
    name: str
    sql: str                 # DuckDB type
    kind: str                # num | str | bool | time
    source: tuple[str, ...]  # where in the summary JSON the value comes from

    @property
    def path(self) -> str:
        return ".".join(self.source)


HEADLINE: dict[str, Column] = {c.name: c for c in (
    Column("run_id", "VARCHAR", "str", ("run_id",)),
    Column("modality", "VARCHAR", "str", ("modality",)),
    Column("model_name", "VARCHAR", "str", ("model_name",)),
    Column("dataset", "VARCHAR", "str", ("inputs", "dataset")),
    Column("status", "VARCHAR", "str", ("status",)),
    Column("verdict", "VARCHAR", "str", ("effectiveness", "verdict")),
    Column("started_at", "TIMESTAMP", "time", ("started_at",)),
    Column("ended_at", "TIMESTAMP", "time", ("ended_at",)),
    Column("duration_seconds", "DOUBLE", "num", ("duration_seconds",)),
    Column("final_train_loss", "DOUBLE", "num", ("final_train_loss",)),
    Column("total_train_steps", "BIGINT", "num", ("total_train_steps_executed",)),
    Column("weights_updated", "BOOLEAN", "bool", ("weights_updated",)),
    Column("eval_metric", "VARCHAR", "str", ("effectiveness", "evaluation", "metric")),
    Column("eval_before", "DOUBLE", "num", ("effectiveness", "evaluation", "before")),
    Column("eval_after", "DOUBLE", "num", ("effectiveness", "evaluation", "after")),
    Column("eval_delta", "DOUBLE", "num", ("effectiveness", "evaluation", "delta")),
    Column("cache_key", "VARCHAR", "str", ("inputs", "cache_key")),
    Column("dataset_digest", "VARCHAR", "str", ("inputs", "dataset_digest")),
    Column("model_digest", "VARCHAR", "str", ("inputs", "model_digest")),
    Column("output_model_digest", "VARCHAR", "str", ("outputs", "model_digest")),
    Column("output_path", "VARCHAR", "str", ("outputs", "model_path")),
    Column("seed", "BIGINT", "num", ("seed",)),
    Column("backend", "VARCHAR", "str", ("backend",)),
)}

# A summary path that *is* a headline column resolves to it (`effectiveness.evaluation.after` → eval_after).
ALIASES: dict[str, str] = {c.path: c.name for c in HEADLINE.values() if c.path != c.name}
# The top-level fields of a summary: the first segment of every dotted path must be one of them.
SUMMARY_FIELDS: tuple[str, ...] = tuple(TrainingSummary.model_fields)
VERDICTS = ("passed", "warned", "failed")
STATUSES = ("completed", "failed")
FACETS = ("modality", "verdict", "status", "model_name", "dataset")


def resolve_column(name: str) -> Column | None:
    """A headline column by its name or by the summary path it comes from."""
    return HEADLINE.get(name) or HEADLINE.get(ALIASES.get(name, ""))


def _get(data: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp as a naive UTC datetime (naive input is taken as UTC); None when unparseable."""
    if not value or not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


def headline(data: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in HEADLINE.values():
        value = _get(data, col.source)
        if col.kind == "time":
            value = parse_time(value)
        elif col.kind == "num":
            value = None if isinstance(value, bool) or not isinstance(value, (int, float)) else value
            if col.sql == "BIGINT" and value is not None:
                value = int(value)
            elif value is not None and isinstance(value, float) and math.isnan(value):
                value = None
        elif col.kind == "bool":
            value = bool(value) if value is not None else None
        else:
            value = None if value is None else str(value)
        out[col.name] = value
    return out


def figures(data: dict) -> dict[tuple[str, str], float | str]:
    """Every scalar leaf reachable through dicts (not lists), keyed by (dotted path, num|str).

    Booleans count as numbers (1/0). Leaves that are headline columns are left out.
    """
    out: dict[tuple[str, str], float | str] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, path + ".")
            elif path in ALIASES or (not prefix and path in HEADLINE):
                continue
            elif isinstance(value, bool):
                out[(path, "num")] = 1.0 if value else 0.0
            elif isinstance(value, (int, float)):
                out[(path, "num")] = float(value)
            elif isinstance(value, str):
                out[(path, "str")] = value

    walk(data, "")
    return out


def _scalars(node: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalars(value, f"{prefix}{key}.")
    elif not isinstance(node, list) and node is not None:
        yield prefix.rstrip("."), node


def search_text(data: dict) -> str:
    """What free text matches: ids, model, modality, status, verdict and its reasons, dataset, backend,
    and the config's text settings as `key=value` (numbers are reached with --where instead)."""
    parts = [str(data.get(k) or "") for k in ("run_id", "modality", "model_name", "status", "backend")]
    eff = data.get("effectiveness") or {}
    parts.append(str(eff.get("verdict") or ""))
    parts.extend(str(r) for r in eff.get("reasons") or [])
    parts.append(str((data.get("inputs") or {}).get("dataset") or ""))
    parts.extend(f"{k}={v}" for k, v in _scalars(data.get("config") or {}) if isinstance(v, (str, bool)))
    return " ".join(p for p in parts if p).lower()


def arrow_type(sql: str):
    import pyarrow as pa

    return {"VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
            "TIMESTAMP": pa.timestamp("us")}[sql]


def build_batch(summaries: Iterable[TrainingSummary]):
    """(head, figures): a pyarrow table of headline columns + summary + search_text, and
    {(path, kind): pyarrow array} for the figure leaves."""
    import pyarrow as pa

    rows = [s.model_dump(mode="json") for s in summaries]
    cols: dict[str, list] = {name: [] for name in HEADLINE}
    cols["summary"], cols["search_text"] = [], []
    figs: dict[tuple[str, str], list] = {}
    for i, data in enumerate(rows):
        for name, value in headline(data).items():
            cols[name].append(value)
        cols["search_text"].append(search_text(data))
        for key, value in figures(data).items():
            figs.setdefault(key, [None] * i).append(value)
        for values in figs.values():
            if len(values) < i + 1:
                values.append(None)
    import json

    cols["summary"] = [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in rows]
    schema = pa.schema([(n, arrow_type(c.sql)) for n, c in HEADLINE.items()]
                       + [("summary", pa.string()), ("search_text", pa.string())])
    head = pa.table(cols, schema=schema)
    fig_arrays = {key: pa.array(values, type=pa.float64() if key[1] == "num" else pa.string())
                  for key, values in figs.items()}
    return head, fig_arrays
