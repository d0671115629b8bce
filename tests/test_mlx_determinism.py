"""MLX on CPU with a fixed seed is deterministic across processes: two real processes train LoRA for a few steps
(mx.compile on), sample, and print their losses, a digest of the trained adapter and the samples; they match."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("mlx.core", reason="the MLX tests need the mlx extra")

SCRIPT = r"""
import hashlib, json, sys
import numpy as np
from halo_forge.mlx import lora, runtime, sampling, steps, tokenize, weights
runtime.seed(int(sys.argv[1]))
model, tok = weights.load("halo-forge/tiny")
config = lora.apply_lora(model, rank=4, alpha=8, dropout=0.1)
rows = [{"prompt": f"What is {a}+{b}? ", "completion": str(a + b)} for a, b in ((1, 2), (30, 4), (5, 61))]
batch = tokenize.sft_batch([tokenize.sft_example(r, tok) for r in rows], tok.pad_token_id)
step = steps.make_train_step(model, steps.make_optimizer(lr=1e-2, total_steps=3), steps.sft_loss, compile=True)
losses = [step([batch]).loss for _ in range(3)]
digest = hashlib.sha256()
for name, value in sorted(lora.lora_weights(model).items()):
    digest.update(name.encode()); digest.update(np.array(value).tobytes())
ids = tokenize.prompt_ids({"prompt": "What is 2+2? "}, tok)
samples = sampling.sample(model, tok, [ids], n=3, temperature=1.0, max_tokens=4, seed=7)
print(json.dumps({"losses": losses, "adapter": digest.hexdigest(), "samples": samples}))
"""


def test_two_processes_with_one_seed_train_and_sample_identically():
    from halo_forge.models.tiny import ensure_tiny

    ensure_tiny("halo-forge/tiny")  # built once, before the two processes race to build it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH")] if p)}
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-2000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]  # bit-identical losses, adapter weights (dropout on) and samples
    assert outs[0]["losses"][-1] < outs[0]["losses"][0]


def test_the_seed_reaches_lora_init():
    import numpy as np

    from halo_forge.mlx import lora, runtime, weights

    inits = []
    for seed in (0, 0, 1):
        runtime.seed(seed)
        model, _ = weights.load("halo-forge/tiny")
        lora.apply_lora(model, rank=2, alpha=4)
        inits.append(np.concatenate([np.array(v).ravel() for _, v in sorted(lora.lora_weights(model).items())]))
    assert np.array_equal(inits[0], inits[1]) and not np.array_equal(inits[0], inits[2])
