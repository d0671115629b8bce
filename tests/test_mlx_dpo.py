"""MLX DPO losses (halo_forge/dpo/mlx_losses.py) against the PyTorch path (halo-forge's TRL DPOTrainer subclass)
on identical weights and batch: loss and every gradient within 1e-4, 5 loss types (rpo included) x 2 reference modes."""

from __future__ import annotations

import functools
import tempfile

import numpy as np
import pytest

from mlx_micro import ARITHMETIC_PROMPTS, max_grad_diff, micro_model_folder, perturb_torch

ROWS = [{"prompt": [{"role": "user", "content": p}],
         "chosen": [{"role": "assistant", "content": c}], "rejected": [{"role": "assistant", "content": r}]}
        for p, c, r in zip(ARITHMETIC_PROMPTS, ("46", "77", "57", "68"), ("45", "717", "47", "6"))]


@functools.cache
def torch_trainer(reference_free: bool):
    """halo-forge's torch DPO trainer on the micro model: reference-free precomputes the step-0 policy's
    log-probabilities (then the policy is moved); reference-model mode keeps a frozen, different model."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from halo_forge.dpo.losses import trainer_class

    folder = micro_model_folder()
    tok = AutoTokenizer.from_pretrained(folder)
    policy = AutoModelForCausalLM.from_pretrained(folder)
    ref = None
    if not reference_free:
        ref = AutoModelForCausalLM.from_pretrained(folder)
        perturb_torch(ref, seed=7, scale=0.05)
        ref.requires_grad_(False).eval()
    args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=len(ROWS), beta=0.5,
                     precompute_ref_log_probs=reference_free, use_cpu=True, report_to=[], bf16=False,
                     max_length=64)
    trainer = trainer_class()(model=policy, ref_model=ref, args=args, train_dataset=Dataset.from_list(ROWS),
                              processing_class=tok)
    if reference_free:
        perturb_torch(trainer.model, seed=11, scale=0.05)  # the policy after some training
    return trainer, tok


def torch_loss_and_grads(trainer, loss_type: str):
    from halo_forge.dpo.losses import trl_loss_spec

    types, weights, extra = trl_loss_spec(loss_type)
    trainer.loss_types, trainer.loss_weights, trainer.extra_loss = types, weights, extra
    trainer.model.zero_grad()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(ROWS))])
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    return float(loss), batch


@pytest.mark.parametrize("reference_free", [True, False], ids=["reference-free", "reference-model"])
def test_mlx_dpo_losses_match_the_pytorch_path(reference_free):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    from halo_forge.dpo.mlx_losses import LOSS_TYPES, dpo_loss, reference_logps
    from halo_forge.mlx import tokenize, weights

    trainer, tok = torch_trainer(reference_free)
    policy = weights.from_torch(trainer.model)
    examples = [tokenize.preference_example(r, tok) for r in ROWS]
    tokens, mask = tokenize.preference_batch(examples, tok.pad_token_id, max_length=64)
    if reference_free:  # the step-0 policy: the model as it was loaded
        ref_c, ref_r = reference_logps(weights.load(str(micro_model_folder()))[0], tokens, mask)
    else:
        ref_c, ref_r = reference_logps(weights.from_torch(trainer.ref_model), tokens, mask)
    for loss_type in LOSS_TYPES:
        torch_loss, batch = torch_loss_and_grads(trainer, loss_type)
        assert np.array_equal(np.array(tokens), batch["input_ids"].numpy()), "MLX tokenised the pairs differently"
        fn = functools.partial(dpo_loss, beta=0.5, loss_type=loss_type)
        (loss, metrics), grads = nn.value_and_grad(policy, fn)(policy, tokens, mask, ref_c, ref_r)
        assert abs(float(loss) - torch_loss) < 1e-4, (loss_type, float(loss), torch_loss)
        assert abs(torch_loss - np.log(2)) > 1e-3 or loss_type != "sigmoid", "a trivial batch: the test cannot fail"
        diff = max_grad_diff(trainer.model, dict(tree_flatten(grads)))
        assert diff < 1e-4, (loss_type, diff)
        assert float(mx.abs(grads["model"]["embed_tokens"]["weight"]).sum()) > 0, loss_type
