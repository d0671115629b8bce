"""Lineage in the index: the runs a run built on (through model digests) and the runs built on it."""

from __future__ import annotations

from halo_forge.runs.columns import HEADLINE
from halo_forge.runs.models import Lineage, LineageLink
from halo_forge.runs.query import quote
from halo_forge.runs.search import HEAD_SQL, _not_found, _row


def _walk(con, run_id: str, digest: str | None, *, up: bool, max_depth: int) -> list[LineageLink]:
    """Breadth-first along model digests: up = runs that produced `digest`, down = runs trained from it."""
    links: list[LineageLink] = []
    seen = {run_id}
    frontier = [digest] if digest else []
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        nodes = [f"model:{d}" for d in frontier]
        end, kind = ("dst", "output_model") if up else ("src", "base_model")
        rows = con.execute(
            f"SELECT e.{end}, {', '.join('r.' + quote(c) for c in HEADLINE)} FROM edges e "
            f"JOIN runs r ON r.run_id = e.run_id WHERE e.kind = ? AND e.{end} IN ({', '.join('?' * len(nodes))}) "
            "ORDER BY r.started_at NULLS LAST, r.run_id", [kind, *nodes]).fetchall()
        frontier = []
        for node, *values in rows:
            row = _row(values)
            if row.run_id in seen:
                continue
            seen.add(row.run_id)
            links.append(LineageLink(run_id=row.run_id, depth=depth, via=node.removeprefix("model:"),
                                     modality=row.modality, model_name=row.model_name, verdict=row.verdict,
                                     started_at=row.started_at, output_model_digest=row.output_model_digest))
            nxt = (row.model_digest or (f"hub:{row.model_name}" if row.model_name else None)) if up \
                else row.output_model_digest
            if nxt:
                frontier.append(nxt)
    return links



class LineageMixin:
    """RunIndex.lineage (under `self._reader()`)."""

    def lineage(self, run_id: str, *, max_depth: int = 50) -> Lineage:
        """Earlier stages (the runs whose output model this run trained from, and theirs) and later
        ones (runs that trained from this run's output model), plus runs on the same dataset."""
        with self._reader() as con:
            hit = con.execute(f"SELECT {HEAD_SQL} FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if hit is None:
                raise _not_found(con, [run_id])
            run = _row(hit)
            base = run.model_digest or (f"hub:{run.model_name}" if run.model_name else None)
            upstream = _walk(con, run.run_id, base, up=True, max_depth=max_depth)
            downstream = _walk(con, run.run_id, run.output_model_digest, up=False, max_depth=max_depth)
            same = []
            if run.dataset_digest:
                same = [r[0] for r in con.execute(
                    "SELECT run_id FROM edges WHERE kind = 'dataset' AND src = ? AND run_id <> ? "
                    "ORDER BY run_id LIMIT 50",
                    [f"dataset:{run.dataset_digest}", run.run_id]).fetchall()]
        return Lineage(run=run, dataset_digest=run.dataset_digest, base_model=base,
                       output_model_digest=run.output_model_digest, upstream=upstream, downstream=downstream,
                       same_dataset=same)
