"""Retraining: fine-tune the acoustic model on crowd-verified clips, keep every version, consume the clips.

The engine side only (no Gradio, no HTTP). A training runs as a background job, started by the admin or
by the learning pool reaching its threshold. Every run gets a row in the models table: its parent
version, the learning clips it was given (fixed when it starts), its metrics and its state:

    training -> trained -> evaluated (-> consumed)      or      training -> failed | cancelled

Only an evaluated run consumes its learning clips (to play with their consensus label, or deleted, per
INSIDEOUT_CONSUME_LEARNING); a failed or cancelled one leaves them where they are for the next run.
Each move is conditional on the clip still being in learning, so a clip moves exactly once however
often consumption runs (a restart finishes an interrupted one).

Which evaluated version generates: a fine-tune becomes active by itself when its held-out metrics are no
worse than its parent's (the version it started from) beyond the tolerance of activation.py, and the
parent still generates; otherwise it is held back, the verdict's reasons kept in its metrics
(ModelMetrics.activation), and the admin decides. The parent's numbers come from its row, or from
evaluating its file with the same evaluator once (the shipped model has no row), cached under models/.
The admin chooses any evaluated version by hand, held back or not (set_active).

A run does not start on a batch whose counted votes are dominated by suspect voters (judge_batch: single-use
client identities casting more than INSIDEOUT_SUSPECT_VOTE_SHARE of them, half by default): the batch's labels
would then be whatever a Sybil chose. The refusal (BatchRefused) says so; the clips stay in learning.

A run reports its progress per step, structured for the admin's page in any language (RunProgress: mel
targets, steps with the loss and a time left measured from recent steps, evaluation parts), and keeps its
loss curve per step in its row as the steps arrive. A cancel stops it within a step, a mel target or a batch
of evaluation clips. The model that generates while no version does (the shipped one) has no row: status()
describes it apart (DefaultModel).

torch is imported inside the job only: the app starts without paying for it.
"""

from __future__ import annotations

import collections
import json
import logging
import pickle
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import faults
from .activation import (
    DEFAULT_RENDERING,
    ActivationVerdict,
    Rendering,
    Tolerance,
    activation_verdict,
    held_back,
    rendering_of,
)
from .db import (
    JOB_CANCELLED,
    JOB_DONE,
    JOB_FAILED,
    MODEL_CANCELLED,
    MODEL_EVALUATED,
    MODEL_FAILED,
    MODEL_TRAINED,
    MODEL_TRAINING,
    Metadata,
)
from .generation import SHIPPED_CHECKPOINT, checkpoint_for
from .identity import network_of
from .jobs import TRAIN, Cancelled, JobContext, JobRefused, JobRunner, JobStatus
from .library import Library
from .settings import Settings

if TYPE_CHECKING:
    from .tts.train import TrainConfig, TrainItem, TrainProgress

log = logging.getLogger("insideout.retraining")

DEFAULT_FINE_TUNE_STEPS = 2000  # ~25 min of the small preset at batch 16 on a 2-core CPU


class RetrainError(JobRefused):
    """A refusal, said in English; `code` (with `values`) names it for a view that words it in its language:
    "empty_pool", "busy" (job), "suspect_batch" (BatchRefused), "version_unknown", "version_not_evaluated"."""


class VersionRefused(RetrainError):
    """A version that cannot generate: `reason` is "unknown" or "not_evaluated" (with its `state`)."""

    def __init__(self, model_id: int, reason: str, state: str | None = None):
        super().__init__(f"model {model_id} is not an evaluated version" + (f" ({state})" if state else ""),
                         f"version_{reason}", model=model_id, state=state)
        self.model_id, self.reason, self.state = model_id, reason, state


# -- who wrote the batch's labels -----------------------------------------------------------------------------

SUSPECT_SHARE_LIMIT = 0.5  # suspect voters may cast at most half of a batch's counted votes (the setting's default)
SINGLE_USE_CHALLENGES = 1  # a client address that voted in at most this many challenges ever is single-use


@dataclass(frozen=True)
class BatchVerdict:
    """Who cast a learning batch's counted votes: all of them, and those of suspect voters."""

    votes: int
    voters: int
    suspect_votes: int
    suspect_voters: int
    limit: float

    @property
    def suspect_share(self) -> float:
        return self.suspect_votes / self.votes if self.votes else 0.0

    @property
    def refused(self) -> bool:
        return self.suspect_share > self.limit


def is_suspect(voter: str, challenges: int) -> bool:
    """A suspect voter is a single-use identity: a client address that voted in one challenge only, ever.

    Why this: a vote counts once per voter and clip, so a Sybil's only way to many counted votes is many
    identities, and the cheapest identity is an address used once and dropped (the bot lab's Sybils are all
    single-use). A person keeps an address for a while and comes back (another login, another site with the
    captcha), and so grows a history. A signed-in name (the labeling view) is an account, never suspect.

    What it misses: a Sybil that plays each address in two challenges passes as returning (it then needs half
    as many addresses; the per-network cap bounds what each network gives a clip). What it costs: a first-time
    visitor is suspect until it votes in a second challenge; the rule is judged when a run would start, with
    the history as it is then, so a returning visitor clears its earlier votes."""
    return network_of(voter) is not None and challenges <= SINGLE_USE_CHALLENGES


def judge_batch(votes: Iterable[Mapping], challenges_by_voter: Mapping[str, int],
                limit: float = SUSPECT_SHARE_LIMIT) -> BatchVerdict:
    """The batch's counted votes (each with its "voter") against the challenges each voter ever voted in.
    Refused when suspect voters (is_suspect) cast more than limit of them: the crowd's labels are then
    mostly theirs. A batch without counted votes (clips put in learning by hand) is not refused."""
    voters = [v["voter"] for v in votes]
    suspects = {voter for voter in set(voters) if is_suspect(voter, challenges_by_voter.get(voter, 0))}
    return BatchVerdict(votes=len(voters), voters=len(set(voters)),
                        suspect_votes=sum(voter in suspects for voter in voters), suspect_voters=len(suspects),
                        limit=limit)


class BatchRefused(RetrainError):
    """The learning batch's counted votes are dominated by suspect voters (judge_batch): no run starts."""

    def __init__(self, verdict: BatchVerdict):
        super().__init__(
            f"the learning clips' labels come mostly from single-use client addresses: "
            f"{verdict.suspect_votes} of their {verdict.votes} counted votes ({verdict.suspect_share:.0%}, "
            f"more than {verdict.limit:.0%}) were cast by {verdict.suspect_voters} addresses that voted in one "
            f"challenge only, as a Sybil bot's do. The clips stay in learning; a run starts when returning "
            f"visitors or signed-in labelers cast most of the votes.",
            "suspect_batch", suspect_votes=verdict.suspect_votes, votes=verdict.votes,
            share=verdict.suspect_share, limit=verdict.limit, suspect_voters=verdict.suspect_voters)
        self.verdict = verdict


@dataclass(frozen=True)
class ModelMetrics:
    """What a version's run and its held-out evaluation (tts.evaluation.evaluate_model) measured; kept as
    JSON in the version's row. None where a run has no value (yet)."""

    losses: tuple[tuple[int, float], ...] = ()  # (step, loss) points of the training curve
    final_loss: float | None = None
    steps: int | None = None
    seconds: float | None = None
    error: str | None = None  # a failed run's
    held_out_clips: int | None = None
    emotion_strength: float | None = None  # what the version spoke the held-out set at (None: before it, 1)
    takes: int | None = None  # takes per sentence (evaluate_model's experiment; 1 as generation speaks)
    register_hz: float | None = None  # the register the takes were chosen by (None with one take)
    prosody_guide: str | None = None  # the prosody guide its clips were spoken with (tts/guide.py; None: off)
    mel_postfilter: float | None = None  # the mel postfilter's beta they were spoken with (tts/postfilter.py; None: 0)
    mel_refiner: str | None = None  # the mel refiner's version their mels went through (tts/refiner.py; None: none)
    mel_l1: float | None = None
    gate_bce: float | None = None
    diagonality: float | None = None
    stopped_share: float | None = None
    median_length_ratio: float | None = None
    wer: float | None = None
    teacher_wer: float | None = None
    wer_by_voice: dict[str, float] = field(default_factory=dict)  # per teacher voice of the held-out clips
    teacher_wer_by_voice: dict[str, float] = field(default_factory=dict)
    mel_ripple_db: float | None = None  # harmonic detail below 1 kHz of its mels (tts.prosody.mel_ripple_db)
    teacher_mel_ripple_db: float | None = None  # of the teacher clips' mels
    emotion_accuracy: float | None = None
    teacher_emotion_accuracy: float | None = None
    emotion_accuracy_by_emotion: dict[str, float] = field(default_factory=dict)
    classifier_cv_accuracy: float | None = None
    dnsmos: float | None = None  # mean DNSMOS overall (1-5) of the version's held-out clips
    teacher_dnsmos: float | None = None  # of the teacher's renderings of the same sentences
    starter_dnsmos: float | None = None  # of the starter library's clips
    examples: tuple[dict, ...] = ()  # per held-out clip: text, emotion, what recognition heard and the classifier named
    prosody: dict = field(default_factory=dict)  # tts.prosody.compare: generated beside teacher; empty before it
    # the safe-retraining verdict (activation.ActivationVerdict.as_dict, with the parent's numbers): set by
    # Retraining after the evaluation, never by an evaluator; empty for versions before it
    activation: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict | None, strict: bool = False) -> ModelMetrics:
        """From a stored row (unknown keys of other versions ignored) or, strict, from an evaluation, whose
        every key must be a field here."""
        data = dict(data or {})
        if "attention_diagonality" in data and "diagonality" not in data:  # older rows' name
            data["diagonality"] = data.pop("attention_diagonality")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if strict and unknown:
            raise ValueError(f"metrics with no field: {', '.join(sorted(unknown))}")
        data = {k: v for k, v in data.items() if k in known}
        data["losses"] = tuple((int(step), float(loss)) for step, loss in data.get("losses") or ())
        data["examples"] = tuple(data.get("examples") or ())
        data["emotion_accuracy_by_emotion"] = dict(data.get("emotion_accuracy_by_emotion") or {})
        data["activation"] = dict(data.get("activation") or {})
        data["prosody"] = dict(data.get("prosody") or {})
        data["wer_by_voice"] = dict(data.get("wer_by_voice") or {})
        data["teacher_wer_by_voice"] = dict(data.get("teacher_wer_by_voice") or {})
        return cls(**data)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["losses"] = [list(point) for point in self.losses]
        out["examples"] = list(self.examples)
        return out


@dataclass(frozen=True)
class ModelVersion:
    """One row of the models table, as views show it."""

    id: int
    version: str | None
    parent_version: str | None
    path: str | None
    state: str
    job_id: int | None
    clips: int  # learning clips it was given (a count: views never list clip ids)
    metrics: ModelMetrics
    active: bool
    created_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row: dict) -> ModelVersion:
        return cls(row["id"], row["version"], row["parent_version"], row["path"], row["state"], row["job_id"],
                   len(row["trained_on"] or []), ModelMetrics.from_dict(row["metrics"]), bool(row["active"]),
                   row["created_at"], row["finished_at"])

    @property
    def evaluated(self) -> bool:
        return self.state == MODEL_EVALUATED

    @property
    def activated_automatically(self) -> bool:
        """Made active by the safe-retraining rule when it was evaluated (it may have been changed since)."""
        return bool(self.metrics.activation.get("activated"))

    @property
    def held_back(self) -> bool:
        """Evaluated but kept from generating by the rule: the admin decides (held_back_reasons say why)."""
        return bool(self.metrics.activation) and not self.activated_automatically

    @property
    def held_back_reasons(self) -> tuple[str, ...]:
        return tuple(self.metrics.activation.get("reasons") or ()) if self.held_back else ()

    @property
    def activation_note(self) -> str:
        """For the admin's table: "activated automatically", "held back: <reasons>", or "" (no verdict)."""
        if self.activated_automatically:
            return "activated automatically"
        if self.held_back:
            return "held back: " + "; ".join(self.held_back_reasons)
        return ""


@dataclass(frozen=True)
class TrainingStatus:
    """The training panel: the learning pool against its threshold, the latest training job, every version
    (newest first), the one whose loss curve to show (the latest job's, else the newest), and the version
    that generates (None: the configured default; file_missing: it is chosen but its file is gone)."""

    learning_clips: int
    threshold: int
    job: JobStatus | None
    versions: tuple[ModelVersion, ...]
    shown: ModelVersion | None
    active: ModelVersion | None
    active_file_missing: bool
    default: DefaultModel | None = None


@dataclass(frozen=True)
class DefaultModel:
    """The model that generates while no trained version does: the shipped one, or INSIDEOUT_TTS_CHECKPOINT's.
    It has no row in the models table; its version is read from its file, its held-out metrics from what the
    activation guard measured of it as a parent, else from the `insideout eval` report beside its file
    (EVAL_REPORT_SUFFIX, the model card's numbers, for the same version), else None."""

    path: str
    shipped: bool  # the file that comes with InsideOut, not a configured one
    version: str | None  # None: not readable without loading it (missing, a URL, a foreign format)
    metrics: ModelMetrics | None
    active: bool  # it generates now: no trained version is chosen, or the chosen one's file is gone
    measured_by: str = ""  # "guard" or "eval" (the report beside the file); "" without metrics


class _Skeleton(pickle.Unpickler):
    """A checkpoint's pickle without its tensors: every class but OrderedDict becomes a stub, so nothing is
    imported (not torch) and nothing the file names can run."""

    class Stub:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __setstate__(self, state: object) -> None:
            pass

    def find_class(self, module: str, name: str) -> type:
        return collections.OrderedDict if (module, name) == ("collections", "OrderedDict") else self.Stub

    def persistent_load(self, pid: object) -> None:
        return None


EVAL_REPORT_SUFFIX = ".eval.json"  # models/tacotron2-emotion.pt's report: models/tacotron2-emotion.eval.json


def eval_report(path: str | Path, version: str) -> ModelMetrics | None:
    """The held-out metrics in the `insideout eval --out` report beside a checkpoint, when it is that version's
    (a report left beside a changed file is not shown as its numbers)."""
    report = Path(path).with_suffix(EVAL_REPORT_SUFFIX)
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != version:
        return None
    return ModelMetrics.from_dict(data)


def checkpoint_version(path: str | Path) -> str | None:
    """The version an InsideOut checkpoint records (tacotron2.save), read without torch: the admin's panel
    shows it every second and the app does not load torch for views. None when the file cannot say."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
            if name is None:
                return None
            with archive.open(name) as pickled:
                data = _Skeleton(pickled).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


# (model file, the learning clips it was given, a mel cache folder) -> metrics to store with the version
Evaluator = Callable[[Path, list["TrainItem"], Path], dict]
MIN_STARTER_CLIPS = 16  # fewer starter clips in the library: the classifier learns from the rendered plan
PARENT_METRICS_DIR = "parent-metrics"  # under models/: the parents measured for comparison, one file each


# -- a run's progress, for the job's row --------------------------------------------------------------------

MAX_LOSS_POINTS = 1000  # a stored curve's points at most: the row stays small (a DynamoDB item is 400 KB at most)


def loss_curve(points: Sequence[tuple[int, float]], limit: int = MAX_LOSS_POINTS) -> list[tuple[int, float]]:
    """Per-step (step, loss) points as a chart and a row can hold: all of them up to limit, else the mean
    of consecutive groups, each at its group's last step."""
    if len(points) <= limit:
        return [(int(step), float(loss)) for step, loss in points]
    size = -(-len(points) // limit)
    groups = [points[i:i + size] for i in range(0, len(points), size)]
    return [(int(group[-1][0]), sum(loss for _, loss in group) / len(group)) for group in groups]


# What tts.evaluation.evaluate_model says of its parts -> the part's code, for a view in any language.
EVALUATION_PARTS = {"rendering the teacher's held-out clips": "teacher", "teacher-forced metrics": "forced",
                    "recognizing speech": "asr", "estimating quality (DNSMOS)": "dnsmos",
                    "judging emotions": "emotions", "evaluating the parent version for comparison": None}
_SPEAKING = re.compile(r"speaking held-out sentences (\d+)-(\d+) of (\d+)")


def evaluation_part(message: str) -> dict:
    """An evaluation's progress message as values: {"part": code} (None: a part not known here; a view then
    says "evaluating"), with first, last and of for the held-out sentences being spoken."""
    speaking = _SPEAKING.fullmatch(message)
    if speaking:
        first, last, of = map(int, speaking.groups())
        return {"part": "speaking", "first": first, "last": last, "of": of}
    return {"part": EVALUATION_PARTS.get(message)}


def _quiet(message: str) -> None:
    pass


class RunProgress:
    """A training job's progress, each report in English (the job's message) and structured (its detail):

    train_prepare (prepared, clips) -> train_start (clips, steps) -> train_step (step, steps, loss, eta_s: None
    until two steps are timed) -> train_evaluate (target "version" or "parent", evaluation_part's values)
    -> train_finished (step, final_loss, activated).

    It keeps the run's loss at every step, and hands the curve (loss_curve) to save_curve whenever the job's
    row is written, so the admin's chart grows as steps arrive."""

    def __init__(self, ctx: JobContext, steps: int, save_curve: Callable[[list[tuple[int, float]]], None]):
        self.ctx, self.steps, self.save_curve = ctx, steps, save_curve
        self.points: list[tuple[int, float]] = []
        self.target = "version"
        self.step_reached = 0

    def curve(self) -> list[tuple[int, float]]:
        return loss_curve(self.points)

    def preparing(self, done: int, clips: int) -> None:
        if clips and done == clips:  # the first step runs next, and is the slowest: say so, not "computing"
            self.ctx.progress(0, self.steps, f"mel targets ready: {clips} clips; the first step is running",
                              stage="train_start", force=True, clips=clips, steps=self.steps)
            return
        self.ctx.progress(0, self.steps, f"computing mel targets: {done} / {clips} clips", stage="train_prepare",
                          force=done == 0, prepared=done, clips=clips)

    def step(self, p: TrainProgress) -> None:
        self.points.append((p.step, p.loss))
        self.step_reached = p.step
        eta = round(p.eta_s, 1) if p.timed >= 2 else None  # one step is warm-up, not a measure of the rest
        said = f"ETA {eta / 60:.1f} min" if eta is not None else "ETA after the next step"
        if self.ctx.progress(p.step, p.steps, f"step {p.step} / {p.steps}, loss {p.loss:.3f}, {said}",
                             stage="train_step", step=p.step, steps=p.steps, loss=round(p.loss, 4), eta_s=eta):
            self.save_curve(self.curve())

    def evaluating_version(self, step: int) -> None:
        self.step_reached = step
        self.target = "version"
        self.evaluating("evaluating on held-out sentences")

    def evaluating_parent(self, message: str) -> None:
        self.target = "parent"
        self.evaluating(message)

    def evaluating(self, message: str) -> None:
        """A part of the held-out evaluation begins: the job stops here on cancel (between clips' batches)."""
        self.ctx.check_cancel()
        who = "the parent version" if self.target == "parent" else "the new version"
        said = message if message.startswith("evaluating") else f"evaluating {who}: {message}"
        self.ctx.progress(self.step_reached, self.steps, said, stage="train_evaluate", force=True,
                          target=self.target, **evaluation_part(message))

    def finished(self, step: int, final_loss: float | None, activated: bool) -> None:
        final = f", final loss {final_loss:.3f}" if final_loss is not None else ""
        outcome = "activated automatically" if activated else "held back for the admin"
        self.ctx.progress(step, self.steps, f"trained {step} steps{final}, evaluated, {outcome}",
                          stage="train_finished", force=True, step=step, final_loss=final_loss, activated=activated)


@dataclass(frozen=True)
class RetrainPlan:
    model_id: int
    job_id: int
    clip_ids: list[int]


class Retraining:
    def __init__(self, settings: Settings, db: Metadata, library: Library, jobs: JobRunner,
                 evaluator: Evaluator | None = None, base_config: TrainConfig | None = None):
        self.settings = settings
        self.db = db
        self.library = library
        self.jobs = jobs
        self.evaluator = evaluator or self.held_out_evaluation
        self.eval_per_emotion: int | None = None  # None: the model card's (tts.evaluation.PER_EMOTION)
        self.classifier = None  # the emotion classifier, fitted on first use
        self.starter_clips: list[tuple] = []  # (wave, sample rate) of what it was fitted on: starter DNSMOS
        self.base_config = base_config  # None: fine-tune the current model for DEFAULT_FINE_TUNE_STEPS
        self.replay_play_pool = True  # also train on play clips with text, so the model keeps what it knew
        self.suspect_share_limit = settings.suspect_vote_share
        self.tolerance = Tolerance()  # how much worse than its parent a fine-tune may be and still activate
        self._start_lock = threading.Lock()
        # The running job's (RunProgress.evaluating) while it evaluates: the Evaluator's signature has no room
        # for it, and jobs run one at a time. held_out_evaluation reports its parts there, stopping on cancel.
        self._evaluating: Callable[[str], None] = _quiet

    # -- where things live ------------------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self.settings.data_dir / "models"

    @property
    def runs_dir(self) -> Path:
        return self.settings.data_dir / "training"

    @property
    def mel_cache_dir(self) -> Path:
        return self.settings.data_dir / "mel_cache"

    def active_checkpoint(self) -> str | None:
        """The path of the admin's chosen version, if one is chosen and its file is there."""
        row = self.db.active_model()
        if row and row["path"] and Path(row["path"]).is_file():
            return row["path"]
        return None

    def base_checkpoint(self) -> str:
        """What a fine-tune starts from: the model that generates now (generation.checkpoint_for)."""
        return checkpoint_for(None, self.active_checkpoint(), self.settings.tts_checkpoint)

    @property
    def classifier_cache(self) -> Path:
        return self.settings.data_dir / "botlab" / "emotion-classifier.pkl"

    # -- evaluating ---------------------------------------------------------------------------------

    def emotion_classifier(self):
        """The bot lab's classifier, trained on the library's starter clips and their copies through the
        vocoder (refitted when they change)."""
        from .botlab import classifier as emotion_classifier

        if self.classifier is None:
            examples = emotion_classifier.starter_examples(self.library)
            if len(examples) < MIN_STARTER_CLIPS:
                examples = emotion_classifier.rendered_starter_examples()
            self.classifier = emotion_classifier.cached_fit(examples, self.classifier_cache, self.settings.vocoder)
            self.starter_clips = [(e.wave, e.sample_rate) for e in examples]
        return self.classifier

    def held_out_evaluation(self, model_path: Path, items: list[TrainItem], cache_dir: Path) -> dict:
        """`insideout eval`'s metrics (insideout/tts/evaluation.py) on PER_EMOTION held-out
        sentences per emotion: every version stores the numbers the shipped model's card reports."""
        from .tts.evaluation import PER_EMOTION, evaluate_model

        classifier = self.emotion_classifier()
        return evaluate_model(model_path, classifier, self.eval_per_emotion or PER_EMOTION,
                              vocoder=self.settings.vocoder, starter=self.starter_clips, progress=self._evaluating,
                              strength=self.settings.emotion_strength, guide=self.settings.prosody_guide,
                              refiner=self.settings.mel_refiner)

    # -- starting -----------------------------------------------------------------------------------

    def training_job(self) -> int | None:
        jobs = self.db.active_jobs(TRAIN)
        return jobs[0] if jobs else None

    def maybe_start(self) -> int | None:
        """Start a fine-tune if the learning pool reached the threshold and none is queued or running."""
        with self._start_lock:
            if self.db.count_pickable("learning") < self.settings.retrain_threshold:
                return None
            if self.training_job() is not None:
                return None
            try:
                return self._start(None, reason="threshold").job_id
            except BatchRefused as e:
                log.warning("fine-tune not started: %s", e)  # the admin's Start shows the same refusal
                return None

    def start(self, config: TrainConfig | None = None) -> RetrainPlan:
        """Start a fine-tune on the learning pool now (the admin's request)."""
        with self._start_lock:
            running = self.training_job()
            if running is not None:
                raise RetrainError(f"training job {running} is already queued or running", "busy", job=running)
            return self._start(config, reason="admin")

    def _start(self, config: TrainConfig | None, reason: str) -> RetrainPlan:
        # May run on a request's path (a vote that fills the pool): no torch here, only rows and a queue.
        clip_ids = [row["id"] for row in self.db.clips("learning", include_retired=False) if row.get("text")]
        if not clip_ids:
            raise RetrainError("the learning pool has no clip with a text to learn from", "empty_pool")
        verdict = self.judge_batch(clip_ids)
        if verdict.refused:
            raise BatchRefused(verdict)
        config = config or self.base_config
        model_id = self.db.create_model(None, clip_ids, None, time.time())

        def work(ctx: JobContext) -> dict:
            return self._run(ctx, model_id, clip_ids, self._resolve(config))

        params = {"model_id": model_id, "clips": len(clip_ids), "reason": reason,
                  "config": asdict(config) if config else "default"}
        job_id = self.jobs.submit(TRAIN, params, work)
        self.db.update_model(model_id, job_id=job_id)
        log.info("training job %s started (%s): model %s on %d learning clips", job_id, reason, model_id,
                 len(clip_ids))
        return RetrainPlan(model_id, job_id, clip_ids)

    def judge_batch(self, clip_ids: list[int]) -> BatchVerdict:
        """Who cast the counted votes on these learning clips (judge_batch's rule)."""
        votes = self.db.counted_votes_on(clip_ids)
        history = self.db.challenges_voted_in({v["voter"] for v in votes})
        return judge_batch(votes, history, self.suspect_share_limit)

    def _resolve(self, config: TrainConfig | None) -> TrainConfig:
        """The run's config: a given one as it is; by default, a fine-tune of the current model
        (from scratch while there is none)."""
        from .tts.train import TrainConfig

        if config is not None:
            return config
        return TrainConfig(steps=DEFAULT_FINE_TUNE_STEPS, init_from=self.base_checkpoint())

    # -- the job -------------------------------------------------------------------------------------

    def _run(self, ctx: JobContext, model_id: int, clip_ids: list[int], config: TrainConfig) -> dict:
        run = RunProgress(ctx, config.steps, lambda losses: self.db.update_model(
            model_id, metrics=ModelMetrics(losses=tuple(losses)).as_dict()))
        self._evaluating = run.evaluating  # held_out_evaluation reports its parts, and stops on cancel, there
        try:
            return self._train(ctx, run, model_id, clip_ids, config)
        finally:
            self._evaluating = _quiet

    def _train(self, ctx: JobContext, run: RunProgress, model_id: int, clip_ids: list[int],
               config: TrainConfig) -> dict:
        from .tts.train import items_from_clips, items_from_pool, train

        try:
            rows = [r for r in (self.db.get_clip(i) for i in clip_ids) if r and r["pool"] == "learning"]
            learning = items_from_clips(self.library, rows)
            replay = items_from_pool(self.library, "play") if self.replay_play_pool else []
            run.preparing(0, len(learning) + len(replay))
            result = train(
                learning + replay, config, self.runs_dir / f"model-{model_id}", self.mel_cache_dir,
                progress=run.step, check_cancel=ctx.check_cancel, preparing=run.preparing,
                description={"learning_clips": len(learning), "replay_clips": len(replay)},
            )
            self.models_dir.mkdir(parents=True, exist_ok=True)
            path = self.models_dir / f"tacotron2-{result.version}.pt"
            shutil.copyfile(result.model_path, path)
            faults.point("retrain.saved")
            self.db.update_model(model_id, state=MODEL_TRAINED, version=result.version, path=str(path),
                                 parent_version=result.provenance.get("parent_version"))
            ctx.check_cancel()
            run.evaluating_version(result.steps)
            metrics = ModelMetrics.from_dict(
                {"final_loss": result.losses[-1][1] if result.losses else None, "steps": result.steps,
                 "seconds": result.provenance["seconds"], "losses": run.curve() or result.losses,
                 **self.evaluator(path, learning, self.mel_cache_dir)}, strict=True)
            self.db.update_model(model_id, state=MODEL_EVALUATED, metrics=metrics.as_dict(), finished_at=time.time())
        except Cancelled:
            self.db.update_model(model_id, state=MODEL_CANCELLED, finished_at=time.time(),
                                 metrics=ModelMetrics(losses=tuple(run.curve())).as_dict())
            raise
        except BaseException as e:
            self.db.update_model(model_id, state=MODEL_FAILED, finished_at=time.time(),
                                 metrics=ModelMetrics(losses=tuple(run.curve()),
                                                      error=f"{type(e).__name__}: {e}").as_dict())
            raise
        # Evaluated from here on: whatever the guard finds, the version stays, and only its activation waits.
        verdict = self.guard(model_id, metrics, result.provenance, learning, run.evaluating_parent)
        consumed = self.consume(model_id)
        run.finished(result.steps, metrics.final_loss, verdict.activate)
        return {"model_id": model_id, "version": result.version, "consumed": consumed,
                "final_loss": metrics.final_loss, "activated": verdict.activate}

    # -- activating safely ----------------------------------------------------------------------------

    def guard(self, model_id: int, metrics: ModelMetrics, provenance: Mapping, items: list[TrainItem],
              say: Callable[[str], None] = lambda message: None) -> ActivationVerdict:
        """Apply the safe-retraining rule (activation.activation_verdict) to an evaluated version: make it
        active when it passes, else leave the active version as it is. The verdict goes into the version's
        metrics either way, so the admin sees why. Never raises for the parent's sake: a parent that cannot
        be measured holds the version back."""
        parent_version = provenance.get("parent_version")
        started_from = provenance.get("init_from") or None
        if parent_version is None:
            verdict = held_back(None, "it was trained from scratch: there is no parent version to compare with",
                                self.tolerance)
            parent = None
        else:
            try:
                parent = self.parent_metrics(parent_version, started_from, metrics.held_out_clips, items,
                                             exclude=model_id, say=say, rendering=rendering_of(metrics))
            except Cancelled:  # the admin stopped the comparison: the version stays, held back
                verdict = held_back(parent_version, "the comparison with the parent version was cancelled",
                                    self.tolerance)
                parent = None
            except Exception as e:  # the parent's evaluation broke: the version stays, held back
                log.warning("model %s: the parent version %s could not be measured", model_id, parent_version,
                            exc_info=True)
                verdict = held_back(parent_version, f"the parent version could not be measured "
                                                    f"({type(e).__name__}: {e})", self.tolerance)
                parent = None
            else:
                verdict = activation_verdict(metrics, parent, self.tolerance, parent_version)
        if verdict.activate and not self._generates(started_from):
            # Compared with a version that no longer generates: what it would replace was never compared.
            verdict = verdict.refused(f"the version it started from ({parent_version}) no longer generates: "
                                      f"another was chosen while it trained")
        if verdict.activate and not self.db.set_active_model(model_id):
            verdict = verdict.refused("it could not be made active (it is no longer an evaluated version)")
        record = verdict.as_dict()
        if parent is not None:
            record["parent"] = {key: getattr(parent, key) for key in ("held_out_clips", *verdict.compared)}
        self.db.update_model(model_id, metrics=replace(metrics, activation=record).as_dict())
        if verdict.activate:
            log.info("model %s activated automatically: no worse than its parent %s (%s compared)", model_id,
                     parent_version, ", ".join(verdict.compared))
        else:
            log.warning("model %s held back, the active version stays: %s", model_id, "; ".join(verdict.reasons))
        return verdict

    def _generates(self, checkpoint: str | None) -> bool:
        """Whether this checkpoint is what generates now (what a fine-tune would start from)."""
        if not checkpoint:
            return False
        return Path(checkpoint).resolve() == Path(self.base_checkpoint()).resolve()

    def parent_metrics(self, version: str, checkpoint: str | None, held_out_clips: int | None,
                       items: list[TrainItem], exclude: int | None = None,
                       say: Callable[[str], None] = lambda message: None,
                       rendering: Rendering = DEFAULT_RENDERING) -> ModelMetrics:
        """The parent's held-out metrics on a set of held_out_clips spoken with `rendering`:
        from an evaluated row of that version (not the exclude one) measured so, else from the cache, else by
        evaluating its checkpoint with self.evaluator once and caching the result (the shipped model has no
        row). RetrainError when the checkpoint is needed but gone."""
        for row in self.db.models():
            if row["id"] != exclude and row["version"] == version and row["state"] == MODEL_EVALUATED:
                measured = ModelMetrics.from_dict(row["metrics"])
                if measured.held_out_clips == held_out_clips and not rendering_of(measured).difference(rendering):
                    return measured
        cached = self.parent_cache(version, held_out_clips, rendering)
        if cached.is_file():
            return ModelMetrics.from_dict(json.loads(cached.read_text())["metrics"])
        if not checkpoint or not Path(checkpoint).is_file():
            raise RetrainError(f"the parent version's file {checkpoint or '(none)'} is gone")
        say("evaluating the parent version for comparison")
        measured = ModelMetrics.from_dict(self.evaluator(Path(checkpoint), items, self.mel_cache_dir), strict=True)
        # Keyed by what it measured: an evaluator that gave another set size answers that size's question.
        cached = self.parent_cache(version, measured.held_out_clips, rendering_of(measured))
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": version, "checkpoint": str(checkpoint), "measured_at": time.time(),
                                   "metrics": measured.as_dict()}, sort_keys=True))
        tmp.replace(cached)  # atomic: a crash leaves no half file to read as the parent's numbers
        return measured

    def parent_cache(self, version: str, held_out_clips: int | None, rendering: Rendering = DEFAULT_RENDERING) -> Path:
        """Where a parent's metrics on held_out_clips held-out clips spoken with `rendering` (the guide's present
        revision) are kept; the default rendering's under the name they had before renderings."""
        from .tts.guide import REVISION

        name = re.sub(r"[^A-Za-z0-9._-]", "_", version)
        return self.models_dir / PARENT_METRICS_DIR / f"{name}-{held_out_clips}{rendering.suffix(REVISION)}.json"

    # -- consuming, choosing --------------------------------------------------------------------------

    def consume(self, model_id: int) -> int:
        """Move (or delete) an evaluated version's learning clips. Returns how many this call moved.

        Each move is conditional on the clip still being in learning, so a second call (or one that
        finishes a consumption a crash interrupted) moves nothing twice."""
        model = self.db.get_model(model_id)
        if model is None or model["state"] != MODEL_EVALUATED:
            raise RetrainError(f"model {model_id} is not an evaluated version: it consumes nothing")
        done = 0
        for clip_id in model["trained_on"]:
            row = self.db.get_clip(clip_id)
            if row is None or row["pool"] != "learning":
                continue  # moved or deleted meanwhile: nothing to do
            if self.settings.consume_learning == "delete":
                if self.db.delete_clip_in_pool(clip_id, "learning"):
                    self.library.store.delete("learning", row["audio_name"])
                    done += 1
            elif self.library.move(clip_id, "learning", "play", row["label"], "consensus"):
                done += 1
        self.db.mark_consumed(model_id, time.time())
        return done

    def sync_states(self) -> int:
        """Runs whose job ended without the run recording it (cancelled before it started, interrupted by
        a restart) get the job's outcome."""
        changed = 0
        for row in self.db.models():
            if row["state"] != MODEL_TRAINING or row["job_id"] is None:
                continue
            job = self.db.get_job(row["job_id"])
            if job and job["state"] in (JOB_FAILED, JOB_CANCELLED, JOB_DONE):
                state = MODEL_CANCELLED if job["state"] == JOB_CANCELLED else MODEL_FAILED
                self.db.update_model(row["id"], state=state, finished_at=job["finished_at"] or time.time())
                changed += 1
        return changed

    def versions(self) -> list[ModelVersion]:
        """Every version, newest first (runs whose job ended unrecorded settled first)."""
        self.sync_states()
        return [ModelVersion.from_row(row) for row in self.db.models()]

    def set_active(self, model_id: int | None) -> None:
        """The admin's choice of the version that generates (None: back to the configured default).
        VersionRefused for an unknown or unevaluated version."""
        if not self.db.set_active_model(model_id):
            row = self.db.get_model(model_id)
            raise VersionRefused(model_id, "unknown" if row is None else "not_evaluated",
                                 None if row is None else row["state"])

    def default_model(self, generates: bool = True) -> DefaultModel:
        """The model that generates while no trained version does (generation.checkpoint_for without a choice),
        with its version and the newest held-out metrics the guard cached for that version."""
        path = checkpoint_for(None, None, self.settings.tts_checkpoint)
        shipped = Path(path).resolve() == SHIPPED_CHECKPOINT.resolve()
        version = checkpoint_version(path) if Path(path).is_file() else None
        metrics = self._cached_metrics(version) if version else None
        if metrics is not None:
            return DefaultModel(path, shipped, version, metrics, generates, "guard")
        reported = eval_report(path, version) if version else None
        return DefaultModel(path, shipped, version, reported, generates, "eval" if reported else "")

    def _cached_metrics(self, version: str) -> ModelMetrics | None:
        newest: tuple[float, dict] | None = None
        for cached in (self.models_dir / PARENT_METRICS_DIR).glob("*.json"):
            try:
                entry = json.loads(cached.read_text())
            except (OSError, ValueError):
                continue  # a damaged cache file: the guard measures again when it needs to
            if entry.get("version") == version and (newest is None or entry.get("measured_at", 0) > newest[0]):
                newest = (entry.get("measured_at", 0), entry.get("metrics") or {})
        return ModelMetrics.from_dict(newest[1]) if newest else None

    def status(self) -> TrainingStatus:
        """What the admin's training panel shows."""
        versions = tuple(self.versions())
        job = self.jobs.status(TRAIN)
        shown = None
        if job is not None:
            shown = next((v for v in versions if v.id == job.params.get("model_id")), None)
        active = next((v for v in versions if v.active), None)
        missing = active is not None and self.active_checkpoint() is None
        return TrainingStatus(self.db.count_pickable("learning"), self.settings.retrain_threshold, job, versions,
                              shown or (versions[0] if versions else None), active, missing,
                              self.default_model(generates=active is None or missing))
