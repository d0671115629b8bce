"""`halo-forge verifiers …`: the verifier registry (built-ins and plugins) and the sandbox in use."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Reward verifiers for GRPO/RAFT: list them, what each needs in a row, the sandbox.",
                  no_args_is_help=True)


@app.command("list")
def list_verifiers(
    as_json: bool = typer.Option(False, "--json", help="Print the verifiers (and the sandbox in use) as JSON."),
) -> None:
    """Every verifier: name, source (builtin or plugin module), the row fields it needs, its options."""
    import warnings

    from halo_forge.verifiers import describe_verifiers
    from halo_forge.verifiers.sandbox import isolation_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failed plugins are shown in the listing itself
        rows = describe_verifiers()
    sandbox = isolation_report()
    if as_json:
        typer.echo(json.dumps({"verifiers": rows, "sandbox": sandbox}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("verifier", no_wrap=True, style="cyan")
    table.add_column("source", no_wrap=True)
    table.add_column("row needs", no_wrap=True)
    table.add_column("what it checks")
    for r in rows:
        needs = ", ".join(r["requires"]) or "-"
        what = r.get("error") and f"[red]import failed: {r['error']}[/]" or r["description"]
        table.add_row(r["name"], r["source"], needs, what + (" [dim](sandboxed)[/]" if r["runs_code"] else ""))
    console.print(table)
    iso = sandbox["isolation"]
    console.print(f"sandbox: [bold]{iso}[/]; process bound: {sandbox['process_bound']}"
                  + ("" if iso != "none" else " — code-running verifiers refuse to run without "
                     "--unsafe-verifier-execution (install bubblewrap)"), highlight=False)
    console.print("options: --verifier-arg key=value (see docs/VERIFIERS.md or `--json` for each one's options)",
                  highlight=False)
