"""The composition root: one set of engine objects per process, built from the settings."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from .captcha import Captcha
from .consensus import Consensus, ConsensusRule
from .db import Database
from .jobs import JobContext, JobRunner
from .library import Library
from .ratelimit import RateLimits
from .retraining import Retraining
from .settings import Settings
from .storage import AudioStore, LocalStore, S3Store

if TYPE_CHECKING:
    from .tts.generate import GenerationRequest
    from .tts.synthesize import Synthesizer
    from .tts.train import TrainConfig

log = logging.getLogger("insideout")


@dataclass
class Services:
    settings: Settings
    db: Database
    store: AudioStore
    library: Library
    consensus: Consensus
    captcha: Captcha
    rate_limits: RateLimits
    jobs: JobRunner
    retraining: Retraining

    def synthesizer(self) -> Synthesizer:
        """The configured acoustic model and vocoder, loaded on first use (torch is slow to start)."""
        from .tts.synthesize import shared_synthesizer

        checkpoint = self.retraining.active_checkpoint() or self.settings.tts_checkpoint or None
        return shared_synthesizer(checkpoint, self.settings.vocoder)

    def start_generation(self, request: GenerationRequest) -> int:
        """Queue a generation job; a bad request is refused here, before anything is queued."""
        from .tts.generate import generate

        request.plan()

        def work(ctx: JobContext) -> dict:
            synthesizer = self.synthesizer()
            report = generate(self.library, synthesizer, request,
                              progress=lambda done, total: ctx.progress(done, total, f"{done} / {total} clips"),
                              check_cancel=ctx.check_cancel)
            return report.as_dict()

        return self.jobs.submit("generate", asdict(request), work)

    def start_training(self, config: TrainConfig | None = None) -> int:
        """Queue a fine-tune on the learning pool now; RetrainError when there is nothing to learn or one runs."""
        return self.retraining.start(config).job_id


def build_store(settings: Settings) -> AudioStore:
    if settings.storage == "local":
        return LocalStore(settings.audio_dir)
    if settings.storage == "s3" and settings.s3 is not None:
        store = S3Store(settings.s3)
        store.check()  # a missing bucket or wrong credentials stop the start, with what to fix
        return store
    raise ValueError(f"unsupported storage {settings.storage!r}")


def build_services(settings: Settings) -> Services:
    db = Database(settings.db_path)
    store = build_store(settings)
    library = Library(db, store)
    consensus = Consensus(library, ConsensusRule.from_settings(settings))
    jobs = JobRunner(db)
    retraining = Retraining(settings, db, library, jobs)
    consensus.on_learning = retraining.maybe_start  # the learning pool's threshold starts a fine-tune
    return Services(
        settings=settings,
        db=db,
        store=store,
        library=library,
        consensus=consensus,
        captcha=Captcha(library, consensus, settings),
        rate_limits=RateLimits.per_minute(settings.request_limit_per_min, settings.rate_limit_per_min),
        jobs=jobs,
        retraining=retraining,
    )


def recover(services: Services) -> dict[str, int]:
    """What a start does before serving: finish interrupted moves and consensus decisions."""
    report = services.library.repair()
    report["jobs_interrupted"] = services.db.fail_interrupted_jobs(time.time())
    report["trainings_interrupted"] = services.retraining.sync_states()
    report["clips_settled"] = services.consensus.settle_all()
    if any(report.values()):
        log.info("recovered after an interrupted run: %s", report)
    return report
