"""A non-intrusive estimate of speech quality: Microsoft's DNSMOS, run offline.

What it measures, each on the 1-5 MOS scale: the ITU-T P.835 ratings a listener gives a clip (overall
quality, the speech signal itself, its background) and the P.808 absolute category rating. Non-intrusive:
it needs no clean reference, which generated speech does not have (a Tacotron2 clip is not a degraded copy of
anything).

The models are the DNSMOS ONNX files that the `speechmos` wheel ships (sig_bak_ovr.onnx, model_v8.onnx), run
here with onnxruntime directly so that its thread pool stays small beside torch's. Scores follow Microsoft's
reference (dnsmos_local.py): 16 kHz audio, 9.01 s windows one second apart, a clip shorter than a window tiled
(doubled until it fills one), the P.835 outputs mapped by the published calibration polynomials, the window
scores averaged. One deliberate difference: the reference computes window ends in floating point and so
skips windows 7-23 (those of a clip 17 s or longer once tiled); here every window counts, so only such long
clips score a little differently (measured: 0.008 on a 20 s clip).

Limits: DNSMOS was trained on real, mostly noisy recordings rated by crowd listeners; clean synthetic speech
is out of its training range, and a tiled short clip is judged as the repeated clip. It is an estimate to
compare systems with on the same clips, not a listening test.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

import numpy as np

RATE = 16000  # the models' sample rate
WINDOW = 144160  # 9.01 s at 16 kHz: the primary model's input length
P808_TRIM = 160  # the P.808 mel drops the window's last 10 ms: 900 frames, its model's input
BATCH_WINDOWS = 4  # windows per ONNX run: the fastest here per window (16 is slower), bounds memory
ONNX_THREADS = 2  # intra-op threads, not spinning: beside torch on a 2-core machine without starving it

# Microsoft's calibration of the raw P.835 outputs to MOS (non-personalized models), highest power first.
_SIG_POLY = (-0.08397278, 1.22083953, 0.0052439)
_BAK_POLY = (-0.13166888, 1.60915514, -0.39604546)
_OVR_POLY = (-0.06766283, 1.11546468, 0.04602535)


class QualityError(ValueError):
    """A clip DNSMOS cannot score, or DNSMOS is not installed."""


@dataclass(frozen=True)
class MOS:
    overall: float  # P.835 OVRL
    signal: float  # P.835 SIG: the speech itself
    background: float  # P.835 BAK: noise around it
    p808: float  # P.808 ACR


_sessions = None
_lock = threading.Lock()


def _models():
    """The (P.835, P.808) ONNX sessions, loaded once per process."""
    global _sessions
    with _lock:
        if _sessions is None:
            import importlib.util
            from importlib.resources import files

            import onnxruntime as ort

            if importlib.util.find_spec("speechmos") is None:
                raise QualityError("DNSMOS needs the speechmos package, whose wheel ships its models: "
                                   "pip install speechmos==0.0.1.1")
            folder = files("speechmos") / "dnsmos_models"
            options = ort.SessionOptions()
            options.intra_op_num_threads = ONNX_THREADS
            options.inter_op_num_threads = 1
            # Idle pool threads sleep rather than spin: a spinning pool takes a core from torch between runs.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _sessions = tuple(
                ort.InferenceSession(str(folder / name), sess_options=options, providers=["CPUExecutionProvider"])
                for name in ("sig_bak_ovr.onnx", "model_v8.onnx"))
        return _sessions


def _to_16k(wave: np.ndarray, sample_rate: int, index: int) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1:
        raise QualityError(f"clip {index}: expected mono samples (1-D), got shape {x.shape}")
    if x.size == 0:
        raise QualityError(f"clip {index} is empty: nothing to score")
    if not np.isfinite(x).all():
        raise QualityError(f"clip {index} holds NaN or infinite samples")
    if sample_rate != RATE:
        from scipy.signal import resample_poly

        g = gcd(RATE, sample_rate)
        x = resample_poly(x, RATE // g, sample_rate // g)
    # Resampling can overshoot a full-scale clip; the models were trained on [-1, 1].
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def _windows(x: np.ndarray) -> list[np.ndarray]:
    # As the reference: double a short clip until it fills a window, then one window per second, the last
    # whole second left out (max(1, seconds - 9) windows), but none skipped by rounding (see the docstring).
    while len(x) < WINDOW:
        x = np.concatenate([x, x])
    count = max(1, len(x) // RATE - 9)
    return [x[k * RATE:k * RATE + WINDOW] for k in range(count)]


def _p808_features(window: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=window[:-P808_TRIM], sr=RATE, n_fft=321, hop_length=160, n_mels=120)
    return ((librosa.power_to_db(mel, ref=np.max) + 40) / 40).T.astype(np.float32)  # (900, 120)


def dnsmos(waves: Sequence[np.ndarray], sample_rate: int) -> list[MOS]:
    """One DNSMOS estimate per clip (mono floats in [-1, 1] at sample_rate), in order; [] for no clips."""
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise QualityError(f"sample rate must be a positive whole number of Hz, got {sample_rate}")
    clips = [_windows(_to_16k(w, int(sample_rate), i)) for i, w in enumerate(waves)]
    if not clips:
        return []
    primary, p808 = _models()
    flat = [w for windows in clips for w in windows]
    raw, acr = [], []
    for start in range(0, len(flat), BATCH_WINDOWS):
        batch = flat[start:start + BATCH_WINDOWS]
        raw.append(primary.run(None, {"input_1": np.stack(batch)})[0])
        acr.append(p808.run(None, {"input_1": np.stack([_p808_features(w) for w in batch])})[0][:, 0])
    raw_all, acr_all = np.concatenate(raw).astype(np.float64), np.concatenate(acr).astype(np.float64)
    sig, bak, ovr = (np.polyval(p, raw_all[:, k]) for k, p in enumerate((_SIG_POLY, _BAK_POLY, _OVR_POLY)))
    out, start = [], 0
    for windows in clips:
        part = slice(start, start + len(windows))
        out.append(MOS(overall=float(ovr[part].mean()), signal=float(sig[part].mean()),
                       background=float(bak[part].mean()), p808=float(acr_all[part].mean())))
        start += len(windows)
    return out


def mean_mos(scores: Sequence[MOS]) -> dict:
    """The mean of each score over the clips, to 3 decimals, under the keys the evaluation reports."""
    if not scores:
        raise QualityError("no scores to average")
    mean = {field: round(float(np.mean([getattr(s, field) for s in scores])), 3)
            for field in ("overall", "signal", "background", "p808")}
    return {"dnsmos": mean["overall"], "dnsmos_sig": mean["signal"], "dnsmos_bak": mean["background"],
            "dnsmos_p808": mean["p808"]}
