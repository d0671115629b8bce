"""RAFT: reward-ranked fine-tuning — sample, verify, keep the best, fine-tune on them, repeat."""
