"""`get_audio_trainer(config)`: the audio trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("audio", torch="halo_forge.audio.torch_trainer:TorchAudioTrainer")


def get_audio_trainer(config, data=None):
    return DISPATCH.get(config, data)
