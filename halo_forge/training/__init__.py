"""What every trainer shares, as plain functions and context managers its `train()` calls in sight:

- `staged_run(trainer)` → `Run`: the clock, the staging folder (published on success, removed on
  failure), the callbacks, `run.checkpoints(data)` and `run.fit(trl_trainer)`;
- `Figure`/`Figures` and `compare`: held-out figures measured before and after training;
- `save_model`, `build_summary`;
- `common_args`, `model_kwargs`: what the config hands to transformers/TRL;
- `TorchTrainer`: the state a PyTorch trainer holds; `Trainer`: the protocol the flow depends on.

Importing this package loads no torch.
"""

from halo_forge.training.args import common_args, model_kwargs, peft_kind, precision_flags, torch_dtype
from halo_forge.training.figures import Figure, Figures, compare
from halo_forge.training.library import metric_histories, no_tqdm, quiet_libraries, quiet_trainer, strip_answers
from halo_forge.training.run import Fit, Run, now_iso, staged_run
from halo_forge.training.summarise import build_summary, new_run_id, versions
from halo_forge.training.trainer import Trainer, TorchTrainer
from halo_forge.training.weights import save_model, trainable_snapshot, weights_changed

__all__ = ["Figure", "Figures", "Fit", "Run", "TorchTrainer", "Trainer", "build_summary", "common_args", "compare",
           "metric_histories", "model_kwargs", "new_run_id", "no_tqdm", "now_iso", "peft_kind", "precision_flags",
           "quiet_libraries", "quiet_trainer", "save_model", "staged_run", "strip_answers", "torch_dtype",
           "trainable_snapshot", "versions", "weights_changed"]
