"""GRPO: group-relative policy optimisation with verifier rewards (TRL's GRPOTrainer)."""
