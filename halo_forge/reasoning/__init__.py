"""Reasoning training pieces (think/answer format, math answers): reward wiring, DAPO dynamic sampling
on TRL's GRPOTrainer, the GRPO loss options TRL accepts, and held-out format/answer figures.

Importing this package loads nothing heavy; torch, transformers and TRL load inside the functions that use them.
"""
