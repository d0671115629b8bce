"""The MLX GRPO objective (halo_forge/grpo/mlx_objective.py): group-relative advantages without NaN, the loss
and gradients against TRL 1.16's GRPOTrainer on identical weights, completions and rewards, and a default that
has a policy gradient."""

from __future__ import annotations

import functools
import tempfile

import numpy as np
import pytest

from mlx_micro import ARITHMETIC_PROMPTS, max_grad_diff, micro_model_folder, perturb_torch

G = 2
COMPLETIONS = ["46", "47 no", "77", "77"]
REWARDS = [1.0, 0.0, 0.5, 0.5]  # the second group's rewards are all equal


def test_group_advantages_scale_and_never_nan():
    from halo_forge.grpo.mlx_objective import group_advantages

    adv = np.array(group_advantages([1.0, 0.0, 0.5, 0.5], 2))
    assert np.allclose(adv, [0.5 / (np.sqrt(0.5) + 1e-4), -0.5 / (np.sqrt(0.5) + 1e-4), 0, 0], atol=1e-4)
    assert np.array_equal(np.array(group_advantages([0.3, 0.3, 0.3, 0.3], 2)), np.zeros(4))
    assert np.array_equal(np.array(group_advantages([1.0, 1.0, 1.0], 3)), np.zeros(3))
    unscaled = np.array(group_advantages([1.0, 0.0, 0.0, 0.0], 4, scale=False))  # --no-scale-rewards
    assert np.allclose(unscaled, [0.75, -0.25, -0.25, -0.25])
    single = np.array(group_advantages([1.0, 0.0], 1))  # a group of one: std 0, advantage 0
    assert np.array_equal(single, [0.0, 0.0])
    with_nan = np.array(group_advantages([1.0, float("nan"), 0.0, 0.0], 2))
    assert not np.isnan(with_nan).any() and with_nan[1] == 0.0


def _trl_inputs(loss_type: str, beta: float, scale: bool, off_policy: bool):
    """TRL's own rewards -> advantages -> loss -> gradients for fixed completions (its rollout_func hook)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    folder = micro_model_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    prompts = [[{"role": "user", "content": p}] for p in ARITHMETIC_PROMPTS[:2]]
    p_ids = [tok.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
             for p in prompts]
    comps = [tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for c in COMPLETIONS]

    def rollout(_prompts, _trainer):
        return {"prompt_ids": [p_ids[i // G] for i in range(len(comps))], "completion_ids": comps,
                "logprobs": [[0.0] * len(c) for c in comps]}

    args = GRPOConfig(output_dir=tempfile.mkdtemp(), num_generations=G, per_device_train_batch_size=len(comps),
                      max_completion_length=8, beta=beta, loss_type=loss_type, temperature=0.9, use_cpu=True,
                      report_to=[], bf16=False, scale_rewards="group" if scale else "none",
                      num_iterations=2 if off_policy else 1)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(folder),
                          reward_funcs=[lambda prompts, completions, **_: REWARDS[:len(completions)]], args=args,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]), processing_class=tok,
                          rollout_func=rollout)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    perturb_torch(trainer.model, seed=1, scale=0.05)      # policy != reference
    inputs = trainer._generate_and_score_completions([{"prompt": prompts[i // G]} for i in range(len(comps))])
    if off_policy:
        perturb_torch(trainer.model, seed=2, scale=0.05)  # updated since sampling: ratios != 1, some clipped
    loss = trainer.compute_loss(trainer.model, inputs)
    loss.backward()
    return trainer, tok, p_ids, comps, inputs, float(loss)


@pytest.mark.parametrize("loss_type,beta,scale,off_policy", [
    ("dapo", 0.04, True, True), ("grpo", 0.0, False, False), ("bnpo", 0.04, True, False), ("dr_grpo", 0.0, True, True)])
def test_mlx_grpo_loss_matches_trl(loss_type, beta, scale, off_policy):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from halo_forge.grpo.mlx_objective import completion_logps, group_advantages, grpo_loss
    from halo_forge.mlx import tokenize, weights

    trainer, tok, p_ids, comps, inputs, torch_loss = _trl_inputs(loss_type, beta, scale, off_policy)
    tokens, mask = tokenize.sequence_batch([p_ids[i // G] for i in range(len(comps))], comps, tok.pad_token_id)
    adv = group_advantages(REWARDS, G, scale=scale)
    assert np.allclose(np.array(adv), inputs["advantages"].numpy(), atol=1e-6)
    old = None
    if off_policy:  # the sampling policy's log-probabilities, from TRL, in our (B, L-1) layout
        start = len(p_ids[0]) - 1
        width = tokens.shape[1] - len(p_ids[0])
        buf = np.zeros((len(comps), tokens.shape[1] - 1), np.float32)
        buf[:, start:start + width] = inputs["old_per_token_logps"].numpy()[:, :width]
        old = mx.array(buf)
    ref = completion_logps(weights.load(str(micro_model_folder()))[0], tokens, 0.9) if beta else None
    policy = weights.from_torch(trainer.model)
    fn = functools.partial(grpo_loss, beta=beta, epsilon=0.2, loss_type=loss_type, temperature=0.9,
                           max_completion_length=8)
    (loss, metrics), grads = nn.value_and_grad(policy, fn)(policy, tokens, mask, adv, old, ref)
    assert abs(float(loss) - torch_loss) < 1e-4, (float(loss), torch_loss)
    assert max_grad_diff(trainer.model, dict(tree_flatten(grads))) < 1e-4
    if off_policy:
        assert float(metrics["clip_ratio"]) > 0, "the clipped branch was not exercised"


def test_default_objective_has_a_policy_gradient():
    """Sampling policy == current policy (the default, old_logps None): ratio 1, but a non-zero gradient."""
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from halo_forge.grpo.mlx_objective import group_advantages, grpo_loss
    from halo_forge.mlx import tokenize, weights

    model, tok = weights.load(str(micro_model_folder()))
    p = tokenize.prompt_ids({"prompt": [{"role": "user", "content": ARITHMETIC_PROMPTS[0]}]}, tok)
    comps = [tok.encode(c, add_special_tokens=False) for c in ("46", "45")]
    tokens, mask = tokenize.sequence_batch([p, p], comps, tok.pad_token_id)
    (loss, _), grads = nn.value_and_grad(model, grpo_loss)(model, tokens, mask, group_advantages([1.0, 0.0], 2))
    assert abs(float(loss)) < 1e-6  # advantages sum to zero and the ratio is 1 ...
    norms = [float(mx.abs(g).sum()) for _, g in tree_flatten(grads)]
    assert sum(norms) > 1e-3 and sum(n > 0 for n in norms) > len(norms) // 2  # ... yet the policy moves
    (_, _), flat = nn.value_and_grad(model, grpo_loss)(model, tokens, mask, group_advantages([0.5, 0.5], 2))
    assert all(float(mx.abs(g).sum()) == 0 for _, g in tree_flatten(flat))  # equal rewards: nothing to learn
