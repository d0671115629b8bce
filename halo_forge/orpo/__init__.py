"""ORPO: odds-ratio preference optimisation (TRL's experimental ORPOTrainer), reference-free by nature."""
