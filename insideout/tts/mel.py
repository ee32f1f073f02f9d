"""The mel spectrogram: the one place for its settings, those of HiFi-GAN V1 (LJSpeech, 22050 Hz).

Public HiFi-GAN V1 and Tacotron2 checkpoints were trained on exactly this mel; any other setting (a
centred STFT, a 1e-7 clamp) makes a vocoder hear a different signal. Frames are not centred: the
signal is reflect-padded by (n_fft - hop) / 2 on each side, so frame i covers samples i*hop onwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torchaudio

from ..wav import SAMPLE_RATE


@dataclass(frozen=True)
class MelSettings:
    sample_rate: int = SAMPLE_RATE  # the project's one rate (wav.SAMPLE_RATE), HiFi-GAN V1's
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    log_clamp: float = 1e-5  # natural log of max(mel, 1e-5): the floor is log(1e-5) = -11.51


MEL = MelSettings()


# The cached tensors are made outside inference mode even when the first call is inside it: an inference
# tensor kept here would break every later mel that gradients flow through (the lite vocoder's loss).
@lru_cache(maxsize=4)
def _filterbank(settings: MelSettings) -> torch.Tensor:
    # Slaney scale and Slaney area normalization: librosa's defaults, which HiFi-GAN used.
    with torch.inference_mode(False):
        fb = torchaudio.functional.melscale_fbanks(
            settings.n_fft // 2 + 1, settings.f_min, settings.f_max, settings.n_mels,
            settings.sample_rate, norm="slaney", mel_scale="slaney",
        )
        return fb.T.contiguous()  # (n_mels, n_freqs)


@lru_cache(maxsize=4)
def _window(settings: MelSettings) -> torch.Tensor:
    with torch.inference_mode(False):
        return torch.hann_window(settings.win_length)


def checked_log_mel(log_mel: np.ndarray, settings: MelSettings = MEL) -> np.ndarray:
    """log_mel as float64 when it is one clip's log mel (n_mels, frames); a ValueError saying what it is otherwise."""
    x = np.asarray(log_mel, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != settings.n_mels:
        raise ValueError(f"expected a log mel of shape ({settings.n_mels}, frames), got {x.shape}")
    return x


def centre_frequencies(settings: MelSettings = MEL) -> np.ndarray:
    """The centre (the weighted mean frequency) of each mel bin, Hz, lowest first."""
    fb = _filterbank(settings).numpy()
    freqs = np.arange(fb.shape[1]) * settings.sample_rate / settings.n_fft
    return (fb * freqs).sum(axis=1) / fb.sum(axis=1)


def mel_spectrogram(wave: torch.Tensor | np.ndarray, settings: MelSettings = MEL) -> torch.Tensor:
    """(samples,) or (batch, samples) floats in [-1, 1] -> log mel (batch, n_mels, frames)."""
    x = torch.as_tensor(wave, dtype=torch.float32)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    pad = (settings.n_fft - settings.hop_length) // 2
    x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(x, settings.n_fft, settings.hop_length, settings.win_length, _window(settings),
                      center=False, return_complex=True)
    magnitude = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    mel = torch.matmul(_filterbank(settings), magnitude)
    return torch.log(torch.clamp(mel, min=settings.log_clamp))


def log_mel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two log mels over their common frames (the L1 of HiFi-GAN's loss)."""
    frames = min(a.shape[-1], b.shape[-1])
    return float(torch.mean(torch.abs(a[..., :frames] - b[..., :frames])))
