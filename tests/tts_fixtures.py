"""Tiny acoustic-model checkpoints in each supported format, written by the tests."""

from __future__ import annotations

from pathlib import Path

import torch
import torchaudio

from insideout.tts import tacotron2 as t2
from insideout.tts.text import PHONEMES

TINY = dict(symbol_embedding_dim=16, encoder_embedding_dim=16, decoder_rnn_dim=16, attention_rnn_dim=16,
            attention_hidden_dim=8, attention_location_n_filter=4, prenet_dim=8, postnet_embedding_dim=8)


def tiny_model(stops: bool = True, max_step: int = 40, seed: int = 0) -> t2.EmotionTacotron2:
    """A tiny untrained model whose stop gate is fixed by its bias: it stops after the first frame
    (stops=True) or never (stops=False, running to max_step)."""
    torch.manual_seed(seed)
    model = t2.EmotionTacotron2(t2.Tacotron2Config(**TINY, emotion_dim=4, decoder_max_step=max_step)).eval()
    gate = model.backbone.decoder.gate_layer
    with torch.no_grad():
        gate.weight.zero_()
        gate.bias.fill_(20.0 if stops else -20.0)
    return model


def write_insideout(path: Path, stops: bool = True, max_step: int = 40, seed: int = 0) -> Path:
    """Another seed gives other weights, so another model version."""
    t2.save(tiny_model(stops, max_step, seed), path, PHONEMES, {"trained": "not at all: a test fixture"})
    return path


def torchaudio_backbone(n_symbol: int) -> torchaudio.models.Tacotron2:
    torch.manual_seed(0)
    return torchaudio.models.Tacotron2(n_symbol=n_symbol, **TINY)


def write_torchaudio(path: Path) -> Path:
    torch.save(torchaudio_backbone(38).state_dict(), path)
    return path


def to_nvidia_names(state: dict) -> dict:
    """torchaudio's layer names -> NVIDIA's (ConvNorm.conv, LinearNorm.linear_layer), as in their file."""
    out = {}
    linear = ("prenet.layers", "query_layer", "memory_layer", "attention_layer.v.", "location_dense",
              "linear_projection", "gate_layer")
    for key, value in state.items():
        parts = key.split(".")
        if key.startswith(("encoder.convolutions", "postnet.convolutions")) and parts[3] == "0":
            parts.insert(4, "conv")
        elif "location_conv" in key:
            parts.insert(-1, "conv")
        elif any(name in key for name in linear):
            parts.insert(-1, "linear_layer")
        out[".".join(parts)] = value
    return out


def write_nvidia(path: Path) -> Path:
    torch.save({"state_dict": to_nvidia_names(torchaudio_backbone(148).state_dict()), "iteration": 0}, path)
    return path
