"""The dashboard opens with a search over 10,000 indexed runs: how long until the runs table shows.

    python bench/dashboard_search.py [--runs 10000] [--repeats 7]

Builds a workspace index of synthetic runs (bench/runs_search.py's generator, plus the dataset
column), starts a real `halo-forge dashboard` process on a free loopback port, then measures, in the
same run:

- baseline: `RunIndex.search()` in-process (the default page's query: newest 20, with facets);
- HTTP: the page, its scripts and `GET /runs/search` in sequence over one connection, as a browser
  fetches them (cold: the first open after the server started; warm: the median of the others);
- browser: headless Chromium (Debian's chromium; skipped without it) opening the page in a fresh
  context each time, from navigation start until the runs table is in the page (the
  `halo:runs-rendered` performance mark that runs.js sets).

Prints each median and the ratio to the baseline. Target: the page opens in under 300 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from runs_search import synthetic  # noqa: E402
from test_dashboard_support import BROWSER_ARGS, CHROMIUM, serve, stop  # noqa: E402

from halo_forge.dashboard.auth import ensure_token  # noqa: E402
from halo_forge.runs import RunIndex  # noqa: E402
from halo_forge.workspace import Workspace  # noqa: E402

ASSETS = ["/", "/static/style.css", "/static/app.js", "/static/api.js", "/static/runs.js", "/static/run.js",
          "/static/compare.js", "/static/train.js", "/static/chart.js"]
SEARCH = "/runs/search?sort=started_at&descending=true&limit=20&offset=0"


def build(ws: Workspace, runs: int) -> float:
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    for start in range(0, runs, 10_000):
        table = synthetic(start, min(10_000, runs - start), rng)
        RunIndex(ws).load_frame(table.append_column("dataset", table["inputs.dataset"]))
    return time.perf_counter() - t0


def http_open(url: str) -> float:
    import httpx

    with httpx.Client(base_url=url) as client:
        t0 = time.perf_counter()
        for path in ASSETS:
            client.get(path).raise_for_status()
        assert client.get(SEARCH).json()["total"] > 0
        return (time.perf_counter() - t0) * 1000


def browser_open(url: str, token: str, repeats: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{url}/?token={token}")  # sets the cookie (not timed)
        context.close()
        for _ in range(repeats):
            context = browser.new_context()  # fresh: no HTTP cache
            page = context.new_page()
            page.goto(url + "/", wait_until="commit")
            page.wait_for_selector("#runs-table tr[data-run]")
            out.append(page.evaluate("performance.getEntriesByName('halo:runs-rendered')[0].startTime"))
            context.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    os.environ.setdefault("HALO_FORGE_HOME", str(root / "home"))
    ws = Workspace(root / "ws").ensure()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"built {args.runs:,} runs in {build(ws, args.runs):.1f} s")
    index = RunIndex(ws)
    index.search(limit=20)
    lib = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        index.search(sort="started_at", descending=True, limit=20, offset=0)
        lib.append((time.perf_counter() - t0) * 1000)
    proc, url = serve(ws.root)
    try:
        cold = http_open(url)
        warm = [http_open(url) for _ in range(args.repeats)]
        base = statistics.median(lib)
        print(f"\nopening the Runs page over {args.runs:,} runs, median of {args.repeats}; ms:")
        print(f"  baseline RunIndex.search() in-process        {base:7.1f}   1.0x")
        print(f"  HTTP page + scripts + /runs/search (cold)     {cold:7.1f}   {cold / base:.1f}x")
        print(f"  HTTP page + scripts + /runs/search (warm)     {statistics.median(warm):7.1f}   "
              f"{statistics.median(warm) / base:.1f}x")
        if os.path.exists(CHROMIUM):
            shown = browser_open(url, ensure_token(ws), args.repeats)
            med = statistics.median(shown)
            print(f"  Chromium: navigation → runs table rendered   {med:7.1f}   {med / base:.1f}x   "
                  f"(all: {', '.join(f'{x:.0f}' for x in shown)})")
            print(f"\ntarget: under 300 ms in the browser: {'met' if med < 300 else 'NOT met'}")
        else:
            print("  Chromium: not installed (skipped)")
    finally:
        stop(proc)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
