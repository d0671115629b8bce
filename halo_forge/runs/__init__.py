"""The run index: every finished run, searchable (`halo-forge runs …`, later `/runs/search`).

    from halo_forge.runs import RunIndex
    index = RunIndex(workspace)          # workspace.index_path, a DuckDB file (derived data)
    index.add(summary)                   # safe with many processes finishing at once
    index.search(modality="sft", where=["eval_after>=0.6"], text="codealpaca", sort="eval_after")
    index.get(run_id); index.compare([a, b]); index.lineage(run_id); index.reindex([folder])

DuckDB and pyarrow are imported only when the index is used.
"""

from halo_forge.runs.index import MAX_FIGURE_COLUMNS, RunIndex
from halo_forge.runs.models import Comparison, Lineage, LineageLink, ReindexReport, RunRow, SearchResult
from halo_forge.runs.query import RunNotFound, RunsError

__all__ = ["RunIndex", "RunsError", "RunNotFound", "SearchResult", "RunRow", "Comparison", "Lineage",
           "LineageLink", "ReindexReport", "MAX_FIGURE_COLUMNS"]
