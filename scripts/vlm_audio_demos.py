"""The built-in VLM and audio demos: real `halo-forge vlm|audio train` commands (through the flow, tracked
and replayable) on the tiny local models and built-in sets, each stage judged on held-out rows before and
after training. docs/VLM_AUDIO.md records what they printed.

    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py vlm        # counting shapes: SFT, then RAFT and GRPO
    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py asr        # spoken digits: SFT; WER falls
    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py asr-rl     # digit sequences: SFT, then RAFT and GRPO
    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py cls        # spoken digits: classification accuracy
    PYTHONPATH=. .venv/bin/python scripts/vlm_audio_demos.py all

Options: --out FOLDER (default outputs/demos). One torch thread (steady on a shared machine). Each stage is
printed as the command that ran it and its held-out figures; a JSON line per stage goes to <out>/demos.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

VLM_SFT = ["vlm", "train", "--dataset", "shapes", "--method", "sft", "--no-lora", "--max-steps", "100",
           "--batch-size", "32", "--learning-rate", "2e-3", "--lr-scheduler", "cosine", "--warmup-steps", "5",
           "--eval-max-new-tokens", "3", "--seed", "0"]
VLM_RL = ["vlm", "train", "--dataset", "shapes", "--no-lora", "--max-completion-length", "3",
          "--eval-max-new-tokens", "3", "--seed", "0"]
ASR = ["audio", "train", "--task", "asr", "--eval-max-new-tokens", "12", "--seed", "0"]
CONSTANT = ["--lr-scheduler", "constant"]

# demo -> [(stage, command, model from an earlier stage or None)]
DEMOS = {
    "vlm": [("sft", VLM_SFT, None),
            ("raft", [*VLM_RL, "--method", "raft", "--cycles", "2", "--samples-per-prompt", "4", "--prompts-per-cycle",
                      "512", "--keep-percent", "0.5", "--max-steps", "40", "--batch-size", "32", "--learning-rate",
                      "1e-3", "--lr-scheduler", "constant"], "sft"),
            ("grpo", [*VLM_RL, "--method", "grpo", "--num-generations", "8", "--batch-size", "32", "--max-steps", "60",
                      "--learning-rate", "1e-4", "--lr-scheduler", "cosine", "--temperature", "1.0"], "sft")],
    "asr": [("sft", [*ASR, *CONSTANT, "--dataset", "spoken_digits", "--max-steps", "300", "--batch-size", "32",
                     "--learning-rate", "2e-3"], None)],
    "asr-rl": [("sft", [*ASR, *CONSTANT, "--dataset", "digit_sequences", "--max-steps", "200", "--batch-size", "32",
                        "--learning-rate", "2e-3"], None),
               ("raft", [*ASR, *CONSTANT, "--dataset", "digit_sequences", "--method", "raft", "--cycles", "2",
                         "--samples-per-prompt", "4", "--keep-percent", "0.5",
                         "--max-completion-length", "12", "--max-steps", "40", "--batch-size", "32",
                         "--learning-rate", "1e-3"], "sft"),
               ("grpo", [*ASR, "--dataset", "digit_sequences", "--method", "grpo", "--num-generations", "8",
                         "--batch-size", "32", "--max-completion-length", "12", "--max-steps", "60",
                         "--learning-rate", "1e-4", "--lr-scheduler", "cosine", "--temperature", "0.7"], "sft")],
    "cls": [("sft", ["audio", "train", "--task", "classification", "--model", "halo-forge/tiny-audio-cls", "--dataset",
                     "spoken_digits", "--max-steps", "400", "--batch-size", "32", "--learning-rate", "1e-3",
                     "--lr-scheduler", "constant", "--seed", "0"], None)],
}


def run_stage(command: list[str], output: Path) -> dict:
    """Run one `halo-forge` command in its own process; its summary's figures."""
    argv = [sys.executable, "-m", "halo_forge.cli.main", *command, "--output", str(output), "--overwrite"]
    print("$ halo-forge " + " ".join(argv[3:]), flush=True)
    t0 = time.time()
    subprocess.run(argv, check=True, env={**os.environ, "OMP_NUM_THREADS": "1", "HALO_FORGE_CPU_THREADS": "1"})
    summary = json.loads((output / "training_summary.json").read_text())
    eff = summary["effectiveness"]
    return {"verdict": eff["verdict"], "steps": summary["total_train_steps_executed"],
            "seconds": round(time.time() - t0, 1), "train_seconds": summary["extra"].get("train_seconds"),
            "figures": {e["metric"]: [round(e["before"], 4), round(e["after"], 4), e["n"]] for e in eff["evaluations"]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("demo", choices=[*DEMOS, "all"])
    p.add_argument("--out", type=Path, default=Path("outputs/demos"))
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for demo in DEMOS if a.demo == "all" else [a.demo]:
        for stage, command, start in DEMOS[demo]:
            model = ["--model", str(a.out / f"{demo}-{start}")] if start else []
            result = {"demo": demo, "stage": stage, **run_stage([*command, *model], a.out / f"{demo}-{stage}")}
            print(json.dumps(result), flush=True)
            with open(a.out / "demos.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({**result, "command": ["halo-forge", *command, *model]}) + "\n")


if __name__ == "__main__":
    main()
