"""Content addressing and replay: digests of every input, cache keys, replay manifests, DVC stages."""
