"""Vision-language models: `halo-forge vlm train --method sft|grpo|raft` on image + text rows."""
