"""The pieces the MLX trainers are built from: plain functions over mlx / mlx-lm (optional extra `halo-forge[mlx]`).

  runtime      mlx present?, seeding, Metal-only calls guarded so Linux CPU never fails
  weights      HF folder or torch model <-> MLX model (fp32 bit-exact), saving an MLX model as an HF folder
  lora         vanilla LoRA / full fine-tune through mlx-lm's tuner; adapters in mlx-lm's format + config
  peft_convert mlx-lm adapter folder <-> PEFT adapter folder
  tokenize     our rows -> token ids and loss masks, as TRL tokenises them; padded batches
  steps        optimiser and schedule (mlx.optimizers), the training step (value_and_grad, mx.compile), SFT loss
  sampling     N sampled completions per prompt, greedy completions for evaluation
  evaluation   held-out task accuracy, loss, preference accuracy and verifier pass rate on an MLX model
  trainer      MLXTrainer (the state of an MLX run, its checks and warnings), the shared plan, loading and saving
  loop         fit(): the training loop the MLX trainers call (callbacks, logging, checkpoints, --resume)

Nothing here imports mlx at module import time: `import halo_forge.mlx` is free.
The per-algorithm math and the trainers live beside the PyTorch ones: halo_forge/dpo/mlx_losses.py,
halo_forge/grpo/mlx_objective.py, halo_forge/<algo>/mlx_trainer.py.
"""
