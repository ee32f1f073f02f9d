"""WAV in and out: the storage format (mono, 22050 Hz, 16-bit) and the bytes a client may receive."""

from __future__ import annotations

import io
import struct
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 22050
MAX_SECONDS = 60.0


class BadAudio(ValueError):
    pass


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Any format libsndfile reads -> (float32 mono samples in [-1, 1], sample rate)."""
    if not data:
        raise BadAudio("empty audio file")
    try:
        samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for undecodable input
        raise BadAudio(f"cannot decode audio: {e}") from None
    if samples.size == 0:
        raise BadAudio("audio has no samples")
    return samples.mean(axis=1), int(sr)


def resample(samples: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Polyphase resampling from sr to target (the samples unchanged when they are equal)."""
    if sr == target:
        return samples
    g = gcd(int(sr), int(target))
    return resample_poly(samples, int(target) // g, int(sr) // g)


def to_storage(samples: np.ndarray, sr: int) -> np.ndarray:
    """Mono float samples at any rate -> int16 at SAMPLE_RATE, checked for length and silence."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1 or samples.size == 0:
        raise BadAudio("audio must be a non-empty mono or multi-channel signal")
    if not np.all(np.isfinite(samples)):
        raise BadAudio("audio contains NaN or infinite samples")
    if sr <= 0:
        raise BadAudio(f"bad sample rate {sr}")
    if samples.size / sr > MAX_SECONDS:
        raise BadAudio(f"audio is {samples.size / sr:.0f} s long; the limit is {MAX_SECONDS:.0f} s")
    if sr != SAMPLE_RATE:
        samples = resample(samples, sr, SAMPLE_RATE).astype(np.float32)
    peak = float(np.max(np.abs(samples)))
    if peak < 1e-4:
        raise BadAudio("audio is silent")
    if peak > 1.0:
        samples = samples / peak
    return np.round(samples * 32767).astype(np.int16)


def encode(pcm: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    """int16 mono -> a WAV with exactly a fmt and a data chunk: no LIST/INFO, no names, no tags."""
    pcm = np.asarray(pcm, dtype="<i2")
    data = pcm.tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, sr, sr * 2, 2, 16)
    return b"".join(
        [
            b"RIFF",
            struct.pack("<I", 4 + (8 + len(fmt)) + (8 + len(data))),
            b"WAVE",
            b"fmt ",
            struct.pack("<I", len(fmt)),
            fmt,
            b"data",
            struct.pack("<I", len(data)),
            data,
        ]
    )


def decode_storage(data: bytes) -> np.ndarray:
    """A stored WAV -> int16 samples (the store holds only what encode() wrote)."""
    samples, sr = sf.read(io.BytesIO(data), dtype="int16")
    if sr != SAMPLE_RATE or samples.ndim != 1:
        raise BadAudio("stored audio is not mono 22050 Hz")
    return samples


def vary_for_serving(pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make each serving of a clip differ in its bytes, not in how it sounds.

    Random leading and trailing silence, a gain change within +-1 dB and dither at about -80 dBFS
    mean that no two servings hash alike, so a bot cannot build a table of known clips by hash.
    (A fingerprinting bot is the bot lab's subject, not this function's.)
    """
    x = pcm.astype(np.float32) / 32767
    x = x * np.float32(10 ** (rng.uniform(-1, 1) / 20))
    lead = np.zeros(int(rng.integers(0, int(0.12 * SAMPLE_RATE))), np.float32)
    tail = np.zeros(int(rng.integers(0, int(0.12 * SAMPLE_RATE))), np.float32)
    x = np.concatenate([lead, x, tail])
    x = x + rng.normal(0, 1e-4, x.size).astype(np.float32)
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
