"""Run index search latency on 1,000,000 synthetic runs.

    python bench/runs_search.py [--runs 1000000] [--repeats 15] [--keep DIR]

Builds a workspace index from pyarrow tables (`RunIndex.load_frame`, 100k rows per batch; never
executemany), then times `RunIndex.search()` — the function `halo-forge runs search` and the HTTP
`/runs/search` call, including its lock, connection open and facet counts — over a mix of typical
queries, and prints p50/p95 per query and over the whole mix — once with the default kept read
connection (what a server process gets) and once with a fresh connection per search. Also times
a few whole `halo-forge runs search` processes. Target: p50 ≤ 100 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from halo_forge.runs import RunIndex  # noqa: E402
from halo_forge.workspace import Workspace  # noqa: E402

MODALITIES = np.array(["sft", "dpo", "orpo", "grpo", "rm", "raft", "kto", "ppo", "cpt", "distill"])
MODALITY_P = np.array([30, 20, 8, 15, 5, 5, 5, 4, 4, 4]) / 100
FAMILIES = ["Qwen/Qwen2.5-{}", "Qwen/Qwen2.5-Coder-{}", "meta-llama/Llama-3.2-{}", "mistralai/Mistral-{}",
            "google/gemma-3-{}", "microsoft/Phi-4-{}", "HuggingFaceTB/SmolLM2-{}", "halo-forge/tiny-{}"]
SIZES = ["0.5B", "1B", "1.5B", "3B", "7B", "14B"]
DATASETS = np.array(["codealpaca", "gsm8k", "ultrafeedback", "alpaca", "metamath", "orca", "hh-rlhf", "tulu3"])
OPTIMS = np.array(["adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "adafactor"])
PEFT = np.array(["lora", "dora", "full", "lora"])


def synthetic(start: int, n: int, rng: np.random.Generator) -> pa.Table:
    """n synthetic runs as one pyarrow table: headline columns, figures, search text and summary JSON."""
    models = np.array([f.format(s) for f in FAMILIES for s in SIZES] + [f"org{i}/custom-{i}" for i in range(150)])
    mod = MODALITIES[rng.choice(len(MODALITIES), n, p=MODALITY_P)]
    model = models[rng.integers(0, len(models), n)]
    verdict = np.array(["passed", "warned", "failed"])[rng.choice(3, n, p=[0.6, 0.25, 0.15])]
    status = np.where(rng.random(n) < 0.03, "failed", "completed")
    started = (np.datetime64("2025-01-01T00:00:00") + rng.integers(0, 540 * 86400, n).astype("timedelta64[s]"))
    duration = rng.gamma(2.0, 900.0, n).round(3)
    loss = rng.gamma(2.0, 0.25, n).round(5)
    steps = rng.integers(10, 20000, n)
    before = rng.uniform(0, 0.7, n).round(4)
    after = np.clip(before + rng.normal(0.08, 0.12, n), 0, 1).round(4)
    sps = rng.uniform(0.3, 12.0, n).round(3)
    lr = rng.choice([1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4], n)
    rank = rng.choice([8, 16, 32, 64], n)
    batch = rng.choice([1, 2, 4, 8, 16, 32], n)
    epochs = rng.integers(1, 5, n)
    seed = rng.integers(0, 1000, n)
    dataset = DATASETS[rng.integers(0, len(DATASETS), n)]
    optim = OPTIMS[rng.integers(0, len(OPTIMS), n)]
    peft = PEFT[rng.integers(0, len(PEFT), n)]
    train_rows = rng.integers(500, 200_000, n)
    ids = [f"{mod[i]}-{start + i:07d}-{rng_hex}" for i, rng_hex in
           zip(range(n), np.char.mod("%06x", rng.integers(0, 2 ** 24, n)))]
    digest = np.char.mod("sha256:%016x", rng.integers(0, 2 ** 62, n, dtype=np.int64))
    out_digest = np.char.mod("sha256:%016x", rng.integers(0, 2 ** 62, n, dtype=np.int64))
    data_digest = np.char.mod("sha256:%012x", rng.integers(0, 5000, n))
    started_s = np.datetime_as_string(started, unit="s")
    summaries, texts = [], []
    for i in range(n):
        imp = after[i] - before[i]
        reason = (f"improved held-out heldout_accuracy {before[i]:.4g} -> {after[i]:.4g} (n=200)" if imp > 0 else
                  f"no improvement on held-out heldout_accuracy {before[i]:.4g} -> {after[i]:.4g} (n=200)")
        summaries.append(
            f'{{"schema_version":1,"modality":"{mod[i]}","model_name":"{model[i]}","run_id":"{ids[i]}",'
            f'"seed":{seed[i]},"status":"{status[i]}","backend":"torch-cuda","started_at":"{started_s[i]}+00:00",'
            f'"ended_at":null,"duration_seconds":{duration[i]},"cycles":[{{"cycle":0,"train_loss":{loss[i]},'
            f'"cycle_duration_seconds":{duration[i]},"steps":{steps[i]}}}],"total_train_steps_executed":{steps[i]},'
            f'"final_train_loss":{loss[i]},"weights_updated":true,"effectiveness":{{"verdict":"{verdict[i]}",'
            f'"reasons":["{reason}"],"evaluation":{{"metric":"heldout_accuracy","before":{before[i]},'
            f'"after":{after[i]},"delta":{imp:.4f},"higher_is_better":true,"n":200,"tolerance":0.02}},'
            f'"evaluations":[{{"metric":"heldout_accuracy","before":{before[i]},"after":{after[i]},'
            f'"delta":{imp:.4f},"higher_is_better":true,"n":200,"tolerance":0.02}}]}},"yield_diagnostics":{{}},'
            f'"recovery":{{"resumed":false,"resumed_from":null,"notes":[]}},"extra":{{"peft":"{peft[i]}",'
            f'"optim":"{optim[i]}","steps_per_second":{sps[i]},"train_runtime_seconds":{duration[i]},'
            f'"loss_history":[[10,{loss[i] * 3:.4f}],[100,{loss[i] * 1.5:.4f}],[{steps[i]},{loss[i]}]]}},'
            f'"inputs":{{"dataset":"{dataset[i]}","dataset_digest":"{data_digest[i]}","train_rows":{train_rows[i]},'
            f'"eval_rows":200,"model_digest":"{digest[i]}","cache_key":"sha256:{ids[i]}"}},'
            f'"outputs":{{"model_path":"outputs/{ids[i]}","model_digest":"{out_digest[i]}","adapter":true}},'
            f'"versions":{{"python":"3.11.7","torch":"2.13.0","transformers":"5.24.0","trl":"1.16.0"}},'
            f'"config":{{"model":"{model[i]}","dataset":"{dataset[i]}","output":"outputs/{ids[i]}",'
            f'"learning_rate":{lr[i]},"epochs":{epochs[i]},"batch_size":{batch[i]},"lora_rank":{rank[i]},'
            f'"lora_alpha":{rank[i] * 2},"optim":"{optim[i]}","seed":{seed[i]},"max_length":2048,'
            f'"lr_scheduler_type":"cosine","packing":false}}}}')
        texts.append(f"{ids[i]} {mod[i]} {model[i].lower()} {status[i]} torch-cuda {verdict[i]} {reason} "
                     f"{dataset[i]} model={model[i].lower()} dataset={dataset[i]} output=outputs/{ids[i]} "
                     f"optim={optim[i]} lr_scheduler_type=cosine packing=false")
    return pa.table({
        "run_id": ids, "modality": mod, "model_name": model, "status": status, "verdict": verdict,
        "started_at": started, "duration_seconds": duration, "final_train_loss": loss, "total_train_steps": steps,
        "weights_updated": np.ones(n, dtype=bool), "eval_metric": np.full(n, "heldout_accuracy"),
        "eval_before": before, "eval_after": after, "eval_delta": (after - before).round(4),
        "cache_key": [f"sha256:{x}" for x in ids], "dataset_digest": data_digest, "model_digest": digest,
        "output_model_digest": out_digest, "output_path": [f"outputs/{x}" for x in ids], "seed": seed,
        "backend": np.full(n, "torch-cuda"), "summary": summaries, "search_text": texts,
        "extra.steps_per_second": sps, "extra.train_runtime_seconds": duration, "extra.peft": peft,
        "extra.optim": optim, "config.learning_rate": lr, "config.epochs": epochs, "config.batch_size": batch,
        "config.lora_rank": rank, "config.lora_alpha": rank * 2, "config.seed": seed,
        "config.max_length": np.full(n, 2048), "config.optim": optim, "config.dataset": dataset,
        "config.model": model, "config.lr_scheduler_type": np.full(n, "cosine"),
        "config.packing": np.zeros(n), "inputs.dataset": dataset, "inputs.train_rows": train_rows,
        "inputs.eval_rows": np.full(n, 200), "effectiveness.evaluation.n": np.full(n, 200),
        "effectiveness.evaluation.tolerance": np.full(n, 0.02), "outputs.adapter": np.ones(n),
        "versions.torch": np.full(n, "2.13.0"), "recovery.resumed": np.zeros(n),
    })


def queries() -> list[tuple[str, callable]]:
    """The timed mix: (label, params(i) → kwargs for search)."""
    mods, verdicts = list(MODALITIES), ["passed", "warned", "failed"]
    models = ["qwen2.5-7b", "llama-3.2", "coder", "gemma", "custom-42", "smollm2-1.5b"]
    texts = ["codealpaca", "gsm8k regression", "no improvement metamath", "dpo-00", "paged_adamw"]
    return [
        ("modality + verdict", lambda i: dict(modality=mods[i % 10], verdict=verdicts[i % 3])),
        ("model substring", lambda i: dict(model=models[i % len(models)])),
        ("metric range (headline)", lambda i: dict(where=[f"final_train_loss<{0.2 + 0.05 * (i % 5):.2f}",
                                                          "eval_after>=0.6"])),
        ("metric range (figure path)", lambda i: dict(where=[f"extra.steps_per_second>{3 + i % 5}",
                                                             "config.learning_rate<=1e-4"])),
        ("free text", lambda i: dict(text=texts[i % len(texts)])),
        ("sort + limit", lambda i: dict(sort=["eval_after", "final_train_loss", "duration_seconds"][i % 3],
                                        descending=bool(i % 2), limit=50, offset=50 * (i % 4))),
        ("dates + modality", lambda i: dict(modality="sft,dpo", since=f"2025-{1 + i % 12:02d}-01",
                                            until=f"2025-{1 + i % 12:02d}-28")),
        ("everything at once", lambda i: dict(modality="grpo", verdict="passed", model="qwen",
                                              where=["eval_delta>0.1"], text="gsm8k", sort="eval_after")),
    ]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=15, help="timed searches per query type")
    ap.add_argument("--cli-repeats", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    args = ap.parse_args()

    import duckdb

    root = args.keep or Path(tempfile.mkdtemp(prefix="runs-bench-"))
    ws = Workspace(root).ensure()
    index = RunIndex(ws)
    print(f"machine: {os.cpu_count()} cores, duckdb {duckdb.__version__}, pyarrow {pa.__version__}")
    try:
        if index.path.exists() and index.count() == args.runs:
            print(f"reusing {index.path} ({args.runs:,} runs)")
        else:
            rng = np.random.default_rng(0)
            gen = load = 0.0
            for start in range(0, args.runs, args.batch):
                t0 = time.perf_counter()
                table = synthetic(start, min(args.batch, args.runs - start), rng)
                t1 = time.perf_counter()
                index.load_frame(table)
                t2 = time.perf_counter()
                gen, load = gen + t1 - t0, load + t2 - t1
            print(f"built {args.runs:,} runs: generating {gen:.1f} s, loading {load:.1f} s "
                  f"({args.runs / load:,.0f} runs/s), file {index.path.stat().st_size / 1e6:.0f} MB")

        mix = queries()
        for title, idx in (("kept connection (a server process searching repeatedly; the default)", index),
                           ("fresh connection per search (keepalive=0: cold DuckDB cache each time)",
                            RunIndex(ws, keepalive=0))):
            idx.search(limit=1)  # warm: first open, imports
            per: dict[str, list[float]] = {}
            totals: dict[str, int] = {}
            order = [(label, fn, i) for i in range(args.repeats) for label, fn in mix]
            random.Random(0).shuffle(order)
            for label, fn, i in order:
                t0 = time.perf_counter()
                res = idx.search(**fn(i))
                per.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
                totals[label] = res.total
            everything = [x for xs in per.values() for x in xs]
            print(f"\nRunIndex.search() with facets over {args.runs:,} runs, {title}; "
                  f"{args.repeats} of each query, shuffled; ms:")
            print(f"  {'query':<28}{'p50':>8}{'p95':>8}   matches (last)")
            for label, _ in mix:
                xs = per[label]
                print(f"  {label:<28}{statistics.median(xs):8.1f}{pct(xs, 95):8.1f}   {totals[label]:,}")
            print(f"  {'whole mix':<28}{statistics.median(everything):8.1f}{pct(everything, 95):8.1f}")

        # outside the mix: a path through a list is read from the summary JSON
        xs = []
        for i in range(3):
            t0 = time.perf_counter()
            index.search(where=[f"effectiveness.evaluations.0.after>{0.5 + i / 10}"])
            xs.append((time.perf_counter() - t0) * 1000)
        print(f"  {'(JSON path through a list)':<28}{statistics.median(xs):8.1f}{max(xs):8.1f}   not in the mix")

        if args.cli_repeats:
            env = {**os.environ, "HALO_FORGE_WORKSPACE": str(root)}
            exe = Path(sys.executable).parent / "halo-forge"
            cmd = [str(exe), "runs", "search", "--modality", "sft", "--verdict", "passed", "--json"]
            times = []
            for _ in range(args.cli_repeats):
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"\nwhole process `halo-forge runs search --modality sft --verdict passed --json`: "
                  f"p50 {statistics.median(times):.0f} ms ({args.cli_repeats} runs)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
