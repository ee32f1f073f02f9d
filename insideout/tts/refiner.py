"""The mel refiner: a small learned net that gives a guided mel back the voice quality the pitch guide cannot draw.

Why: the pitch guide (tts/guide.py) draws a harmonic comb at the emotion preset's F0 into the model's smoothed
low band. A comb carries F0 and nothing of a voice's quality (the harmonics' relative levels, the noise between
them, their cycle-to-cycle irregularity), which is where the teacher's presets put much of each emotion: the
strong judge names 39 of 48 held-out teacher mels through the vocoder, 24-26 once their harmonics are replaced
by the comb (the model card's "Where the emotion is lost"). The refiner learns that detail from the teacher.

What it is: a residual 1-D convolution over the mel's frames (5 layers, 128 channels, kernel 5) with an emotion
embedding added after its first layer; its last layer starts at zero, so an untrained refiner returns its input.
Trained as a least-squares GAN with feature matching plus an L1 pull to the target, against a small 2-D
convolutional critic with spectral norm, on random 64-frame crops. Input: the acoustic model's teacher-forced mel
of a corpus clip, sharpened by the postfilter and imprinted with the guide's comb at the clip's own F0 (WORLD DIO +
StoneMask) where the guide finds it voiced; target: the teacher clip's own mel. (Or, free_running_pairs, the
model's own free-running mel of the sentence against the clip's mel aligned onto it by DTW: an option of the
command, not what the shipped refiner learned from.) With RefinerConfig.emotion_weight, an EmotionProbe (a small
classifier of 64-frame crops) is first trained on the teacher's crops and frozen, and the refiner's loss adds its
cross-entropy on refined crops: a pull towards detail the probe hears as the clip's own emotion. At generation it
runs on the guided mel, after the guide, before the vocoder; only with the pitch guide (without a comb its input is
not what it learned from). A file may also carry an emphasis: for the emotions it names, the postfilter's cepstral
sharpening (tts/postfilter.py) applied to the net's output, chosen by measuring that file's clips (`insideout
emphasize-refiner`); it is part of the file, so of its version.

This module owns the net, its critic, the emotion probe, the training pairs, the resumable training loop, the
exported file (fp16 weights, their shape, the emotions in embedding order, what trained them, any emphasis) and
applying it.
Nothing here knows of the web or of storage.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..emotions import EMOTION_IDS, emotion
from .mel import MEL, checked_log_mel

FORMAT = "insideout-mel-refiner"
FORMAT_VERSION = 1
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "mel-refiner.pt"
OFF = "off"  # INSIDEOUT_MEL_REFINER's value for none
CROP_FRAMES = 64
MAX_FRAMES = 2000  # a corpus clip longer than this (23 s) is left out of the pairs: its forward pass is all memory
PAD_LOG = math.log(MEL.log_clamp)  # a crop shorter than CROP_FRAMES is padded with silence
FREE_RUNNING_BATCH = 16  # sentences the acoustic model speaks at once for free-running pairs
DIVERGED_LOG = 30.0  # a free-running mel with a log value beyond this has diverged (speech stays within about 5)


class RefinerError(ValueError):
    pass


@dataclass(frozen=True)
class RefinerShape:
    channels: int = 128
    layers: int = 4  # residual layers between the input and output convolutions (5 convolutions deep in all)
    kernel: int = 5
    n_mels: int = MEL.n_mels
    emotions: int = len(EMOTION_IDS)


class RefinerNet(nn.Module):
    """mel (batch, n_mels, frames), emotion ids (batch,) -> refined mel of the same shape."""

    def __init__(self, shape: RefinerShape = RefinerShape()):
        super().__init__()
        pad = shape.kernel // 2
        self.shape = shape
        self.inp = nn.Conv1d(shape.n_mels, shape.channels, shape.kernel, padding=pad)
        self.emo = nn.Embedding(shape.emotions, shape.channels)
        self.body = nn.ModuleList(nn.Conv1d(shape.channels, shape.channels, shape.kernel, padding=pad)
                                  for _ in range(shape.layers))
        self.out = nn.Conv1d(shape.channels, shape.n_mels, shape.kernel, padding=pad)
        nn.init.zeros_(self.out.weight)  # starts as the identity: training only ever adds detail to the input
        nn.init.zeros_(self.out.bias)

    def forward(self, mel: torch.Tensor, emotions: torch.Tensor) -> torch.Tensor:
        h = self.inp(mel) + self.emo(emotions)[:, :, None]
        for conv in self.body:
            h = h + conv(F.leaky_relu(h, 0.2))
        return mel + self.out(F.leaky_relu(h, 0.2))


class Critic(nn.Module):
    """A mel crop (batch, n_mels, frames) -> (a score map, the feature maps feature matching compares)."""

    def __init__(self):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.convs = nn.ModuleList([sn(nn.Conv2d(1, 32, 3, padding=1)), sn(nn.Conv2d(32, 64, 3, stride=2, padding=1)),
                                    sn(nn.Conv2d(64, 128, 3, stride=2, padding=1)),
                                    sn(nn.Conv2d(128, 128, 3, stride=2, padding=1))])
        self.last = sn(nn.Conv2d(128, 1, 3, padding=1))

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features, h = [], mel.unsqueeze(1)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
            features.append(h)
        return self.last(h), features


class EmotionProbe(nn.Module):
    """A mel crop (batch, n_mels, frames) -> emotion logits (batch, emotions): three convolutions over frames, then
    each channel's mean and spread over the crop. Trained on the teacher's crops before the refiner and frozen, it
    says how much of each emotion a refined crop carries (RefinerConfig.emotion_weight)."""

    def __init__(self, n_mels: int = MEL.n_mels, emotions: int = len(EMOTION_IDS), channels: int = 128):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(n_mels, channels, 5, padding=2),
                                    nn.Conv1d(channels, channels, 5, padding=2),
                                    nn.Conv1d(channels, channels, 5, padding=4, dilation=2)])
        self.head = nn.Linear(2 * channels, emotions)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = mel
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        return self.head(torch.cat([h.mean(2), h.std(2)], dim=1))


def train_probe(pairs: Sequence[Pair], steps: int, seed: int, batch_size: int = 32,
                held_out: float = 0.1) -> tuple[EmotionProbe, float]:
    """An EmotionProbe trained on random crops of the pairs' targets (the teacher's mels), frozen; and its accuracy
    on crops of the pairs it did not learn from (the last `held_out` share, so the refiner's training can say how
    well its judge of emotion hears the teacher). Seeded on its own: the caller's random state is left as it was,
    so a resumed refiner run trains the same probe again."""
    rng = random.Random(seed)
    split = max(1, int(len(pairs) * (1 - held_out)))  # one pair: it is learned and tested on
    learn, test = list(pairs[:split]), list(pairs[split:]) or list(pairs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = EmotionProbe()
        opt = torch.optim.AdamW(probe.parameters(), 1e-3)
        probe.train()
        for _ in range(steps):
            _, target, emotions = crop_batch(learn, batch_size, rng)
            loss = F.cross_entropy(probe(target), emotions)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    probe.eval()
    for parameter in probe.parameters():
        parameter.requires_grad_(False)
    with torch.no_grad():
        _, target, emotions = crop_batch(test, max(256, len(test)), random.Random(seed + 1))
        accuracy = (probe(target).argmax(1) == emotions).float().mean().item()
    return probe, accuracy


# -- applying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refiner:
    """A loaded refiner: its net (eval mode), its version (a content hash of the file: it names the refiner in
    every clip's provenance and in each version's metrics) and what trained it."""

    net: RefinerNet = field(repr=False)
    version: str
    source: str
    trained: dict = field(default_factory=dict, repr=False)
    # emotion id -> the postfilter's beta its refined mels are sharpened with after the net (absent: none); part
    # of the file, so of its version: chosen by measuring this net's clips (with_emphasis)
    emphasis: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def refine(self, log_mel: np.ndarray, emotion_id: str) -> np.ndarray:
        """The refined log mel (n_mels, frames) of a guided mel spoken in emotion_id, sharpened by the file's
        emphasis for that emotion where it has one; a new float32 array."""
        from .postfilter import sharpen

        x = checked_log_mel(log_mel)  # a ValueError for another shape (load checked the refiner's mel settings)
        if x.shape[1] == 0:
            return x.astype(np.float32, copy=True)
        emotion_id = emotion(emotion_id).id
        index = torch.tensor([EMOTION_IDS.index(emotion_id)])
        with self._lock, torch.inference_mode():
            out = self.net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None], index)[0]
        return sharpen(out.numpy(), self.emphasis.get(emotion_id, 0.0))  # beta 0: a float32 copy as it is


def checked_emphasis(emphasis: dict) -> dict[str, float]:
    """{emotion id: beta} with every id one of EMOTION_IDS (canonical) and every beta within the postfilter's
    LIMITS, in EMOTION_IDS order, zeros left out; a RefinerError naming what is wrong otherwise."""
    from .postfilter import check_beta

    if not isinstance(emphasis, dict):
        raise RefinerError(f"an emphasis is a table of emotion to beta, got {type(emphasis).__name__}")
    checked: dict[str, float] = {}
    for key, beta in emphasis.items():
        try:
            checked[emotion(str(key)).id] = check_beta(beta)
        except (ValueError, TypeError) as e:
            raise RefinerError(f"emphasis {key}={beta}: {e}") from None
    return {e: checked[e] for e in EMOTION_IDS if checked.get(e, 0.0) > 0}


def export(net: RefinerNet, path: str | Path, trained: dict | None = None, emphasis: dict | None = None) -> str:
    """Write the refiner (fp16 weights: half the size, nothing audible lost) atomically; returns its version.
    emphasis: {emotion id: beta} (checked_emphasis; none by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "shape": asdict(net.shape),
            "emotions": list(EMOTION_IDS), "mel": asdict(MEL), "state": state, "trained": trained or {}}
    emphasis = checked_emphasis(emphasis or {})
    if emphasis:  # absent when empty, so a file written without one keeps its bytes and its version
        data["emphasis"] = emphasis
    tmp = path.with_suffix(".tmp")
    torch.save(data, tmp)
    tmp.replace(path)
    return file_version(path)


def with_emphasis(source: str | Path, out: str | Path, emphasis: dict) -> Refiner:
    """The refiner at source written to out with this emphasis ({emotion id: beta}, replacing any it had; {} for
    none), loaded back: same weights and record, another file version."""
    refiner = load(source)
    export(refiner.net, out, refiner.trained, emphasis)  # export checks the emphasis
    return load(out)


def file_version(path: str | Path) -> str:
    """The first 12 hex digits of the file's SHA-256: two files with the same weights and record share it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def load(path: str | Path) -> Refiner:
    """A refiner from an exported file; RefinerError naming what is wrong with any other file."""
    path = Path(path)
    if not path.is_file():
        raise RefinerError(f"no mel refiner at {path}: train one with `insideout train-refiner`, or set "
                           f"INSIDEOUT_MEL_REFINER=off")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a file that is not its own
        raise RefinerError(f"{path}: not a mel refiner ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RefinerError(f"{path}: not a mel refiner (made by `insideout train-refiner`)")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise RefinerError(f"{path}: made by a newer InsideOut (format {data['format_version']})")
    if tuple(data.get("emotions", ())) != EMOTION_IDS:
        raise RefinerError(f"{path}: learned the emotions {data.get('emotions')}, this InsideOut has {EMOTION_IDS}")
    if data.get("mel") != asdict(MEL):
        raise RefinerError(f"{path}: learned on other mel settings than this InsideOut's")
    net = RefinerNet(RefinerShape(**data["shape"]))
    try:
        net.load_state_dict({k: v.float() for k, v in data["state"].items()})
    except RuntimeError as e:
        raise RefinerError(f"{path}: its weights do not fit its shape ({e})") from None
    net.eval()
    return Refiner(net, file_version(path), str(path), dict(data.get("trained") or {}),
                   checked_emphasis(data.get("emphasis") or {}))


def chosen_path(setting: str) -> Path | None:
    """The refiner file INSIDEOUT_MEL_REFINER names: "" the shipped one, "off" none, else a path."""
    setting = (setting or "").strip()
    if setting == OFF:
        return None
    return SHIPPED if not setting else Path(setting)


_shared: dict[str, Refiner] = {}
_shared_lock = threading.Lock()


def shared_refiner(setting: str) -> Refiner | None:
    """One loaded refiner per file per process (None for "off"); RefinerError when the file is missing or bad."""
    path = chosen_path(setting)
    if path is None:
        return None
    key = str(path.resolve())
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load(path)
        return _shared[key]


# -- training pairs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """What the refiner learns from: an input mel, the teacher's mel of the same frames, the emotion's index."""

    source: torch.Tensor  # (n_mels, frames) fp16
    target: torch.Tensor  # (n_mels, frames) fp16
    emotion: int


def f0_at_frames(wave: np.ndarray, frames: int) -> np.ndarray:
    """F0 in Hz at each of a clip's mel frames (WORLD DIO refined by StoneMask), unvoiced frames bridged by
    interpolation (the guide's voicing decides where the comb is drawn, not this)."""
    import pyworld

    x = np.asarray(wave, dtype=np.float64)
    f0, times = pyworld.dio(x, MEL.sample_rate, f0_floor=60.0, f0_ceil=600.0,
                            frame_period=1000.0 * MEL.hop_length / MEL.sample_rate)
    f0 = pyworld.stonemask(x, f0, times, MEL.sample_rate)
    f0 = np.pad(f0, (0, max(0, frames - len(f0))))[:frames]
    voiced = np.flatnonzero(f0 > 0)
    if not len(voiced):
        return np.full(frames, 140.0)
    return np.interp(np.arange(frames), voiced, f0[voiced])


def refiner_input(model_mel: np.ndarray, f0_hz: np.ndarray, postfilter: float) -> np.ndarray:
    """The mel the refiner hears in training: the model's own, sharpened, with the guide's comb at f0_hz."""
    from . import guide
    from .postfilter import sharpen

    sharpened = sharpen(model_mel, postfilter)
    return guide.imprint(sharpened, f0_hz, guide.voicing(sharpened))


def training_pairs(acoustic, items: Sequence, cache_dir: str | Path, postfilter: float,
                   on_progress: Callable[[int, int], None] | None = None,
                   check_cancel: Callable[[], None] | None = None) -> list[Pair]:
    """Pairs from teacher clips (tts.train.TrainItem): the acoustic model (tacotron2.AcousticModel) speaks each
    clip's sentence teacher-forced on the clip's own mel, so its frames line up with the target's. Clips the
    model cannot take (too long, a non-finite mel) are left out."""
    from .train import MelCache, collate, prepare

    cache = MelCache(cache_dir)
    model = acoustic.model.eval()
    pairs: list[Pair] = []
    for done, item in enumerate(items, 1):
        if check_cancel is not None:
            check_cancel()
        examples = prepare([item], cache, acoustic.frontend, MAX_FRAMES, acoustic.speakers)
        if examples:
            batch = collate(examples)
            frames = int(batch.mel_lengths[0])
            with torch.inference_mode():
                _, post, _, _ = model(batch.tokens, batch.token_lengths, batch.emotions, batch.mels,
                                      batch.mel_lengths, batch.speakers)
            source = refiner_input(post[0, :, :frames].numpy(), f0_at_frames(item.load_wave(), frames), postfilter)
            target = batch.mels[0, :, :frames].numpy()
            if np.isfinite(source).all() and np.isfinite(target).all():
                pairs.append(Pair(torch.from_numpy(source).half(), torch.from_numpy(target.copy()).half(),
                                  int(batch.emotions[0])))
        if on_progress is not None:
            on_progress(done, len(items))
    return pairs


def aligned_frames(mel: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each frame of mel (n_mels, m), the frame of target (n_mels, n) dynamic time warping pairs it with (the
    mean of the target frames its path passes, rounded): target[:, aligned_frames(mel, target)] is the target
    warped onto mel's timeline."""
    import librosa

    a, b = checked_log_mel(mel), checked_log_mel(target)
    if not a.shape[1] or not b.shape[1]:
        raise RefinerError("aligning needs at least one frame on each side")
    _, path = librosa.sequence.dtw(X=a, Y=b, metric="euclidean", backtrack=True)
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=a.shape[1])
    counts = np.bincount(path[:, 0], minlength=a.shape[1])  # every frame of mel is on the path at least once
    return np.round(sums / np.maximum(counts, 1)).astype(int)


def free_running_pairs(acoustic, items: Sequence, postfilter: float, strength: float,
                       on_progress: Callable[[int, int], None] | None = None,
                       check_cancel: Callable[[], None] | None = None,
                       batch_size: int = FREE_RUNNING_BATCH) -> list[Pair]:
    """Pairs from teacher clips (tts.train.TrainItem) as generation speaks them: the acoustic model speaks each
    clip's sentence by itself at the emotion strength `strength`, a few sentences at a time; its sharpened mel is
    aligned to the clip's own mel by DTW (aligned_frames), the target is the clip's mel warped onto the generated
    frames, and the comb is drawn at the clip's F0 warped the same way. Why: generation's mels are smoother than
    teacher-forced ones (the decoder hears its own frames), and a refiner that learned only from teacher-forced
    mels leaves that difference in. Sentences the decoder does not end, and mels that diverge, are left out."""
    from .mel import mel_spectrogram
    from .postfilter import sharpen
    from .synthesize import encode_batch
    from .tacotron2 import speaker_index

    model = acoustic.model.eval()
    max_step = model.config.decoder_max_step
    pairs: list[Pair] = []
    for first in range(0, len(items), batch_size):
        if check_cancel is not None:
            check_cancel()
        chunk = list(items[first:first + batch_size])
        order, batch, lengths, emotions = encode_batch(acoustic.frontend, [i.text for i in chunk],
                                                       [i.emotion for i in chunk])
        speakers = torch.tensor([speaker_index(model, acoustic.speakers, chunk[i].speaker) for i in order])
        with torch.inference_mode():
            mels, mel_lengths, _ = model.infer(batch, lengths, emotions, speakers, strength)
        for row, i in enumerate(order):
            frames = int(mel_lengths[row])
            own = mels[row, :, :frames].numpy()
            if frames >= max_step or frames < 2 or not np.isfinite(own).all() or np.abs(own).max() > DIVERGED_LOG:
                continue
            wave = np.asarray(chunk[i].load_wave(), dtype=np.float32)
            target = mel_spectrogram(torch.from_numpy(wave))[0].numpy()
            if not 2 <= target.shape[1] <= MAX_FRAMES or not np.isfinite(target).all():
                continue
            frame_of = aligned_frames(sharpen(own, postfilter), target)
            source = refiner_input(own, f0_at_frames(wave, target.shape[1])[frame_of], postfilter)
            pairs.append(Pair(torch.from_numpy(source).half(),
                              torch.from_numpy(np.ascontiguousarray(target[:, frame_of])).half(), int(emotions[row])))
        if on_progress is not None:
            on_progress(min(first + batch_size, len(items)), len(items))
    return pairs


def crop_batch(pairs: Sequence[Pair], size: int, rng: random.Random,
               frames: int = CROP_FRAMES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """size random crops of `frames` frames (shorter pairs padded with silence): sources, targets, emotions."""
    sources, targets, emotions = [], [], []
    for _ in range(size):
        pair = pairs[rng.randrange(len(pairs))]
        length = pair.source.shape[1]
        start = rng.randrange(length - frames + 1) if length > frames else 0
        for out, mel in ((sources, pair.source), (targets, pair.target)):
            crop = mel[:, start:start + frames].float()
            out.append(F.pad(crop, (0, frames - crop.shape[1]), value=PAD_LOG))
        emotions.append(pair.emotion)
    return torch.stack(sources), torch.stack(targets), torch.tensor(emotions)


# -- training ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefinerConfig:
    steps: int = 8000
    batch_size: int = 16
    learning_rate: float = 2e-4  # the refiner's, at step 0; cosine decay to a tenth of it at `steps`
    critic_learning_rate: float = 1e-4  # half the refiner's: at equal rates the critic's loss rose late in training
    l1_weight: float = 5.0
    feature_weight: float = 2.0
    # the refiner's cross-entropy under an EmotionProbe trained on the teacher's crops first (0: no probe; the shipped
    # refiner's fine-tune used 0.3, its base run none). Why: the critic asks for a teacher-like mel of any emotion,
    # and L1 for the average of the teacher's detail; neither asks that the detail be the emotion's own, which is
    # what generated clips lack
    emotion_weight: float = 0.0
    probe_steps: int = 3000  # the probe's training steps (batches of 32 teacher crops), before the refiner's
    checkpoint_every: int = 200
    seed: int = 0

    def rates(self, step: int) -> tuple[float, float]:
        """(refiner's, critic's) learning rate at step: cosine decay from each's first rate to a tenth of it."""
        progress = min(1.0, step / max(1, self.steps))
        scale = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        return self.learning_rate * scale, self.critic_learning_rate * scale


def train(pairs: Sequence[Pair], run_dir: str | Path, config: RefinerConfig = RefinerConfig(),
          on_step: Callable[[int, dict[str, float], float], None] | None = None,
          should_stop: Callable[[], bool] | None = None, init: Refiner | None = None) -> RefinerNet:
    """Train a refiner on pairs; resumable: run_dir/last.pt holds both nets, their optimizers, the step, the rng
    and the loss history, written every config.checkpoint_every steps, at the end and when interrupted.
    init: a refiner whose weights a new run starts from (a fine-tune; its critic starts afresh); a resumed run
    ignores it. on_step(step, losses, seconds) hears of each step. RefinerError when a loss stops being a number."""
    if not pairs:
        raise RefinerError("no training pairs: the corpus gave the acoustic model nothing it could speak")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / "last.pt"
    torch.manual_seed(config.seed)
    net, critic = RefinerNet(init.net.shape if init is not None else RefinerShape()), Critic()
    if init is not None:
        net.load_state_dict(init.net.state_dict())
    g_opt = torch.optim.AdamW(net.parameters(), config.learning_rate, betas=(0.8, 0.99))
    d_opt = torch.optim.AdamW(critic.parameters(), config.critic_learning_rate, betas=(0.8, 0.99))
    rng = random.Random(config.seed)
    step, history = 0, []
    if last.is_file():
        saved = torch.load(last, map_location="cpu", weights_only=False)
        # more or fewer steps continue the run; a run saved before a field existed had its default
        if {**asdict(RefinerConfig()), **saved["config"], "steps": config.steps} != asdict(config):
            raise RefinerError(f"{last} was trained with {saved['config']}; use a new run directory for "
                               f"{asdict(config)}")
        net.load_state_dict(saved["net"])
        critic.load_state_dict(saved["critic"])
        g_opt.load_state_dict(saved["net_optimizer"])
        d_opt.load_state_dict(saved["critic_optimizer"])
        rng.setstate(saved["rng"])
        torch.set_rng_state(saved["torch_rng"])
        step, history = saved["step"], saved["history"]
    probe = None
    if config.emotion_weight > 0:
        probe, accuracy = train_probe(pairs, config.probe_steps, config.seed)
        (run_dir / "probe.json").write_text(json.dumps({"held_out_accuracy": round(accuracy, 4),
                                                        "steps": config.probe_steps}))

    def save() -> None:
        torch.save({"net": net.state_dict(), "critic": critic.state_dict(), "net_optimizer": g_opt.state_dict(),
                    "critic_optimizer": d_opt.state_dict(), "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                    "step": step, "history": history, "config": asdict(config)}, run_dir / "last.tmp")
        (run_dir / "last.tmp").replace(last)
        (run_dir / "history.json").write_text(json.dumps(history))

    net.train()
    critic.train()
    try:
        while step < config.steps and not (should_stop and should_stop()):
            started = time.perf_counter()
            g_rate, d_rate = config.rates(step)
            for group in g_opt.param_groups:
                group["lr"] = g_rate
            for group in d_opt.param_groups:
                group["lr"] = d_rate
            source, target, emotions = crop_batch(pairs, config.batch_size, rng)
            fake = net(source, emotions)
            real_score, _ = critic(target)
            fake_score, _ = critic(fake.detach())
            critic_loss = ((real_score - 1) ** 2).mean() + (fake_score ** 2).mean()
            if not math.isfinite(critic_loss.item()):  # before any step: the weights stay good
                raise RefinerError(f"step {step + 1}: the critic's loss is {critic_loss.item()}; lower the rates")
            d_opt.zero_grad(set_to_none=True)
            critic_loss.backward()
            d_opt.step()
            # the refiner is judged by the critic as it is now, after its step (as in HiFi-GAN's loop)
            fake_score, fake_features = critic(fake)
            _, real_features = critic(target)
            adversarial = ((fake_score - 1) ** 2).mean()
            matching = sum((a - b.detach()).abs().mean() for a, b in zip(fake_features, real_features, strict=True))
            l1 = (fake - target).abs().mean()
            loss = adversarial + config.feature_weight * matching + config.l1_weight * l1
            values = {"critic": critic_loss.item(), "adversarial": adversarial.item(), "matching": matching.item(),
                      "l1": l1.item(), "input_l1": (source - target).abs().mean().item()}
            if probe is not None:
                logits = probe(fake)
                emotion_loss = F.cross_entropy(logits, emotions)
                loss = loss + config.emotion_weight * emotion_loss
                with torch.no_grad():
                    teacher_loss = F.cross_entropy(probe(target), emotions).item()
                values |= {"emotion": emotion_loss.item(), "teacher_emotion": teacher_loss,
                           "named": (logits.argmax(1) == emotions).float().mean().item()}
            if not all(math.isfinite(v) for v in values.values()):
                raise RefinerError(f"step {step + 1}: a loss is not a number ({values}); lower the learning rates")
            g_opt.zero_grad(set_to_none=True)
            loss.backward()
            g_opt.step()
            step += 1
            history.append({"step": step, **values})
            if on_step is not None:
                on_step(step, values, time.perf_counter() - started)
            if step % config.checkpoint_every == 0:
                save()
    finally:  # Ctrl-C keeps every finished step
        save()
    net.eval()
    return net
