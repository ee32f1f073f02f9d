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

torch is imported inside the job only: the app starts without paying for it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import faults
from .activation import ActivationVerdict, Tolerance, activation_verdict, held_back
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
from .generation import checkpoint_for
from .identity import network_of
from .jobs import TRAIN, Cancelled, JobContext, JobRunner, JobStatus
from .library import Library
from .settings import Settings

if TYPE_CHECKING:
    from .tts.train import TrainConfig, TrainItem

log = logging.getLogger("insideout.retraining")

DEFAULT_FINE_TUNE_STEPS = 2000  # ~25 min of the small preset at batch 16 on a 2-core CPU


class RetrainError(ValueError):
    pass


class VersionRefused(RetrainError):
    """A version that cannot generate: `reason` is "unknown" or "not_evaluated" (with its `state`)."""

    def __init__(self, model_id: int, reason: str, state: str | None = None):
        super().__init__(f"model {model_id} is not an evaluated version" + (f" ({state})" if state else ""))
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
            f"visitors or signed-in labelers cast most of the votes.")
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
    mel_l1: float | None = None
    gate_bce: float | None = None
    diagonality: float | None = None
    stopped_share: float | None = None
    median_length_ratio: float | None = None
    wer: float | None = None
    teacher_wer: float | None = None
    emotion_accuracy: float | None = None
    teacher_emotion_accuracy: float | None = None
    emotion_accuracy_by_emotion: dict[str, float] = field(default_factory=dict)
    classifier_cv_accuracy: float | None = None
    dnsmos: float | None = None  # mean DNSMOS overall (1-5) of the version's held-out clips
    teacher_dnsmos: float | None = None  # of the teacher's renderings of the same sentences
    starter_dnsmos: float | None = None  # of the starter library's clips
    examples: tuple[dict, ...] = ()  # per held-out clip: text, emotion, what recognition heard and the classifier named
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


# (model file, the learning clips it was given, a mel cache folder) -> metrics to store with the version
Evaluator = Callable[[Path, list["TrainItem"], Path], dict]
MIN_STARTER_CLIPS = 16  # fewer starter clips in the library: the classifier learns from the rendered plan
PARENT_METRICS_DIR = "parent-metrics"  # under models/: the parents measured for comparison, one file each


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
                              vocoder=self.settings.vocoder, starter=self.starter_clips)

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
            if self.training_job() is not None:
                raise RetrainError(f"training job {self.training_job()} is already queued or running")
            return self._start(config, reason="admin")

    def _start(self, config: TrainConfig | None, reason: str) -> RetrainPlan:
        # May run on a request's path (a vote that fills the pool): no torch here, only rows and a queue.
        clip_ids = [row["id"] for row in self.db.clips("learning", include_retired=False) if row.get("text")]
        if not clip_ids:
            raise RetrainError("the learning pool has no clip with a text to learn from")
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
        from .tts.train import TrainProgress, items_from_clips, items_from_pool, train

        try:
            rows = [r for r in (self.db.get_clip(i) for i in clip_ids) if r and r["pool"] == "learning"]
            learning = items_from_clips(self.library, rows)
            replay = items_from_pool(self.library, "play") if self.replay_play_pool else []
            ctx.progress(0, config.steps, "computing mel targets", force=True)
            plotted = [0]

            def progress(p: TrainProgress) -> None:
                ctx.progress(p.step, p.steps, f"step {p.step} / {p.steps}, loss {p.loss:.3f}, "
                                              f"ETA {p.eta_s / 60:.1f} min")
                if len(p.losses) != plotted[0]:  # a new point of the loss curve: the admin's plot reads it
                    plotted[0] = len(p.losses)
                    self.db.update_model(model_id, metrics=ModelMetrics.from_dict({"losses": p.losses}).as_dict())

            result = train(
                learning + replay, config, self.runs_dir / f"model-{model_id}", self.mel_cache_dir,
                progress=progress, check_cancel=ctx.check_cancel,
                description={"learning_clips": len(learning), "replay_clips": len(replay)},
            )
            self.models_dir.mkdir(parents=True, exist_ok=True)
            path = self.models_dir / f"tacotron2-{result.version}.pt"
            shutil.copyfile(result.model_path, path)
            faults.point("retrain.saved")
            self.db.update_model(model_id, state=MODEL_TRAINED, version=result.version, path=str(path),
                                 parent_version=result.provenance.get("parent_version"))
            ctx.check_cancel()
            ctx.progress(result.steps, config.steps, "evaluating on held-out sentences", force=True)
            metrics = ModelMetrics.from_dict(
                {"final_loss": result.losses[-1][1] if result.losses else None, "steps": result.steps,
                 "seconds": result.provenance["seconds"], "losses": result.losses,
                 **self.evaluator(path, learning, self.mel_cache_dir)}, strict=True)
            self.db.update_model(model_id, state=MODEL_EVALUATED, metrics=metrics.as_dict(), finished_at=time.time())
        except Cancelled:
            self.db.update_model(model_id, state=MODEL_CANCELLED, finished_at=time.time())
            raise
        except BaseException as e:
            self.db.update_model(model_id, state=MODEL_FAILED, finished_at=time.time(),
                                 metrics=ModelMetrics(error=f"{type(e).__name__}: {e}").as_dict())
            raise
        # Evaluated from here on: whatever the guard finds, the version stays, and only its activation waits.
        verdict = self.guard(model_id, metrics, result.provenance, learning,
                             lambda message: ctx.progress(result.steps, config.steps, message, force=True))
        consumed = self.consume(model_id)
        final = f", final loss {metrics.final_loss:.3f}" if metrics.final_loss is not None else ""
        outcome = "activated automatically" if verdict.activate else "held back for the admin"
        ctx.progress(result.steps, config.steps, f"trained {result.steps} steps{final}, evaluated, {outcome}",
                     force=True)
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
                                             exclude=model_id, say=say)
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
                       say: Callable[[str], None] = lambda message: None) -> ModelMetrics:
        """The parent's held-out metrics on a set of held_out_clips: from an evaluated row of that version
        (not the exclude one) measured on as many clips, else from the cache, else by evaluating its
        checkpoint with self.evaluator once and caching the result (the shipped model has no row).
        RetrainError when the checkpoint is needed but gone."""
        for row in self.db.models():
            if row["id"] != exclude and row["version"] == version and row["state"] == MODEL_EVALUATED:
                measured = ModelMetrics.from_dict(row["metrics"])
                if measured.held_out_clips == held_out_clips:
                    return measured
        cached = self.parent_cache(version, held_out_clips)
        if cached.is_file():
            return ModelMetrics.from_dict(json.loads(cached.read_text())["metrics"])
        if not checkpoint or not Path(checkpoint).is_file():
            raise RetrainError(f"the parent version's file {checkpoint or '(none)'} is gone")
        say("evaluating the parent version for comparison")
        measured = ModelMetrics.from_dict(self.evaluator(Path(checkpoint), items, self.mel_cache_dir), strict=True)
        # Keyed by what it measured: an evaluator that gave another set size answers that size's question.
        cached = self.parent_cache(version, measured.held_out_clips)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": version, "checkpoint": str(checkpoint), "measured_at": time.time(),
                                   "metrics": measured.as_dict()}, sort_keys=True))
        tmp.replace(cached)  # atomic: a crash leaves no half file to read as the parent's numbers
        return measured

    def parent_cache(self, version: str, held_out_clips: int | None) -> Path:
        """Where a parent's metrics on held_out_clips held-out clips are kept."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", version)
        return self.models_dir / PARENT_METRICS_DIR / f"{name}-{held_out_clips}.json"

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

    def status(self) -> TrainingStatus:
        """What the admin's training panel shows."""
        versions = tuple(self.versions())
        job = self.jobs.status(TRAIN)
        shown = None
        if job is not None:
            shown = next((v for v in versions if v.id == job.params.get("model_id")), None)
        active = next((v for v in versions if v.active), None)
        return TrainingStatus(self.db.count_pickable("learning"), self.settings.retrain_threshold, job, versions,
                              shown or (versions[0] if versions else None), active,
                              active is not None and self.active_checkpoint() is None)
