"""halo-forge's SFT vs a plain TRL script on the same tiny config, measured in one run.

    python bench/sft_overhead.py [--max-steps 300] [--repeats 2]

Prints wall time and training steps/s for each, and their ratios (halo-forge / plain TRL). The
halo-forge command also measures held-out loss and accuracy before and after training and writes
the summary; that work is inside its wall time. Also times `halo-forge --help` and
`python -c "import halo_forge"` and checks that neither imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - t0, out.stdout


def startup(env: dict, repeats: int = 5) -> dict:
    probe = "import sys, runpy; sys.argv=['halo-forge','--help']\ntry:\n runpy.run_module('halo_forge.cli.main', run_name='__main__')\nexcept SystemExit: pass\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
    res = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    help_loads_torch = "NO-TORCH" not in res.stderr
    imp = subprocess.run([sys.executable, "-c", "import sys, halo_forge; print('torch' in sys.modules)"],
                         env=env, capture_output=True, text=True).stdout.strip() == "True"
    helps = [timed([str(BIN / "halo-forge"), "--help"], env)[0] for _ in range(repeats)]
    imports = [timed([sys.executable, "-c", "import halo_forge"], env)[0] for _ in range(repeats)]
    return {"help_s": statistics.median(helps), "import_s": statistics.median(imports),
            "help_loads_torch": help_loads_torch, "import_loads_torch": imp}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hf-bench-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HALO_FORGE_HOME=os.environ.get("HALO_FORGE_HOME", str(work / "home")),
               HALO_FORGE_WORKSPACE=str(work / "ws"))
    os.environ.update(env)
    from halo_forge.data.builtin import arithmetic_split
    from halo_forge.models.tiny import ensure_tiny

    model = ensure_tiny("halo-forge/tiny")
    train, heldout = arithmetic_split()
    data = work / "rows.jsonl"
    with data.open("w") as fh:  # same rows for both; halo-forge holds 5 % out for evaluation
        for r in train + heldout:
            fh.write(json.dumps(r) + "\n")

    common = ["--max-steps", str(args.max_steps), "--batch-size", "64", "--learning-rate", "2e-3"]
    hf_cmd = [str(BIN / "halo-forge"), "sft", "train", "--data", str(data), "--model", str(model), "--no-lora",
              "--lr-scheduler", "cosine", "--warmup-steps", "50", "--logging-steps", "50", "--max-length", "64",
              "--eval-max-new-tokens", "8", "--overwrite", "--output", str(work / "hf-out"), *common]
    trl_cmd = [sys.executable, str(HERE / "plain_trl_sft.py"), "--data", str(data), "--model", str(model),
               "--output", str(work / "trl-out"), *common]

    results = {"halo-forge": [], "plain TRL": []}
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        wall, _ = timed(hf_cmd, env)
        s = json.loads((work / "hf-out" / "training_summary.json").read_text())
        results["halo-forge"].append((wall, s["total_train_steps_executed"] / s["cycles"][0]["cycle_duration_seconds"]))
        wall, out = timed(trl_cmd, env)
        r = json.loads(out.strip().splitlines()[-1])
        results["plain TRL"].append((wall, r["steps"] / r["train_seconds"]))

    med = {k: (statistics.median(w for w, _ in v), statistics.median(s for _, s in v)) for k, v in results.items()}
    print(f"tiny SFT, {args.max_steps} steps, batch 64, full fine-tune, {args.repeats} interleaved repeats (medians)")
    for k, (wall, sps) in med.items():
        print(f"  {k:11s} wall {wall:7.2f} s   train {sps:6.2f} steps/s")
    print(f"  ratio halo-forge / plain TRL: wall {med['halo-forge'][0] / med['plain TRL'][0]:.3f}, "
          f"steps/s {med['halo-forge'][1] / med['plain TRL'][1]:.3f}")
    st = startup(env)
    print(f"halo-forge --help {st['help_s']:.3f} s (loads torch: {st['help_loads_torch']}); "
          f"import halo_forge {st['import_s']:.3f} s (loads torch: {st['import_loads_torch']})")


if __name__ == "__main__":
    main()
