"""Adversarial perturbation of served audio: a small noise, computed against a surrogate emotion classifier,
added to each fresh play clip once, when it is rendered.

The idea is the aaeCAPTCHA and Attacks-as-Defenses papers': a machine listener is fooled by perturbations a
person hardly hears, so the clips a captcha serves can carry one. This module owns three things:
- the surrogate: a small differentiable emotion classifier (log-mel, three 1-D convolutions, mean and standard
  deviation over the speech frames, a linear layer: about 60 k weights), fitted on the deployment's own
  trusted clips (the starter library's play clips, labels true by construction). It is the gradient source,
  not a judge: the bot lab's attackers are scikit-learn models on handcrafted features, with no gradient.
- perturb(): an L2 PGD that raises the surrogate's loss on the clip's true emotion. Its bound is set by the
  clip itself: each time-frequency bin of the perturbation stays within a few dB under the speech's own
  magnitude there (so the noise hides under the speech, none in its pauses, which a noise gate would strip
  and a listener would hear), and its total energy is at least snr_db below the clip's.
- the deployment's side: Perturber, the restocker's `transform(wave, sr, emotion) -> wave` hook, and
  surrogate_for(), which fits the surrogate on the library's trusted clips once and keeps it in the data dir.

Served clips are retired after one serving, so each clip is perturbed once, at render time, never per
serving. Whether the perturbation fools an attacker that was not trained on the surrogate (transfer), and
whether an attacker that renders the public recipe and perturbs its own clips the same way recovers, is
measured by `insideout bench-adversarial` (insideout/commands/bench_adversarial.py), not assumed here.

The surrogate is saved as a plain torch state dict (<name>.pt, read back with weights_only=True) beside a
JSON file of its settings (<name>.json): no pickle of our classes.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .emotions import EMOTION_IDS
from .wav import SAMPLE_RATE, resample

if TYPE_CHECKING:
    from .botlab.classifier import Example
    from .library import Library

FORMAT = "insideout-adversarial-surrogate-1"

# The surrogate's view. 8 kHz and below only: the bot lab's features see the clip at 16 kHz, so a
# perturbation above 8 kHz would spend the energy budget where no attacker listens.
N_FFT = 1024
HOP = 256  # 11.6 ms at 22050 Hz
N_MELS = 64
F_MIN, F_MAX = 50.0, 8000.0
WIDTH = 64  # channels of each convolution: 62 k weights, 250 KB
SPEECH_BELOW_PEAK_DB = 35.0  # frames this far below the loudest are pauses: not pooled (as in features.py)

# The shipped perturbation: 20 steps of L2 PGD at 20 dB SNR. Measured by bench-adversarial on 192 fresh clips
# (2.7 s long on average), one torch thread: 0.33 CPU s a clip on average, 0.48 s at most. With two torch threads
# on two cores that other work shares, the same steps took ten times longer: run it on one thread.
DEFAULT_SNR_DB = 20.0
DEFAULT_STEPS = 20
PER_BIN_HEADROOM_DB = 12.0  # a bin may take up to 12 dB more than snr_db allows on average, where it helps most
STEP_FACTOR = 2.5  # L2 PGD's usual step: 2.5 * budget / steps, so the iterate can cross the ball and back

REFIT_GROWTH = 1.25  # surrogate_for() refits once the trusted clips have grown by 25 %


class Surrogate(nn.Module):
    """Log-mel of the peak-normalised clip -> three 1-D convolutions over time -> mean and standard deviation
    over the speech frames -> one linear layer, eight logits in EMOTION_IDS order.

    Peak normalisation, as the bot lab's features do: playback gain says nothing of emotion, and a surrogate
    that read it would spend the perturbation on loudness, which the attackers ignore."""

    def __init__(self, n_mels: int = N_MELS, width: int = WIDTH):
        super().__init__()
        import torchaudio

        self.n_mels, self.width = n_mels, width
        self.meta: dict[str, Any] = {}  # what it was fitted on: saved in the JSON beside the weights
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        fbank = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, F_MIN, F_MAX, n_mels, SAMPLE_RATE,
                                                      norm="slaney", mel_scale="slaney")
        self.register_buffer("fbank", fbank.T.contiguous(), persistent=False)  # (n_mels, bins)
        # per-band standardisation, from the training clips (saved with the weights)
        self.register_buffer("mel_mean", torch.zeros(n_mels))
        self.register_buffer("mel_std", torch.ones(n_mels))
        self.conv1 = nn.Conv1d(n_mels, width, 5, padding=2)
        self.conv2 = nn.Conv1d(width, width, 5, padding=4, dilation=2)
        self.conv3 = nn.Conv1d(width, width, 5, padding=8, dilation=4)  # ~0.3 s of context: a syllable or two
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(2 * width, len(EMOTION_IDS))

    def log_mel(self, waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, samples) at SAMPLE_RATE -> log-mel (batch, n_mels, frames) and the speech frames (batch, frames).
        Zero padding at a clip's end falls below the speech threshold, so padded batches need no lengths."""
        peak = waves.abs().amax(dim=1, keepdim=True).clamp_min(1e-4)
        power = torch.stft(waves / peak, N_FFT, HOP, window=self.window, return_complex=True).abs().pow(2)
        mel = torch.log(torch.matmul(self.fbank, power) + 1e-6)
        with torch.no_grad():  # which frames count is a decision, not something to push on
            level = 10 * torch.log10(power.sum(dim=1) + 1e-10)
            speech = level > level.amax(dim=1, keepdim=True) - SPEECH_BELOW_PEAK_DB
        return mel, speech

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        mel, speech = self.log_mel(waves)
        h = (mel - self.mel_mean[:, None]) / self.mel_std[:, None]
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h)) + h
        h = F.relu(self.conv3(h)) + h
        m = speech[:, None, :].to(h.dtype)
        n = m.sum(dim=-1).clamp_min(1.0)
        mean = (h * m).sum(dim=-1) / n
        std = torch.sqrt(((h - mean[..., None]) ** 2 * m).sum(dim=-1) / n + 1e-5)
        return self.head(self.drop(torch.cat([mean, std], dim=1)))

    @torch.no_grad()
    def predict_proba(self, waves: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(clips, 8) probabilities in EMOTION_IDS order, one clip at a time (clips differ in length)."""
        self.eval()
        rows = [torch.softmax(self(_tensor(w, sample_rate)[None]), dim=1)[0] for w in waves]
        return torch.stack(rows).numpy()

    def predict(self, waves: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[str]:
        return [EMOTION_IDS[i] for i in self.predict_proba(waves, sample_rate).argmax(axis=1)]


def _float(wave: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1]; int16 (how clips are stored) is scaled."""
    x = np.asarray(wave)
    return x.astype(np.float32) / 32768 if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)


def _tensor(wave: np.ndarray, sample_rate: int) -> torch.Tensor:
    """A mono clip as float32 at SAMPLE_RATE, the surrogate's one rate."""
    x = _float(wave)
    if sample_rate != SAMPLE_RATE:
        x = resample(x.astype(np.float64), sample_rate, SAMPLE_RATE)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _padded(waves: Sequence[torch.Tensor]) -> torch.Tensor:
    out = torch.zeros(len(waves), max(w.numel() for w in waves))
    for i, w in enumerate(waves):
        out[i, : w.numel()] = w
    return out


def fit_surrogate(examples: Sequence[Example], epochs: int = 40, seed: int | None = None, batch_size: int = 16,
                  lr: float = 3e-3) -> Surrogate:
    """Fit a surrogate on labelled clips (the deployment's trusted ones).

    seed None draws one at random: the starter library is rendered from the public recipe, so with a public
    seed anyone could fit the very same surrogate and undo its perturbations. Training adds noise at 15-40 dB
    SNR to half the clips and shifts them by up to four frames: a surrogate that does not hinge on the exact
    noise floor or framing gives gradients that carry over to other listeners better."""
    if len({ex.emotion for ex in examples}) < 2:
        raise ValueError("the surrogate needs clips of at least two emotions")
    unknown = {ex.emotion for ex in examples} - set(EMOTION_IDS)
    if unknown:
        raise ValueError(f"unknown emotions: {sorted(unknown)}")
    seed = secrets.randbits(31) if seed is None else seed
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    waves = [_tensor(ex.wave, ex.sample_rate) for ex in examples]
    labels = torch.tensor([EMOTION_IDS.index(ex.emotion) for ex in examples])
    model = Surrogate()
    with torch.no_grad():  # per-band standardisation over the speech frames of every clip
        mels = [model.log_mel(w[None]) for w in waves]
        frames = torch.cat([mel[0][:, speech[0]] for mel, speech in mels], dim=1)
        model.mel_mean.copy_(frames.mean(dim=1))
        model.mel_std.copy_(frames.std(dim=1).clamp_min(1e-3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    batches = -(-len(waves) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * batches)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(waves))
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            batch = _padded([_augmented(waves[i], rng) for i in idx])
            loss = F.cross_entropy(model(batch), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    from .botlab.classifier import fingerprint

    predicted = model.predict_proba([w.numpy() for w in waves]).argmax(axis=1)
    model.meta = {"trained_on": len(examples), "fingerprint": fingerprint(examples), "epochs": epochs,
                  "train_accuracy": float((predicted == labels.numpy()).mean())}
    return model


def _augmented(wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    shift = int(rng.integers(0, 4 * HOP))
    x = torch.cat([torch.zeros(shift), wave])
    if rng.random() < 0.5:
        snr_db = rng.uniform(15.0, 40.0)
        noise = torch.from_numpy(rng.standard_normal(x.numel()).astype(np.float32))
        x = x + noise * (x.norm() / noise.norm()) * 10 ** (-snr_db / 20)
    return x


def save_surrogate(surrogate: Surrogate, path: str | Path) -> None:
    """<path>.pt (the state dict) and <path>.json (format, shape, what it was fitted on), each written whole."""
    pt, meta = _paths(path)
    pt.parent.mkdir(parents=True, exist_ok=True)
    tmp = pt.with_suffix(".pt.tmp")
    torch.save(surrogate.state_dict(), tmp)
    tmp.replace(pt)
    tmp = meta.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "n_mels": surrogate.n_mels, "width": surrogate.width,
                               "sample_rate": SAMPLE_RATE, "emotions": list(EMOTION_IDS), **surrogate.meta},
                              indent=2))
    tmp.replace(meta)


def load_surrogate(path: str | Path) -> Surrogate:
    pt, meta_path = _paths(path)
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT or meta.get("emotions") != list(EMOTION_IDS) \
            or meta.get("sample_rate") != SAMPLE_RATE:
        raise ValueError(f"{meta_path} is not an InsideOut surrogate of this version")
    model = Surrogate(int(meta["n_mels"]), int(meta["width"]))
    model.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
    model.meta = {k: v for k, v in meta.items() if k not in {"format", "n_mels", "width", "sample_rate", "emotions"}}
    model.eval()
    return model


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    base = path.with_suffix("") if path.suffix in {".pt", ".json"} else path
    return base.with_name(base.name + ".pt"), base.with_name(base.name + ".json")


def snr_db(clean: np.ndarray, perturbed: np.ndarray) -> float:
    """Signal to perturbation energy, dB (inf for an untouched clip)."""
    clean = np.asarray(clean, dtype=np.float64)
    noise = float(np.sum((np.asarray(perturbed, dtype=np.float64) - clean) ** 2))
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(clean ** 2) / noise))


class _Bound:
    """Where a clip's perturbation may go: every STFT bin at most PER_BIN_HEADROOM_DB above snr_db under the
    speech's own magnitude there (so it hides under the speech and stays out of its pauses), and the total
    energy at least snr_db under the clip's (the L2 ball ||delta|| <= ||x|| 10^(-snr_db/20))."""

    def __init__(self, x: torch.Tensor, snr_db: float):
        self.length = x.numel()
        self.ratio = 10 ** (-snr_db / 20)
        self.budget = float(x.norm()) * self.ratio
        self.spec = {"n_fft": N_FFT, "hop_length": HOP, "window": torch.hann_window(N_FFT)}
        cap = torch.stft(x, return_complex=True, **self.spec).abs()
        self.cap = cap * (self.ratio * 10 ** (PER_BIN_HEADROOM_DB / 20))
        self.shape = cap / cap.max().clamp_min(1e-12)  # the speech's spectrum, 1 at its loudest bin

    def _stft(self, delta: torch.Tensor) -> torch.Tensor:
        return torch.stft(delta, return_complex=True, **self.spec)

    def _istft(self, d: torch.Tensor) -> torch.Tensor:
        return torch.istft(d, length=self.length, **self.spec)

    def project(self, delta: torch.Tensor) -> torch.Tensor:
        d = self._stft(delta)
        d = d * torch.clamp(self.cap / d.abs().clamp_min(1e-12), max=1.0)  # each bin shrunk to its cap, same phase
        delta = self._istft(d)
        norm = float(delta.norm())
        return delta * (self.budget / norm) if norm > self.budget else delta

    def shaped(self, direction: torch.Tensor) -> torch.Tensor:
        """direction weighted by the speech's spectrum, unit L2 norm: a step that goes where the bound has room
        (a plain gradient step spends most of itself in quiet bins, where the projection then cuts it away)."""
        g = self._istft(self._stft(direction) * self.shape)
        return g / g.norm().clamp_min(1e-12)


def perturb(wave: np.ndarray, sample_rate: int, emotion: str, surrogate: Surrogate,
            snr_db: float = DEFAULT_SNR_DB, steps: int = DEFAULT_STEPS,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """The clip plus an untargeted L2 PGD perturbation against surrogate's belief in emotion (float32, same
    rate and length), within _Bound: shaped under the speech's spectrum, energy at least snr_db under the
    clip's. Deterministic given rng (it draws the start and each step's framing offset)."""
    if emotion not in EMOTION_IDS:
        raise ValueError(f"unknown emotion {emotion!r}")
    rng = rng if rng is not None else np.random.default_rng()
    original = _float(wave)
    x = _tensor(original, sample_rate)
    if steps <= 0 or x.numel() < N_FFT or not torch.any(x != 0):
        return original.copy()
    bound = _Bound(x, snr_db)
    surrogate.eval()
    target = torch.tensor([EMOTION_IDS.index(emotion)])
    # a random start inside the bound: PGD from zero sits on a flat spot as often as not
    delta = bound.project(bound.shaped(_noise(x.numel(), rng)) * bound.budget * 0.5)
    alpha = STEP_FACTOR * bound.budget / steps
    for _ in range(steps):
        delta.requires_grad_(True)
        # a random framing offset per step: the attacker's frames never line up with ours (other hop, other rate,
        # served clips start after random silence), so the perturbation must not depend on where frames fall
        shift = int(rng.integers(0, HOP))
        loss = F.cross_entropy(surrogate(F.pad(x + delta, (shift, 0))[None]), target)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = bound.project(delta + alpha * bound.shaped(grad))
    return _finish(original, x, delta.detach(), sample_rate, bound.ratio)


def shaped_noise(wave: np.ndarray, sample_rate: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """The clip plus random noise shaped like perturb()'s (under the speech's spectrum) at exactly snr_db: the
    control that tells an adversarial effect from plain noise at the same level."""
    original = _float(wave)
    x = _tensor(original, sample_rate)
    bound = _Bound(x, snr_db)
    delta = bound.shaped(_noise(x.numel(), rng))
    for _ in range(3):  # scale up to the budget and cut back to the caps until it sits at the budget
        delta = bound.project(delta * (bound.budget / delta.norm().clamp_min(1e-12)))
    return _finish(original, x, delta, sample_rate, bound.ratio)


def _noise(n: int, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.standard_normal(n).astype(np.float32))


def _finish(original: np.ndarray, x: torch.Tensor, delta: torch.Tensor, sample_rate: int,
            ratio: float) -> np.ndarray:
    """original + delta at the caller's rate and length, in [-1, 1], the energy bound kept exactly."""
    if sample_rate == SAMPLE_RATE:
        perturbed = original + delta.numpy()
    else:  # only the perturbation is resampled: the clip itself is not touched
        back = resample(delta.numpy().astype(np.float64), SAMPLE_RATE, sample_rate)[: original.size]
        perturbed = original + np.pad(back, (0, original.size - back.size)).astype(np.float32)
    # clipping only moves a sample toward the clean one (the clip's peaks are under 1), so the bounds still hold
    out = np.clip(perturbed, -1.0, 1.0).astype(np.float32)
    noise = np.linalg.norm(out.astype(np.float64) - original)
    limit = np.linalg.norm(original.astype(np.float64)) * ratio
    if noise > limit:  # resampling or float32 rounding can add a hair: the bound is a promise
        out = (original + (out - original) * np.float32(limit / noise * (1 - 1e-4))).astype(np.float32)
    return out


class Perturber:
    """The restocker's hook: `transform(wave, sample_rate, emotion) -> wave` with one surrogate and bound.
    Thread-safe (the restocker thread and a caller's fill() may share it); its random draws are secret
    unless a seed is given (tests)."""

    def __init__(self, surrogate: Surrogate, snr_db: float = DEFAULT_SNR_DB, steps: int = DEFAULT_STEPS,
                 seed: int | None = None):
        self.surrogate = surrogate
        self.snr_db = snr_db
        self.steps = steps
        self._rng = np.random.default_rng(secrets.randbits(64) if seed is None else seed)
        self._lock = threading.Lock()

    def __call__(self, wave: np.ndarray, sample_rate: int, emotion: str) -> np.ndarray:
        with self._lock:
            return perturb(wave, sample_rate, emotion, self.surrogate, self.snr_db, self.steps, self._rng)


def trusted_examples(library: Library) -> list[Example]:
    """The clips the surrogate learns from: the starter library's (labels true by construction, never
    perturbed). Restocked clips are left out: with the hook on, they carry perturbations already."""
    from .botlab.classifier import starter_examples

    return starter_examples(library)


def surrogate_for(library: Library, cache_path: str | Path) -> Surrogate:
    """The deployment's surrogate: the one at cache_path while the trusted clips have grown by less than 25 %
    since it was fitted, else one fitted now (at a secret seed) and saved there. ValueError when the library
    has no trusted clips of two emotions to fit on."""
    examples = trusted_examples(library)
    try:
        cached = load_surrogate(cache_path)
        if len(examples) < REFIT_GROWTH * int(cached.meta.get("trained_on", 0)):
            return cached
    except (OSError, ValueError, KeyError, RuntimeError):
        pass  # missing, stale or broken: refitted
    surrogate = fit_surrogate(examples)
    save_surrogate(surrogate, cache_path)
    return surrogate
