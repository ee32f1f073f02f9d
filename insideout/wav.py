"""WAV in and out: the storage format (mono, 22050 Hz, 16-bit) and the bytes a client may receive."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Serving:
    """How each serving of a clip is varied (the settings SERVE_GAIN_DB, SERVE_NOISE_SNR_DB, SERVE_CROP_S)."""

    gain_db: float = 1.0  # level within +- gain_db
    noise_snr_db: float = 0.0  # speech-shaped noise this far below the speech; 0: none
    crop_s: float = 0.0  # up to this much of the speech's start cut away; 0: none


NOISE_KNEE_HZ = 500.0  # long-term speech spectrum: about flat below, falling 6 dB per octave above


def speech_shaped_noise(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Gaussian noise with the long-term spectrum of speech in general (not of this clip, which would tell
    its timbre again): flat to 500 Hz, then -6 dB per octave; unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    spectrum *= NOISE_KNEE_HZ / np.maximum(freqs, NOISE_KNEE_HZ)
    spectrum[freqs < 60.0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def vary_for_serving(pcm: np.ndarray, rng: np.random.Generator, serving: Serving = Serving()) -> np.ndarray:
    """Make each serving of a clip differ: in its bytes always, in its sound as far as `serving` says.

    Random leading and trailing silence, a gain change within +-gain_db and dither at about -80 dBFS
    mean that no two servings hash alike, so a bot cannot build a table of known clips by hash. A crop
    cuts up to crop_s from the start of the speech (never the end: the final rise or fall carries
    surprise, anger, disgust). Speech-shaped noise at noise_snr_db below the speech's level (its speech
    frames, so a soft clip gets soft noise) covers the fine spectral detail a classifier reads more than
    the F0, rhythm and loudness people hear; it spans the whole served clip, silences included.
    """
    x = pcm.astype(np.float32) / 32767
    if serving.crop_s > 0:
        from .corpus.acoustics import HOP_S, speech_frames

        active = np.flatnonzero(speech_frames(x, SAMPLE_RATE))
        if active.size:
            start = int(active[0] * HOP_S * SAMPLE_RATE) + int(rng.uniform(0, serving.crop_s) * SAMPLE_RATE)
            start = min(start, x.size // 2)  # never more than half the clip
            fade = min(int(0.01 * SAMPLE_RATE), x.size - start)
            x = x[start:].copy()
            x[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    x = x * np.float32(10 ** (rng.uniform(-serving.gain_db, serving.gain_db) / 20))
    lead = np.zeros(int(rng.integers(0, int(0.12 * SAMPLE_RATE))), np.float32)
    tail = np.zeros(int(rng.integers(0, int(0.12 * SAMPLE_RATE))), np.float32)
    x = np.concatenate([lead, x, tail])
    if serving.noise_snr_db > 0:
        from .corpus.acoustics import energy_db

        level = 10 ** ((energy_db(x, SAMPLE_RATE) - serving.noise_snr_db) / 20)
        x = x + np.float32(level) * speech_shaped_noise(x.size, rng)
        peak = float(np.max(np.abs(x)))
        if peak > 0.99:
            x = x * np.float32(0.99 / peak)
    x = x + rng.normal(0, 1e-4, x.size).astype(np.float32)
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
