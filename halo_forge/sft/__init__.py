"""Supervised fine-tuning: `halo-forge sft train`."""
