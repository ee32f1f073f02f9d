"""Training packs: a corpus's prepared examples in compact files, so that a run can move to a machine
(a rented GPU) that has neither the audio nor espeak-ng.

A pack holds what training.prepare makes of each item: the phoneme ids, the emotion, the voice's name and the
log-mel target, that last quantized to 8 bits over a fixed range (error about 0.015 per cell, where the
model's own mel L1 is about 0.5) and stored as differences between frames, which lzma packs to about 60 %.
A 5000-clip corpus (3.7 h) takes about 56 MB. It can be cut into parts (a transfer limit, say) and the parts
given together. The mel settings and the frontend travel with it, and a pack made with others is refused:
its numbers would be another model's targets.
"""

from __future__ import annotations

import io
import json
import lzma
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from ..emotions import EMOTION_IDS
from .mel import MEL
from .text import Frontend

T = TypeVar("T")

FORMAT = "insideout-train-pack"
VERSION = 1
LOW, HIGH = -11.6, 2.6  # log-mel range: the floor is log(1e-5) = -11.51; speech peaks below 2


class PackError(ValueError):
    """A file that is not a pack, or one made with other mel settings or another frontend."""


@dataclass(frozen=True)
class PackedExample:
    audio_id: str
    tokens: torch.Tensor  # (tokens,) long
    emotion: int  # index into EMOTION_IDS
    speaker: str  # the voice's name ("" unknown)
    mel: torch.Tensor  # (n_mels, frames) float32


def quantize(mel: np.ndarray) -> np.ndarray:
    """Log-mel (any shape) -> uint8 over [LOW, HIGH]."""
    scaled = (np.clip(mel, LOW, HIGH) - LOW) / (HIGH - LOW) * 255.0
    return np.round(scaled).astype(np.uint8)


def dequantize(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) * np.float32((HIGH - LOW) / 255.0) + np.float32(LOW)


def write(path: str | Path, examples: Sequence[PackedExample], frontend: Frontend) -> dict:
    """Writes the examples as one pack; returns its header (counts, voices, size)."""
    if not examples:
        raise PackError("nothing to pack")
    voices = sorted({e.speaker for e in examples})
    frames = np.concatenate([quantize(e.mel.numpy()).T for e in examples])  # (total frames, n_mels)
    # Frame-to-frame differences wrap around in uint8 and a cumulative sum in uint8 undoes them exactly.
    deltas = np.diff(frames, axis=0, prepend=np.zeros((1, frames.shape[1]), np.uint8))
    header = {"format": FORMAT, "version": VERSION, "mel": asdict(MEL), "frontend": frontend.to_dict(),
              "emotions": list(EMOTION_IDS), "voices": voices, "audio_ids": [e.audio_id for e in examples],
              "range": [LOW, HIGH], "examples": len(examples), "frames": int(frames.shape[0])}
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), np.uint8), deltas=deltas,
             frame_offsets=np.cumsum([0] + [e.mel.shape[-1] for e in examples]),
             tokens=np.concatenate([e.tokens.numpy() for e in examples]).astype(np.int16),
             token_offsets=np.cumsum([0] + [len(e.tokens) for e in examples]),
             emotions=np.array([e.emotion for e in examples], np.int8),
             voices=np.array([voices.index(e.speaker) for e in examples], np.int16))
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(lzma.compress(buffer.getvalue(), preset=6))
    tmp.replace(path)
    return {**header, "bytes": path.stat().st_size, "audio_ids": None}


def _opened(path: str | Path, frontend: Frontend) -> tuple[dict, np.lib.npyio.NpzFile]:
    """A pack's header and its arrays (each read when first asked for), refused (PackError) unless its mel
    settings and frontend are these."""
    try:
        arrays = np.load(io.BytesIO(lzma.decompress(Path(path).read_bytes())))
        header = json.loads(arrays["header"].tobytes())
    except (OSError, lzma.LZMAError, ValueError, KeyError) as e:
        raise PackError(f"{path}: not a training pack ({e})") from e
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise PackError(f"{path}: not a training pack of version {VERSION}")
    if header["mel"] != asdict(MEL):
        raise PackError(f"{path}: made with other mel settings")
    if Frontend.from_dict(header["frontend"]) != frontend:
        raise PackError(f"{path}: made for the {header['frontend']['name']} frontend of another symbol set")
    if header["emotions"] != list(EMOTION_IDS):
        raise PackError(f"{path}: made with another list of emotions")
    return header, arrays


def read(path: str | Path, frontend: Frontend) -> list[PackedExample]:
    """The examples of one pack, refused (PackError) unless its mel settings and frontend are these."""
    header, arrays = _opened(path, frontend)
    frames = np.cumsum(arrays["deltas"], axis=0, dtype=np.uint8)
    mels = dequantize(frames)
    frame_at, token_at, tokens = arrays["frame_offsets"], arrays["token_offsets"], arrays["tokens"]
    names = header["voices"]
    return [PackedExample(audio_id, torch.from_numpy(tokens[token_at[i]:token_at[i + 1]].astype(np.int64)),
                          int(arrays["emotions"][i]), names[int(arrays["voices"][i])],
                          torch.from_numpy(np.ascontiguousarray(mels[frame_at[i]:frame_at[i + 1]].T)))
            for i, audio_id in enumerate(header["audio_ids"])]


def voices(paths: Sequence[str | Path], frontend: Frontend) -> list[str]:
    """The voice of each example read_all would give, checked as read checks, without decoding a mel: what
    choosing a speaker table needs before training reads the packs."""
    def tagged(path: str | Path) -> Iterator[tuple[str, str]]:
        header, arrays = _opened(path, frontend)
        for audio_id, index in zip(header["audio_ids"], arrays["voices"], strict=True):
            yield audio_id, header["voices"][int(index)]

    return _merged(pair for path in paths for pair in tagged(path))


def read_all(paths: Sequence[str | Path], frontend: Frontend) -> list[PackedExample]:
    """Several packs (the parts of one, or packs of several corpora) as one list in the stable order
    training wants (by audio id); an example found twice is kept once."""
    return _merged((example.audio_id, example) for path in paths for example in read(path, frontend))


def _merged(tagged: Iterable[tuple[str, T]]) -> list[T]:
    """How packs combine, for read_all and voices alike: ordered by audio id, the first of an id kept."""
    seen: dict[str, T] = {}
    for audio_id, value in tagged:
        seen.setdefault(audio_id, value)
    return [seen[key] for key in sorted(seen)]
