"""Speech models: loading (Whisper-style seq2seq ASR, audio classifiers), feature batches, the
seq2seq training batch, transcription (greedy or sampled: held-out WER, RAFT rollouts), the
log-probability of given transcripts (a GRPO-style policy gradient) and classification.

Audio arrives as float32 mono arrays at the feature extractor's rate (`halo_forge.data.audio.load_waves`).
"""

from __future__ import annotations

from halo_forge.errors import ModelError


def _load(ref: str, what: str, load):
    from halo_forge.models.loading import resolve_model

    try:
        return load(resolve_model(ref))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load {what} {ref!r}: {str(exc).splitlines()[0]}",
                         hint="pass a hub id or folder of that kind (Whisper for ASR; Whisper/Wav2Vec2/HuBERT/AST for "
                              "classification), or halo-forge/tiny-whisper / halo-forge/tiny-audio-cls") from None


def load_processor(ref: str, task: str = "asr"):
    """What prepares a speech model's inputs: an ASR model's processor (feature extractor + tokenizer), a
    classifier's feature extractor (audio classifiers ship no tokenizer)."""
    from transformers import AutoFeatureExtractor, AutoProcessor

    if task != "asr":
        return _load(ref, "audio classifier's feature extractor", AutoFeatureExtractor.from_pretrained)
    processor = _load(ref, "speech-to-text processor", AutoProcessor.from_pretrained)
    if not (hasattr(processor, "feature_extractor") and hasattr(processor, "tokenizer")):
        raise ModelError(f"{ref!r} has no speech-to-text processor (feature extractor + tokenizer)",
                         hint="pass a Whisper-style speech seq2seq model, or halo-forge/tiny-whisper")
    processor.tokenizer.init_kwargs.pop("local_files_only", None)  # saved files must not depend on HF_HUB_OFFLINE
    return processor


def load_asr_model(ref: str, *, dtype=None):
    """A speech seq2seq model (Whisper-style)."""
    from transformers import AutoModelForSpeechSeq2Seq

    kw = {"dtype": dtype} if dtype is not None else {}
    return _load(ref, "speech-to-text model", lambda p: AutoModelForSpeechSeq2Seq.from_pretrained(p, **kw))


def load_classifier_model(ref: str, labels: list[str] | None = None, *, dtype=None):
    """An audio classifier. With `labels`, the head is sized to them (a different label set re-initialises the
    head: `ignore_mismatched_sizes`)."""
    from transformers import AutoModelForAudioClassification

    kw = {"dtype": dtype} if dtype is not None else {}
    if labels is not None:
        kw.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                  label2id={name: i for i, name in enumerate(labels)}, ignore_mismatched_sizes=True)
    return _load(ref, "audio classifier", lambda p: AutoModelForAudioClassification.from_pretrained(p, **kw))


def load_asr(ref: str, *, dtype=None):
    """(model, processor) of a speech seq2seq model (Whisper-style) with its feature extractor and tokenizer."""
    return load_asr_model(ref, dtype=dtype), load_processor(ref, "asr")


def load_classifier(ref: str, labels: list[str] | None = None, *, dtype=None):
    """(model, feature_extractor) of an audio classifier (see `load_classifier_model`)."""
    return load_classifier_model(ref, labels, dtype=dtype), load_processor(ref, "classification")


def extractor_of(processor):
    """The feature extractor of a processor (or the extractor itself)."""
    return getattr(processor, "feature_extractor", processor)


def features(extractor, waves: list) -> dict:
    """The model inputs for `waves` (a batch): log-mel `input_features` for Whisper, `input_values` for
    Wav2Vec2-style models; float32 tensors."""
    import torch

    out = extractor(waves, sampling_rate=extractor.sampling_rate, return_tensors="pt")
    return {k: (v.float() if torch.is_floating_point(v) else v) for k, v in out.items()}


def label_ids(tokenizer, texts: list[str], decoder_start_token_id: int) -> list[list[int]]:
    """Tokenised transcripts as seq2seq labels: the tokenizer's prefix and EOS, without the decoder start
    token (the model prepends it when it shifts the labels right)."""
    ids = tokenizer(texts).input_ids
    return [row[1:] if row and row[0] == decoder_start_token_id else row for row in ids]


def seq2seq_batch(processor, waves: list, labels: list[list[int]]) -> dict:
    """A training batch: features plus labels padded with -100 (the loss ignores them)."""
    import torch

    batch = features(processor.feature_extractor, waves)
    width = max(len(ids) for ids in labels)
    lab = torch.full((len(labels), width), -100, dtype=torch.long)
    for k, ids in enumerate(labels):
        lab[k, :len(ids)] = torch.tensor(ids)
    batch["labels"] = lab
    return batch


def transcribe(model, processor, waves: list, *, n: int = 1, do_sample: bool = False, temperature: float = 1.0,
               max_new_tokens: int = 32, batch_size: int = 32, **generate_kwargs) -> list[list[str]]:
    """`n` transcripts per clip (greedy, or sampled at `temperature`); `generate_kwargs` go to `generate`
    (real Whisper checkpoints: language="en", task="transcribe")."""
    import torch

    was_training = model.training
    model.eval()
    out: list[list[str]] = []
    device = next(model.parameters()).device
    try:
        for start in range(0, len(waves), batch_size):
            inputs = {k: v.to(device) for k, v in features(processor.feature_extractor, waves[start:start + batch_size]).items()}
            with torch.no_grad():
                gen = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                     num_return_sequences=n, temperature=temperature if do_sample else None,
                                     **generate_kwargs)
            text = processor.batch_decode(gen, skip_special_tokens=True)
            out += [[t.strip() for t in text[k * n:(k + 1) * n]] for k in range(len(text) // n)]
    finally:
        if was_training:
            model.train()
    return out


def transcript_logprobs(model, batch: dict):
    """Sum of token log-probabilities of each row's `labels` (-100 ignored) under `model`, with grad:
    the policy term of a GRPO-style update on sampled transcripts."""
    import torch

    logits = model(**batch).logits
    labels = batch["labels"]
    mask = labels != -100
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1)


def classify(model, extractor, waves: list, *, batch_size: int = 64) -> list[int]:
    """The predicted class index of each clip."""
    import torch

    was_training = model.training
    model.eval()
    out: list[int] = []
    try:
        for start in range(0, len(waves), batch_size):
            with torch.no_grad():
                logits = model(**features(extractor, waves[start:start + batch_size])).logits
            out += logits.argmax(-1).tolist()
    finally:
        if was_training:
            model.train()
    return out
