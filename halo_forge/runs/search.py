"""Searching the index: filtered, sorted pages with facet counts; one run; runs side by side."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator, Sequence

from halo_forge.runs.columns import FACETS, HEADLINE
from halo_forge.runs.models import Comparison, RunRow, SearchResult
from halo_forge.runs.query import RunNotFound, RunsError, build_where, parse_condition, quote, sort_sql
from halo_forge.summary import TrainingSummary

MAX_LIMIT = 10_000
MODEL_FACET_TOP = 20
HEAD_SQL = ", ".join(quote(c) for c in HEADLINE)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "+00:00"
    return value


def _row(values: Sequence[Any]) -> RunRow:
    return RunRow(**{name: _iso(v) for name, v in zip(HEADLINE, values)})



def _scalars(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted leaves of a dict; a list is one leaf (its JSON, or its length when long)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalars(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        text = json.dumps(node, default=str)
        yield prefix.rstrip("."), text if len(text) <= 200 else f"[{len(node)} items]"
    else:
        yield prefix.rstrip("."), node



_GROUPING = ", ".join(f"GROUPING({quote(f)})" for f in FACETS)
_FACET_COLS = ", ".join(quote(f) for f in FACETS)
_FACET_SETS = ", ".join(["()"] + [f"({quote(f)})" for f in FACETS])


def _facet_sql(source: str, facets: bool) -> str:
    """Rows of (grouping flags…, facet values…, count) over `source` (FROM … WHERE …): one per facet
    value, and one with every flag set holding the total."""
    if not facets:
        return f"SELECT {', '.join(['1'] * len(FACETS))}, {', '.join(['NULL'] * len(FACETS))}, count(*) {source}"
    return f"SELECT {_GROUPING}, {_FACET_COLS}, count(*) {source} GROUP BY GROUPING SETS ({_FACET_SETS})"


def _parse_facets(rows) -> tuple[int, dict[str, dict[str, int]]]:
    k = len(FACETS)
    total = 0
    out: dict[str, dict[str, int]] = {f: {} for f in FACETS}
    for r in rows:
        flags, values, n = r[:k], r[k:2 * k], r[2 * k]
        if all(flags):
            total = n
            continue
        i = flags.index(0)
        out[FACETS[i]][values[i] if values[i] is not None else "(none)"] = n
    for f in FACETS:
        items = sorted(out[f].items(), key=lambda kv: (-kv[1], kv[0]))
        out[f] = dict(items[:MODEL_FACET_TOP] if f in ("model_name", "dataset") else items)
    return total, out


def _facets(con, clause: str, params: list) -> tuple[int, dict[str, dict[str, int]]]:
    return _parse_facets(con.execute(_facet_sql(f"FROM runs {clause}", True), params).fetchall())


def _page_and_facets(con, clause: str, params: list, order: str, direction: str, limit: int, offset: int,
                     facets: bool) -> tuple[list[int], int, dict[str, dict[str, int]]]:
    """One pass of an expensive filter (free text, JSON paths): the matching row ids are kept and
    both the page and the facet counts come from them."""
    k = len(FACETS)
    nulls = ", ".join(["NULL"] * (2 * k + 1))
    sql = (f"WITH m AS MATERIALIZED (SELECT rowid AS rid, {order} AS k FROM runs {clause}), "
           f"t AS (SELECT rid, row_number() OVER (ORDER BY k {direction} NULLS LAST, rid {direction}) AS pos FROM m "
           f"ORDER BY k {direction} NULLS LAST, rid {direction} LIMIT ? OFFSET ?), "
           f"f AS ({_facet_sql('FROM runs WHERE rowid IN (SELECT rid FROM m)', facets)}) "
           f"SELECT 0, *, NULL, NULL FROM f UNION ALL SELECT 1, {nulls}, rid, pos FROM t")
    rows = con.execute(sql, [*params, limit, offset]).fetchall()
    page = sorted((r for r in rows if r[0] == 1), key=lambda r: r[-1])
    total, counts = _parse_facets([r[1:-2] for r in rows if r[0] == 0])
    return [r[-2] for r in page], total, (counts if facets else {})


def _not_found(con, ids: list[str]) -> RunNotFound:
    hints = []
    for run_id in ids[:3]:
        hints += [r[0] for r in con.execute(
            "SELECT run_id FROM (SELECT run_id, jaro_winkler_similarity(run_id, ?) AS s FROM runs) "
            "WHERE s >= 0.75 ORDER BY s DESC, run_id LIMIT 3", [run_id]).fetchall()]
    hint = ("did you mean " + ", ".join(dict.fromkeys(hints)) + "?") if hints else \
        "`halo-forge runs search` lists the indexed runs; `halo-forge runs reindex` picks up runs on disk"
    what = "run" if len(ids) == 1 else "runs"
    return RunNotFound(f"no {what} {', '.join(ids)} in the run index", hint=hint)



def _differences(docs: list[dict]) -> dict[str, list[Any]]:
    """Dotted scalar settings whose values are not the same in every doc (absent = None)."""
    flat = [dict(_scalars(d)) for d in docs]
    keys = sorted(set().union(*flat))
    return {k: [f.get(k) for f in flat] for k in keys
            if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat}) > 1}


def _page(con, clause: str, params: list, order: str, direction: str, limit: int, offset: int,
          facets: bool) -> tuple[list[int], int, dict[str, dict[str, int]]]:
    """(row ids of the page, total, facet counts) for a cheap filter: the page's row ids first, then
    their columns, so a filter matching many rows reads ~25 columns for 20 rows, not for every match."""
    ids = [r[0] for r in con.execute(
        f"SELECT rowid FROM runs {clause} ORDER BY {order} {direction} NULLS LAST, rowid {direction} "
        "LIMIT ? OFFSET ?", [*params, limit, offset]).fetchall()]
    facet_counts: dict[str, dict[str, int]] = {}
    if facets:
        total, facet_counts = _facets(con, clause, params)
    elif offset == 0 and len(ids) < limit:
        total = len(ids)
    else:
        total = con.execute(f"SELECT count(*) FROM runs {clause}", params).fetchone()[0]
    return ids, total, facet_counts


class SearchMixin:
    """RunIndex's queries (each under `self._reader()`)."""

    def search(self, *, modality: str | Sequence[str] | None = None, model: str | None = None,
               verdict: str | Sequence[str] | None = None, status: str | Sequence[str] | None = None,
               since: str | None = None, until: str | None = None, where: str | Sequence[str] = (),
               text: str | None = None, sort: str = "started_at", descending: bool = True,
               limit: int = 20, offset: int = 0, facets: bool = True) -> SearchResult:
        """Runs matching every filter given, a page of them sorted, the total and facet counts.

        modality/verdict/status: one value, a list or comma-separated values. model: substring of
        the model name (any case). since/until: ISO dates or times on started_at (a bare `until`
        date includes that day). where: `FIELD OP VALUE` expressions (see `halo_forge.runs.query`).
        text: every word must occur in the run id, model, modality, status, verdict reasons,
        dataset or text config settings. sort: a headline column. Raises RunsError on a bad filter.
        """
        if not 0 <= int(limit) <= MAX_LIMIT:
            raise RunsError(f"limit {limit} is out of range", hint=f"use 0 ≤ limit ≤ {MAX_LIMIT}")
        if int(offset) < 0:
            raise RunsError(f"offset {offset} is negative", hint="use offset ≥ 0")
        for expr in [where] if isinstance(where, str) else list(where or ()):
            parse_condition(expr)  # syntax errors before touching the index
        with self._reader() as con:
            figures = con.figures
            where_sql, params = build_where(modality=modality, model=model, verdict=verdict, status=status,
                                            since=since, until=until, where=where, text=text, figures=figures)
            order = sort_sql(sort, figures)
            clause = f"WHERE {where_sql}" if where_sql else ""
            direction = "DESC" if descending else "ASC"
            page = _page_and_facets if "search_text" in where_sql or "json_extract" in where_sql else _page
            ids, total, facet_counts = page(con, clause, params, order, direction, int(limit), int(offset), facets)
            got = {r[-1]: r[:-1] for r in con.execute(
                f"SELECT {HEAD_SQL}, rowid FROM runs WHERE rowid = ANY(?)", [ids]).fetchall()} if ids else {}
            rows = [got[i] for i in ids]
        return SearchResult(rows=[_row(r) for r in rows], total=total, limit=int(limit), offset=int(offset),
                            sort=sort, descending=descending, facets=facet_counts)

    def get(self, run_id: str) -> TrainingSummary:
        """The full summary of one run; RunNotFound (a HaloForgeError) when it is not indexed."""
        with self._reader() as con:
            hit = con.execute("SELECT summary FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if hit is None:
                raise _not_found(con, [run_id])
        return TrainingSummary.model_validate_json(hit[0])

    def row(self, run_id: str) -> RunRow:
        """The headline figures of one run."""
        with self._reader() as con:
            hit = con.execute(f"SELECT {HEAD_SQL} FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if hit is None:
                raise _not_found(con, [run_id])
        return _row(hit)

    def compare(self, run_ids: Sequence[str]) -> Comparison:
        """Headline figures side by side, and the config settings and `extra` figures that differ."""
        ids = list(dict.fromkeys(run_ids))
        if len(ids) < 2:
            raise RunsError("compare needs at least two different run ids", hint="halo-forge runs compare RUN RUN …")
        with self._reader() as con:
            got = {r[0]: r for r in con.execute(
                f"SELECT {HEAD_SQL}, summary FROM runs WHERE run_id IN ({', '.join('?' * len(ids))})", ids).fetchall()}
            missing = [i for i in ids if i not in got]
            if missing:
                raise _not_found(con, missing)
        rows = [_row(got[i][:-1]) for i in ids]
        docs = [json.loads(got[i][-1]) for i in ids]
        headline = {name: [getattr(r, name) for r in rows] for name in HEADLINE}
        differing = [name for name, values in headline.items()
                     if name != "run_id" and len({json.dumps(v) for v in values}) > 1]
        return Comparison(runs=rows, headline=headline, differing=differing,
                          config=_differences([d.get("config") or {} for d in docs]),
                          extra=_differences([d.get("extra") or {} for d in docs]))

    def count(self) -> int:
        with self._reader() as con:
            return con.execute("SELECT count(*) FROM runs").fetchone()[0]
