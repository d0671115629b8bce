"""`halo-forge runs …`: search, show, compare and trace the runs in the workspace's run index.

Imports nothing heavy at module level: duckdb and pyarrow load when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The run index: search, show, compare and trace finished runs.", no_args_is_help=True)

VERDICT_STYLE = {"passed": "green", "warned": "yellow", "failed": "red"}


def _index():
    """The run index of the workspace around the current folder (saying so when it is the default one)."""
    from halo_forge.runs import RunIndex
    from halo_forge.workspace import find_workspace

    ws = find_workspace()
    if ws.default:
        typer.echo(f"(no workspace here: using the default one at {ws.root})", err=True)
    return RunIndex(ws)


def _console():
    from rich.console import Console

    return Console()


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _short(digest: str | None, n: int = 12) -> str:
    if not digest:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:n]}…" if hexpart and len(hexpart) > n + 4 else digest


def _verdict(v: str | None) -> str:
    return f"[{VERDICT_STYLE.get(v or '', 'white')}]{v or '-'}[/]"


def _when(ts: str | None) -> str:
    return ts[:16].replace("T", " ") if ts else "-"


@app.command("search")
def search(
    modality: str = typer.Option(None, help="Only these modalities (comma-separated), e.g. sft,dpo."),
    model: str = typer.Option(None, help="Only models whose name contains this (any case)."),
    verdict: str = typer.Option(None, help="Only these verdicts: passed, warned, failed (comma-separated)."),
    status: str = typer.Option(None, help="Only these statuses: completed, failed (comma-separated)."),
    since: str = typer.Option(None, help="Only runs started on or after this ISO date/time (UTC when no zone)."),
    until: str = typer.Option(None, help="Only runs started on or before this ISO date (the whole day) or time."),
    where: list[str] = typer.Option(None, "--where", "-w", help=(
        "A figure filter FIELD OP VALUE; repeat for more (all must hold). FIELD is a headline column "
        "(final_train_loss, eval_after, …) or a dotted summary path (extra.steps_per_second, config.optim); "
        "OP is = != < <= > >= or ~ (substring). E.g. --where 'eval_after>=0.6'.")),
    text: str = typer.Option(None, help=("Free text: every word must occur in the run id, model, modality, "
                                         "verdict reasons, dataset or text config settings.")),
    sort: str = typer.Option("started_at", help="Sort by this headline column (e.g. eval_after, final_train_loss)."),
    descending: bool = typer.Option(True, "--desc/--asc", help="Sort descending (default) or ascending."),
    limit: int = typer.Option(20, help="Show at most this many runs."),
    offset: int = typer.Option(0, help="Skip this many matching runs first (paging)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (rows, total, facets) as JSON."),
) -> None:
    """Find runs by modality, model, verdict, dates, figures and free text; shows facet counts."""
    result = _index().search(modality=modality, model=model, verdict=verdict, status=status, since=since,
                             until=until, where=where or (), text=text, sort=sort, descending=descending,
                             limit=limit, offset=offset)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print_search(result)


def _print_search(result) -> None:
    """A search result as a table (runs as blocks when the table would not fit), totals and facet counts."""
    console = _console()
    metrics = {r.eval_metric for r in result.rows if r.eval_metric}
    if result.rows:
        _print_rows(result.rows, console)
        first = result.offset + 1
        console.print(f"{result.total} run{'s match' if result.total != 1 else ' matches'}; showing {first}–"
                      f"{result.offset + len(result.rows)} sorted by {result.sort} "
                      f"{'descending' if result.descending else 'ascending'}"
                      + (f"; held-out = {', '.join(sorted(metrics))} before→after" if metrics else ""),
                      highlight=False)
    else:
        console.print(f"no runs match ({result.total} in all at offset {result.offset})" if result.total
                      else "no runs match")
    for name, counts in result.facets.items():
        if counts:
            label = "model" if name == "model_name" else name
            console.print(f"  [bold]{label}[/]: " + " · ".join(f"{k} {v}" for k, v in counts.items()),
                          highlight=False)


def _row_cells(r) -> dict[str, str]:
    status = "" if r.status in (None, "completed") else f" ({r.status})"
    held = "-" if r.eval_metric is None else f"{_fmt(r.eval_before)}→{_fmt(r.eval_after)}"
    return {"run": f"[cyan]{r.run_id}[/]", "modality": r.modality or "-", "verdict": _verdict(r.verdict) + status,
            "started": (r.started_at or "-")[:10], "loss": _fmt(r.final_train_loss), "held-out": held,
            "model": f"[dim]{r.model_name or '-'}[/]"}


def _print_rows(rows, console) -> None:
    """Every value in full: one table row per run when that fits the terminal, else one block per run
    (an 80-column terminal with long model paths would otherwise cut "modality" and the dates short)."""
    from rich.table import Table

    cells = [_row_cells(r) for r in rows]
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("run / model", no_wrap=True)  # the model under the run id: 80 columns hold the rest
    for name in ("modality", "verdict", "started", "loss", "held-out"):
        table.add_column(name, no_wrap=True, justify="right" if name == "loss" else "left")
    for c in cells:
        table.add_row(f"{c['run']}\n{c['model']}", c["modality"], c["verdict"], c["started"], c["loss"], c["held-out"])
    from rich.measure import Measurement

    if Measurement.get(console, console.options.update_width(10_000), table).maximum <= console.width:
        console.print(table)
        return
    for c in cells:
        console.print(f"{c['run']}  {c['modality']}  {c['verdict']}  {c['started']}", highlight=False)
        console.print(f"  loss {c['loss']} · held-out {c['held-out']}", highlight=False)
        console.print(f"  model {c['model']}", highlight=False, soft_wrap=True)


@app.command("show")
def show(
    run: str = typer.Argument(..., help="The run id."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary JSON only."),
) -> None:
    """Show one run's whole training summary."""
    summary = _index().get(run)
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    from rich.json import JSON

    from halo_forge.cli.report import print_summary

    console = _console()
    print_summary(summary, console)
    console.print()
    console.print(JSON(summary.model_dump_json()))


@app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., help="Two or more run ids."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Put runs side by side: headline figures, then the config settings and extra figures that differ."""
    cmp = _index().compare(runs)
    if as_json:
        typer.echo(cmp.model_dump_json(indent=2))
        return
    from rich.table import Table

    console = _console()
    ids = [r.run_id for r in cmp.runs]

    def grid(title: str, rows: dict, mark: set | None = None) -> None:
        table = Table(title=title, title_justify="left", header_style="bold")
        table.add_column("", style="bold", no_wrap=True)
        for run_id in ids:
            table.add_column(run_id, overflow="fold", style=None)
        for key, values in rows.items():
            if key == "run_id":
                continue
            cells = [_short(v) if isinstance(v, str) and key.endswith(("digest", "cache_key")) else _fmt(v)
                     for v in values]
            if key == "verdict":
                cells = [_verdict(v) for v in values]
            style = "yellow" if mark is None or key in mark else None
            table.add_row(key, *cells, style=style)
        console.print(table)

    grid("headline (differences in yellow)", cmp.headline, set(cmp.differing))
    if cmp.config:
        grid("config settings that differ", cmp.config)
    else:
        console.print("config: identical")
    if cmp.extra:
        grid("extra figures that differ", cmp.extra)


@app.command("lineage")
def lineage(
    run: str = typer.Argument(..., help="The run id."),
    as_json: bool = typer.Option(False, "--json", help="Print the lineage as JSON."),
) -> None:
    """Trace a run: its dataset and base model, the earlier stages it built on and the later ones built on it."""
    lin = _index().lineage(run)
    if as_json:
        typer.echo(lin.model_dump_json(indent=2))
        return
    console = _console()
    r = lin.run
    others = f" (also used by {len(lin.same_dataset)} other run{'s' if len(lin.same_dataset) != 1 else ''})" \
        if lin.same_dataset else ""
    console.print(f"dataset     {_short(lin.dataset_digest)}{others}", highlight=False)
    console.print(f"base model  {_short(lin.base_model, 16)}", highlight=False)
    def line(prefix: str, run_id: str, modality, verdict, out) -> None:
        console.print(f"{prefix}[cyan]{run_id}[/]  {modality or '-'}  {_verdict(verdict)}  → {_short(out)}",
                      highlight=False)

    if lin.upstream:
        console.print("[bold]earlier stages[/] (nearest first):")
        for link in lin.upstream:
            line(f"  {'  ' * (link.depth - 1)}← ", link.run_id, link.modality, link.verdict, link.output_model_digest)
    else:
        console.print("earlier stages: none in the index")
    line("[bold]this run[/]    ", r.run_id, r.modality, r.verdict, lin.output_model_digest)
    if lin.downstream:
        console.print("[bold]later stages[/] (nearest first):")
        for link in lin.downstream:
            line(f"  {'  ' * (link.depth - 1)}→ ", link.run_id, link.modality, link.verdict, link.output_model_digest)
    else:
        console.print("later stages: none in the index")


@app.command("reindex")
def reindex(
    paths: list[Path] = typer.Argument(None, help="Folders to scan for training_summary.json (default: the "
                                                   "workspace root, which holds its outputs)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Rebuild the run index from the training_summary.json files on disk and the replay records (the index is
    derived data); a damaged or missing summary file is restored from its run's replay record."""
    report = _index().reindex(paths or None)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    console = _console()
    dup = f", {report.duplicates} duplicate run ids (newest file kept)" if report.duplicates else ""
    console.print(f"indexed {report.indexed} runs from {report.found} summary files{dup} in {report.seconds:.2f} s "
                  f"({', '.join(report.roots)})", highlight=False)
    if report.from_replay:
        console.print(f"{report.from_replay} run(s) indexed from their replay record (replay/<run_id>/) alone",
                      highlight=False)
    for path, source in report.recovered.items():
        console.print(f"[green]restored[/] {path} from {source} (it was damaged or missing)", highlight=False)
    for path, why in report.rejected.items():
        console.print(f"[yellow]skipped[/] {path}: {why}", highlight=False)



@app.command("sync")
def sync(
    force: bool = typer.Option(False, "--force", help="Also replay unfinished records whose process may still run."),
    rebuild: bool = typer.Option(False, "--rebuild", help=(
        "Move a damaged MLflow store (mlflow.db) aside and rebuild it from the replay records (replay/<run_id>/).")),
) -> None:
    """Log runs that MLflow missed (server down, disk full) into the current tracking store; --rebuild remakes a
    damaged store from the replay records."""
    from halo_forge.tracking import sync_pending
    from halo_forge.tracking.rebuild import damage_error, rebuild_store, store_damage
    from halo_forge.workspace import find_workspace

    ws = find_workspace()
    if rebuild:
        moved, report = rebuild_store(ws)
        typer.echo(f"moved the damaged store to {moved}" if moved else "no store file was there: made a new one")
        typer.echo(f"rebuilt from the replay records: {len(report.synced)} run(s) logged")
    else:
        why = store_damage(ws)
        if why is not None:
            raise damage_error(ws, why)
        report = sync_pending(ws, force=force)
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)
