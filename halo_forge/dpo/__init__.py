"""DPO: direct preference optimisation (TRL's DPOTrainer), every loss type halo-forge exposes."""
