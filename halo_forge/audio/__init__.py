"""Speech: `halo-forge audio train --task asr|classification --method sft|raft|grpo`."""
