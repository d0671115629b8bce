"""Sampling on MLX behind the rollout protocol (halo_forge/rollout/mlx_engine.py), and the Metal-only calls
guarded on this Linux CPU."""

from __future__ import annotations

import pytest

from mlx_micro import ARITHMETIC_PROMPTS, micro_model_folder, perturb_torch

pytest.importorskip("mlx.core", reason="the MLX tests need the mlx extra")


def test_metal_only_calls_are_guarded_on_cpu():
    import mlx.core as mx

    from halo_forge.mlx import runtime

    runtime.require_mlx()
    info = runtime.device_description()
    assert info["device"] == ("gpu" if runtime.on_metal() else "cpu")
    if not mx.metal.is_available():  # this Linux CPU: what mlx-lm-lora indexed into is simply absent
        assert runtime.recommended_working_set() is None
        assert runtime.set_wired_limit() is None
        assert runtime.set_wired_limit(1 << 30) is None
    assert runtime.peak_memory_bytes() is None or runtime.peak_memory_bytes() >= 0


def test_engine_samples_n_per_prompt_reproducibly_and_follows_the_policy():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from halo_forge.evaluation import prompt_text
    from halo_forge.rollout import Sampling, get_engine

    folder = micro_model_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    policy = AutoModelForCausalLM.from_pretrained(folder)
    prompts = [prompt_text({"prompt": [{"role": "user", "content": p}]}, tok) for p in ARITHMETIC_PROMPTS[:2]]
    sampling = Sampling(temperature=1.0, max_new_tokens=5)
    first = get_engine("mlx", policy, tok, seed=3)
    a = first.generate(prompts, 4, sampling)
    assert [len(g) for g in a] == [4, 4] and all(isinstance(t, str) for g in a for t in g)
    assert len({t for g in a for t in g}) > 1, "temperature 1 on a random model gave one text eight times"
    again = get_engine("mlx", policy, tok, seed=3).generate(prompts, 4, sampling)
    assert again == a  # same seed, same weights: same samples
    assert get_engine("mlx", policy, tok, seed=4).generate(prompts, 4, sampling) != a

    # RAFT hybrid: the torch policy is updated, the engine loads it before the next cycle
    greedy = Sampling(temperature=1e-6, max_new_tokens=5)
    before = first.generate(prompts, 1, greedy)
    perturb_torch(policy, seed=5, scale=0.5)
    first.update_weights(policy)
    from halo_forge.mlx.weights import from_torch

    fresh = get_engine("mlx", from_torch(policy), tok, seed=0).generate(prompts, 1, greedy)
    assert first.generate(prompts, 1, greedy) == fresh != before


def test_greedy_sampling_matches_torch_generate():
    from transformers import AutoModelForCausalLM

    from halo_forge.evaluation import generate, prompt_text
    from halo_forge.mlx import sampling, weights

    model, tok = weights.load("halo-forge/tiny")
    torch_model = AutoModelForCausalLM.from_pretrained(weights.hf_tokenizer(tok).name_or_path)
    prompts = [prompt_text({"prompt": [{"role": "user", "content": p}]}, weights.hf_tokenizer(tok))
               for p in ARITHMETIC_PROMPTS[:2]]
    ours = sampling.greedy_texts(model, tok, prompts, max_new_tokens=6)
    assert ours == generate(torch_model, weights.hf_tokenizer(tok), prompts, max_new_tokens=6)


def test_held_out_figures_match_the_pytorch_ones():
    """preference accuracy, task accuracy and verifier pass rate measured on MLX equal the PyTorch path's."""
    from transformers import AutoModelForCausalLM

    from halo_forge import evaluation, rl
    from halo_forge.data.builtin import preference_split, to_chat
    from halo_forge.mlx import evaluation as mlx_eval
    from halo_forge.mlx import weights
    from halo_forge.verifiers import get_verifier

    folder = micro_model_folder()
    model, tok = weights.load(str(folder))
    torch_model = AutoModelForCausalLM.from_pretrained(folder)
    hf = weights.hf_tokenizer(tok)
    pairs = preference_split()[1][:8]
    assert mlx_eval.preference_accuracy(model, tok, pairs) == evaluation.preference_accuracy(torch_model, hf, pairs)
    rows = [to_chat({"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}) for a, b in ((1, 2), (30, 4), (0, 0))]
    assert mlx_eval.task_accuracy(model, tok, rows, max_new_tokens=4) == evaluation.task_accuracy(
        torch_model, hf, rows, max_new_tokens=4)
    verifiers = [("math", get_verifier("math"), 1.0)]
    assert mlx_eval.pass_rate(model, tok, verifiers, rows, max_new_tokens=4) == rl.pass_rate(
        torch_model, hf, verifiers, rows, max_new_tokens=4, batch_size=8)
