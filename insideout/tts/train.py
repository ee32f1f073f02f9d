"""Training the emotional Tacotron2: one loop for the app's fine-tunes and for long command-line runs.

Data is a list of TrainItem (audio, text, emotion) from a pool, the starter library or a teacher corpus
folder. Mel targets are computed once with audio.mel_spectrogram and cached on disk, keyed by the audio's
hash and the mel settings. Batches are length-bucketed (little padding) and drawn in an order that
depends only on (seed, epoch), so a run resumed from a checkpoint sees exactly the batches the
uninterrupted run would have seen: with the model, optimizer and RNG states restored, it continues
bit for bit. The same code runs on the CPU and on a GPU (device "auto").

Speakers: an item names its voice (a teacher corpus's manifest and the library's starter clips do). The
model's speaker table (tacotron2.with_speakers) is the checkpoint's, plus config.speakers; an item whose voice
is not in the table (a crowd clip of the model's own voice, an import) trains as the unknown speaker.

Loss: L1 + MSE of the mel before and after the postnet, stop-gate BCE, and a guided-attention penalty
averaged per decoder frame (weight ~5). Averaged over every attention cell instead, the penalty was too
weak on small data and attention never formed (measured while building the shipped model).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import faults
from ..emotions import EMOTION_IDS, emotion
from . import tacotron2 as t2
from . import trainpack
from .mel import MEL, mel_spectrogram
from .text import PHONEMES, Frontend
from .trainpack import PackedExample

CHECKPOINT_NAME = "checkpoint.pt"  # the resumable training state in a run's folder
MODEL_NAME = "model.pt"  # the finished model, in the project's checkpoint format


class TrainError(ValueError):
    pass


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "small"  # a tacotron2.PRESETS name
    model_overrides: dict = field(default_factory=dict)  # Tacotron2Config fields over the preset (tests: tiny)
    init_from: str = ""  # a checkpoint to fine-tune from (its own config wins over preset); "" = from scratch
    batch_size: int = 16
    lr: float = 1e-3
    lr_half_life_steps: int = 20_000  # lr halves every this many steps ...
    lr_min: float = 1e-5  # ... down to this floor
    weight_decay: float = 1e-6
    guided_attention_weight: float = 5.0
    guided_attention_sigma: float = 0.2
    grad_clip: float = 1.0
    steps: int = 1000  # total optimizer steps of the run (a resumed run counts from its checkpoint)
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    max_frames: int = 800  # longer clips are left out (9.3 s): memory grows with frames x tokens
    speakers: tuple[str, ...] = ()  # voices to add to the model's speaker table (the rest train as unknown)

    def resume_key(self) -> dict:
        """What must match for a checkpoint to be resumed: not the step budget or checkpoint period."""
        data = asdict(self)
        for name in ("steps", "checkpoint_every", "device"):
            data.pop(name)
        return data


@dataclass(frozen=True)
class TrainItem:
    """One training example. audio_id is a content hash of the audio: it keys the mel cache."""

    audio_id: str
    text: str
    emotion: str
    load_wave: Callable[[], np.ndarray] = field(compare=False, repr=False)  # float32 mono at MEL.sample_rate
    clip_id: int | None = None  # when it comes from the library
    speaker: str = ""  # the voice that speaks it ("" unknown)


@dataclass(frozen=True)
class TrainProgress:
    """After each step: its loss and time, the time left (eta_seconds), and the checkpoint's loss history."""

    step: int
    steps: int
    loss: float  # this step's
    eta_s: float  # eta_seconds' estimate: the first step's time alone until a second one is timed (timed < 2)
    seconds: float
    losses: list[tuple[int, float]] = field(default_factory=list)  # the history kept in the checkpoint
    step_s: float = 0.0  # this step's time
    timed: int = 0  # steps timed by this call (a resumed run's earlier ones are not)


@dataclass
class TrainResult:
    model_path: Path
    version: str
    steps: int
    seconds: float  # this call's training time (a resumed run adds its earlier seconds in provenance)
    losses: list[tuple[int, float]]  # (step, mean loss since the previous entry)
    provenance: dict


# -- data ---------------------------------------------------------------------------------------


def wave_item(wave: np.ndarray, text: str, emotion_id: str, clip_id: int | None = None,
              speaker: str = "") -> TrainItem:
    wave = np.asarray(wave, dtype=np.float32)
    audio_id = hashlib.sha256(wave.tobytes()).hexdigest()
    return TrainItem(audio_id, text, emotion(emotion_id).id, lambda: wave, clip_id, speaker)


def items_from_clips(library, clip_rows: Sequence[dict]) -> list[TrainItem]:
    """Library clips with a text and a label (play and learning clips have one)."""
    items = []
    for row in clip_rows:
        if not row.get("text") or not row.get("label"):
            continue
        clip_id = row["id"]
        items.append(TrainItem(row["sha256"], row["text"], row["label"],
                               lambda clip_id=clip_id: library.wave(clip_id), clip_id, row.get("voice") or ""))
    return items


def items_from_pool(library, pool: str, source: str | None = None) -> list[TrainItem]:
    """The pool's active clips with text and label; source filters (e.g. "starter")."""
    rows = [r for r in library.db.clips(pool, include_retired=False) if source is None or r["source"] == source]
    return items_from_clips(library, rows)


def items_from_folder(folder: str | Path) -> list[TrainItem]:
    """A teacher corpus: manifest.jsonl lines {"file", "text", "emotion", "sha256"} beside the WAV files."""
    import soundfile as sf

    folder = Path(folder)
    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        raise TrainError(f"{folder}: no manifest.jsonl (make one with insideout.tts.teacher.render_corpus)")
    items = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        path = folder / entry["file"]

        def load(path: Path = path) -> np.ndarray:
            wave, sr = sf.read(path, dtype="float32")
            if sr != MEL.sample_rate:
                raise TrainError(f"{path}: {sr} Hz, expected {MEL.sample_rate}")
            return wave

        items.append(TrainItem(entry["sha256"], entry["text"], entry["emotion"], load,
                               speaker=entry.get("voice") or ""))
    return items


class MelCache:
    """Log-mel targets on disk, one file per (audio hash, mel settings); computed once."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._settings = json.dumps(asdict(MEL), sort_keys=True)

    def path(self, audio_id: str) -> Path:
        key = hashlib.sha256(f"{audio_id}|{self._settings}".encode()).hexdigest()[:32]
        return self.folder / f"{key}.pt"

    def get(self, item: TrainItem) -> torch.Tensor:
        path = self.path(item.audio_id)
        if path.is_file():
            try:
                mel = torch.load(path, weights_only=True)
                self.hits += 1
                return mel
            except Exception:  # noqa: BLE001 - a torn or damaged file is recomputed
                pass
        self.misses += 1
        mel = mel_spectrogram(item.load_wave())[0].contiguous()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(mel, tmp)
        tmp.replace(path)
        return mel


@dataclass
class Example:
    tokens: torch.Tensor  # (tokens,) long
    emotion: int
    mel: torch.Tensor  # (n_mels, frames)
    speaker: int = 0  # a row of the model's speaker table


def prepare_packed(items: Sequence[TrainItem], cache: MelCache, frontend: Frontend, max_frames: int, *,
                   check_cancel: Callable[[], None] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[PackedExample]:
    """Items -> (phoneme ids, emotion, voice, mel) in a stable order (by audio id), so the batch plan does not
    depend on the source's; clips of under 2 or over max_frames frames are left out. check_cancel is asked
    before each item (a mel target of a long clip takes a while on a small CPU) and progress(done, total)
    hears each one."""
    packed = []
    tokens_of: dict[str, list[int]] = {}
    ordered = sorted(items, key=lambda i: (i.audio_id, i.text, i.emotion))
    for done, item in enumerate(ordered, 1):
        if check_cancel is not None:
            check_cancel()
        mel = cache.get(item)
        if progress is not None:
            progress(done, len(ordered))
        if mel.shape[-1] > max_frames or mel.shape[-1] < 2:
            continue
        if item.text not in tokens_of:
            tokens_of[item.text] = frontend.encode(item.text)
        packed.append(PackedExample(item.audio_id, torch.tensor(tokens_of[item.text], dtype=torch.long),
                                    EMOTION_IDS.index(emotion(item.emotion).id), item.speaker, mel))
    return packed


def from_packed(packed: Sequence[PackedExample], max_frames: int, speakers: tuple[str, ...] = ()) -> list[Example]:
    """Packed examples as training examples of a model whose speaker table is `speakers`: a voice not in it
    is the unknown speaker, row len(speakers)."""
    return [Example(p.tokens, p.emotion, p.mel, speakers.index(p.speaker) if p.speaker in speakers
                    else len(speakers))
            for p in packed if 2 <= p.mel.shape[-1] <= max_frames]


def prepare(items: Sequence[TrainItem], cache: MelCache, frontend: Frontend, max_frames: int,
            speakers: tuple[str, ...] = (), *, check_cancel: Callable[[], None] | None = None,
            progress: Callable[[int, int], None] | None = None) -> list[Example]:
    """Items -> tensors (prepare_packed's), with each voice as a row of the model's speaker table."""
    packed = prepare_packed(items, cache, frontend, max_frames, check_cancel=check_cancel, progress=progress)
    return from_packed(packed, max_frames, speakers)


def bucketed_batches(examples: Sequence[Example], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of similar mel length: sort by length with a seeded jitter, cut, shuffle the batches.
    Depends only on (seed, epoch), which is what makes a resumed run identical."""
    rng = np.random.default_rng([seed, epoch])
    lengths = np.array([e.mel.shape[-1] for e in examples], dtype=np.float64)
    order = np.argsort(lengths * rng.uniform(0.9, 1.1, size=len(lengths)), kind="stable")
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    tokens: torch.Tensor
    token_lengths: torch.Tensor
    emotions: torch.Tensor
    mels: torch.Tensor
    mel_lengths: torch.Tensor
    speakers: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device) for t in (self.tokens, self.token_lengths, self.emotions, self.mels,
                                             self.mel_lengths, self.speakers)))


def collate(examples: Sequence[Example]) -> Batch:
    # The encoder packs sequences, which wants them longest first.
    examples = sorted(examples, key=lambda e: -len(e.tokens))
    token_lengths = torch.tensor([len(e.tokens) for e in examples])
    mel_lengths = torch.tensor([e.mel.shape[-1] for e in examples])
    tokens = torch.zeros(len(examples), int(token_lengths.max()), dtype=torch.long)
    floor = math.log(MEL.log_clamp)
    mels = torch.full((len(examples), MEL.n_mels, int(mel_lengths.max())), floor)
    for i, e in enumerate(examples):
        tokens[i, :len(e.tokens)] = e.tokens
        mels[i, :, :e.mel.shape[-1]] = e.mel
    return Batch(tokens, token_lengths, torch.tensor([e.emotion for e in examples]), mels, mel_lengths,
                 torch.tensor([e.speaker for e in examples]))


# -- loss ---------------------------------------------------------------------------------------


def guided_attention_penalty(alignments: torch.Tensor, token_lengths: torch.Tensor, mel_lengths: torch.Tensor,
                             sigma: float) -> torch.Tensor:
    """Attention mass far from the diagonal, summed over tokens and averaged per valid decoder frame."""
    n_batch, frames, tokens = alignments.shape
    device = alignments.device
    t = torch.arange(frames, device=device).view(1, -1, 1) / mel_lengths.view(-1, 1, 1).float()
    n = torch.arange(tokens, device=device).view(1, 1, -1) / token_lengths.view(-1, 1, 1).float()
    weight = 1.0 - torch.exp(-((n - t) ** 2) / (2 * sigma**2))
    frame_mask = torch.arange(frames, device=device).view(1, -1) < mel_lengths.view(-1, 1)
    token_mask = torch.arange(tokens, device=device).view(1, -1) < token_lengths.view(-1, 1)
    cells = frame_mask.unsqueeze(2) & token_mask.unsqueeze(1)
    return (alignments * weight * cells).sum() / frame_mask.sum()


def losses(model: t2.EmotionTacotron2, batch: Batch, config: TrainConfig) -> dict[str, torch.Tensor]:
    mel, mel_post, gate, alignments = model(batch.tokens, batch.token_lengths, batch.emotions, batch.mels,
                                            batch.mel_lengths, batch.speakers)
    frames = batch.mels.shape[-1]
    valid = (torch.arange(frames, device=mel.device).view(1, -1) < batch.mel_lengths.view(-1, 1))
    mask = valid.unsqueeze(1).float()
    n_cells = mask.sum() * MEL.n_mels

    def mel_loss(pred: torch.Tensor) -> torch.Tensor:
        diff = (pred - batch.mels) * mask
        return (diff.abs().sum() + (diff**2).sum()) / n_cells

    # Gate target: 1 from the last real frame on (padding counts as "stopped").
    gate_target = (torch.arange(frames, device=mel.device).view(1, -1) >= (batch.mel_lengths - 1).view(-1, 1))
    gate_loss = F.binary_cross_entropy_with_logits(gate, gate_target.float())
    attention = guided_attention_penalty(alignments, batch.token_lengths, batch.mel_lengths,
                                         config.guided_attention_sigma)
    total = mel_loss(mel) + mel_loss(mel_post) + gate_loss + config.guided_attention_weight * attention
    return {"loss": total, "mel": mel_loss(mel_post).detach(), "gate": gate_loss.detach(),
            "attention": attention.detach()}


def learning_rate(config: TrainConfig, step: int) -> float:
    return max(config.lr_min, config.lr * 0.5 ** (step / config.lr_half_life_steps))


RECENT_STEPS = 20  # the ETA follows the median of this many latest step times


def eta_seconds(step_seconds: Sequence[float], remaining: int, recent: int = RECENT_STEPS) -> float:
    """Time left: remaining steps at the median time of the recent measured steps. The first step is left
    out once another is timed: it pays for warm-up (allocation, caches) and once took fifty times a step,
    which an average carried for the whole run. The median also shrugs off a stray slow step (a checkpoint
    write). With one step timed it is all there is; with none, 0."""
    # Past `recent` steps the first one is out of the window anyway (and the long list is not copied).
    times = list(step_seconds[-recent:] if len(step_seconds) > recent else step_seconds[1:] or step_seconds)
    if not times or remaining <= 0:
        return 0.0
    return float(np.median(times)) * remaining


# -- the loop -----------------------------------------------------------------------------------


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("device cuda asked for, but torch sees no GPU")
    return torch.device(name)


def build_model(config: TrainConfig) -> tuple[t2.EmotionTacotron2, Frontend, tuple[str, ...], dict]:
    """A fresh model of the preset, or the init_from checkpoint to fine-tune (with its frontend), with
    config.speakers added to its speaker table: (model, frontend, speaker table, lineage)."""
    torch.manual_seed(config.seed)  # new speaker rows are drawn from it: a resumed run rebuilds them alike
    if config.init_from:
        loaded = t2.load(config.init_from)
        if loaded.frontend.name != "phonemes":
            raise TrainError(f"{config.init_from}: a {loaded.frontend.name} model; training speaks phonemes")
        model, speakers = t2.with_speakers(loaded.model, loaded.speakers, config.speakers)
        return model, loaded.frontend, speakers, {"parent_version": loaded.version, "init_from": config.init_from}
    if config.preset not in t2.PRESETS:
        raise TrainError(f"unknown preset {config.preset!r}; expected one of {', '.join(t2.PRESETS)}")
    speakers = tuple(dict.fromkeys(config.speakers))
    model_config = replace(t2.PRESETS[config.preset], **config.model_overrides, n_speakers=len(speakers))
    return t2.EmotionTacotron2(model_config), PHONEMES, speakers, {"parent_version": None}


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, model, optimizer, step: int, config: TrainConfig, history: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": _rng_state(), "resume_key": config.resume_key(), "history": history}, tmp)
    tmp.replace(path)  # atomic: a crash leaves the previous checkpoint whole


def train(items: Sequence[TrainItem], config: TrainConfig, run_dir: str | Path, cache_dir: str | Path | None = None,
          progress: Callable[[TrainProgress], None] | None = None, check_cancel: Callable[[], None] | None = None,
          description: dict | None = None, preparing: Callable[[int, int], None] | None = None,
          packs: Sequence[str | Path] = ()) -> TrainResult:
    """Train for config.steps steps in run_dir, resuming from its checkpoint when there is one.

    check_cancel raises to stop (JobContext.check_cancel does); it is called before each mel target is
    prepared and between steps, and the state is checkpointed before the exception goes on, so the same
    call later continues from there. preparing(done, total) hears each mel target as it is ready; progress
    each step (TrainProgress). packs: training packs (trainpack.py) to train on instead of items.
    Returns the finished model, saved as run_dir/model.pt.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = MelCache(cache_dir or run_dir / "mels")
    device = pick_device(config.device)
    model, frontend, speakers, lineage = build_model(config)
    if packs:
        examples = from_packed(trainpack.read_all(packs, frontend), config.max_frames, speakers)
    else:
        examples = prepare(items, cache, frontend, config.max_frames, speakers, check_cancel=check_cancel,
                           progress=preparing)
    if not examples:
        raise TrainError("no usable training examples (each needs text, an emotion and 2 to max_frames frames)")
    batch_size = min(config.batch_size, len(examples))

    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    history: dict = {"losses": [], "seconds": 0.0}
    step = 0
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)  # RNG states stay on the CPU
        if state["resume_key"] != config.resume_key():
            raise TrainError(f"{checkpoint_path} was made with another configuration; use a new run folder")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        step, history = state["step"], state["history"]
    else:
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        np.random.seed(config.seed)

    n_batches = math.ceil(len(examples) / batch_size)
    started = time.monotonic()
    window: list[float] = []
    step_times: list[float] = []  # this call's, for the ETA
    while step < config.steps:
        if check_cancel is not None:
            try:
                check_cancel()
            except BaseException:
                # Cancelled: keep the work done so far. Only here, at a clean step boundary, is the
                # state consistent (an error inside a step may leave half-updated weights).
                if window:
                    history["losses"].append((step, sum(window) / len(window)))
                history["seconds"] += time.monotonic() - started
                _save_checkpoint(checkpoint_path, model, optimizer, step, config, history)
                raise
        step_started = time.monotonic()
        epoch, index = divmod(step, n_batches)
        plan = bucketed_batches(examples, batch_size, config.seed, epoch)
        batch = collate([examples[i] for i in plan[index]]).to(device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        parts = losses(model, batch, config)
        loss = float(parts["loss"].detach())
        if not math.isfinite(loss):  # stop before the step spoils the weights
            raise TrainError(f"the loss became {loss} at step {step + 1}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        step_times.append(time.monotonic() - step_started)
        window.append(loss)
        if step % max(1, min(50, config.checkpoint_every)) == 0 or step == config.steps:
            history["losses"].append((step, sum(window) / len(window)))
            window = []
        if step % config.checkpoint_every == 0 and step < config.steps:
            history["seconds"] += time.monotonic() - started
            started = time.monotonic()
            _save_checkpoint(checkpoint_path, model, optimizer, step, config, history)
            faults.point("train.checkpoint")
        if progress is not None:
            elapsed = history["seconds"] + time.monotonic() - started
            progress(TrainProgress(step, config.steps, loss, eta_seconds(step_times, config.steps - step), elapsed,
                                   history["losses"], step_times[-1], len(step_times)))
    history["seconds"] += time.monotonic() - started
    _save_checkpoint(checkpoint_path, model, optimizer, step, config, history)

    model.eval().cpu()
    provenance = {
        "trained": "insideout.tts.train",
        "data": {"examples": len(examples), "texts": len({tuple(e.tokens.tolist()) for e in examples}),
                 "examples_by_speaker": {name: sum(e.speaker == i for e in examples)
                                         for i, name in enumerate((*speakers, "unknown"))},
                 "audio_seconds": round(sum(e.mel.shape[-1] for e in examples) * MEL.hop_length
                                        / MEL.sample_rate, 1), **(description or {})},
        "config": asdict(config),
        "steps": step,
        "hardware": _hardware(device),
        "seconds": round(history["seconds"], 1),
        "losses": history["losses"],
        **lineage,
    }
    model_path = run_dir / MODEL_NAME
    version = t2.save(model, model_path, frontend, provenance, speakers=speakers)
    return TrainResult(model_path, version, step, time.monotonic() - started, history["losses"], provenance)


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


@torch.no_grad()
def evaluate(model_path: str | Path, items: Sequence[TrainItem], cache_dir: str | Path,
             batch_size: int = 16) -> dict:
    """Teacher-forced metrics of a saved model on items: mel L1 after the postnet, gate BCE, and attention
    diagonality (1 minus the guided-attention penalty per frame: 1 when all attention is on the diagonal)."""
    loaded = t2.load(model_path)
    model = loaded.model.eval()
    examples = prepare(items, MelCache(cache_dir), loaded.frontend, model.config.decoder_max_step, loaded.speakers)
    if not examples:
        return {"examples": 0}
    l1, diagonal, gate, n = 0.0, 0.0, 0.0, 0
    config = TrainConfig()
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start:start + batch_size])
        _, mel_post, gate_logits, alignments = model(batch.tokens, batch.token_lengths, batch.emotions,
                                                       batch.mels, batch.mel_lengths, batch.speakers)
        frames = batch.mels.shape[-1]
        mask = (torch.arange(frames).view(1, -1) < batch.mel_lengths.view(-1, 1)).unsqueeze(1).float()
        l1 += float(((mel_post - batch.mels).abs() * mask).sum() / (mask.sum() * MEL.n_mels)) * len(batch.tokens)
        off = guided_attention_penalty(alignments, batch.token_lengths, batch.mel_lengths,
                                       config.guided_attention_sigma)
        diagonal += (1.0 - float(off)) * len(batch.tokens)
        gate_target = torch.arange(frames).view(1, -1) >= (batch.mel_lengths - 1).view(-1, 1)
        gate += float(F.binary_cross_entropy_with_logits(gate_logits, gate_target.float())) * len(batch.tokens)
        n += len(batch.tokens)
    return {"examples": n, "mel_l1": round(l1 / n, 4), "gate_bce": round(gate / n, 4),
            "attention_diagonality": round(diagonal / n, 4)}
