"""The composition root: one set of engine objects per process, built from the settings. Nothing else
constructs engine objects for the app, the command line or the tests."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .accounts import Accounts
from .captcha import Captcha
from .consensus import Consensus, ConsensusRule
from .db import Database, Metadata
from .generation import Generation
from .jobs import JobRunner
from .labeling import LabelingFlow
from .library import Library
from .login import LoginFlow
from .ratelimit import RateLimits
from .research import Research
from .restock import Restocker, variation_of
from .retraining import Retraining
from .settings import Settings
from .sites import Sites
from .stats import Dashboard
from .storage import AudioStore, LocalStore, S3Store
from .verify import Verifier

if TYPE_CHECKING:
    from .tts.train import TrainConfig

log = logging.getLogger("insideout")


@dataclass
class Services:
    settings: Settings
    db: Metadata
    store: AudioStore
    library: Library
    consensus: Consensus
    captcha: Captcha
    rate_limits: RateLimits
    jobs: JobRunner
    retraining: Retraining
    generation: Generation
    accounts: Accounts
    login: LoginFlow
    labeling: LabelingFlow
    dashboard: Dashboard
    research: Research
    restock: Restocker  # started by `insideout serve` (and the bot lab's deployments) when PLAY_POOL_TARGET > 0
    sites: Sites
    verifier: Verifier

    def checkpoint(self, explicit: str | None = None) -> str:
        """The acoustic model that generates (generation.checkpoint_for's rule)."""
        return self.generation.checkpoint(explicit)

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


def build_metadata(settings: Settings) -> Metadata:
    """The metadata store INSIDEOUT_METADATA names. DynamoDB's tables are checked at once: missing ones stop the
    start with what to run (insideout.db.dynamo_client.TablesMissing)."""
    if settings.metadata == "dynamodb":
        from .db.dynamodb import DynamoDBMetadata

        return DynamoDBMetadata(settings.dynamodb_table_prefix, settings.dynamodb_endpoint_url,
                                votes_per_network=settings.votes_per_network)
    return Database(settings.db_path, votes_per_network=settings.votes_per_network)


def build_rate_limits(settings: Settings, db: Metadata) -> RateLimits:
    """In-process windows beside SQLite (one replica); windows in DynamoDB, shared by every replica, beside it."""
    if settings.metadata == "dynamodb":
        from .db.dynamo_limits import SharedWindow

        dynamo = db.d  # type: ignore[attr-defined]  - the DynamoDB backend's client, one connection pool
        return RateLimits(SharedWindow(dynamo, "requests", settings.request_limit_per_min),
                          SharedWindow(dynamo, "challenges", settings.rate_limit_per_min))
    return RateLimits.per_minute(settings.request_limit_per_min, settings.rate_limit_per_min)


def build_services(settings: Settings, announce: Callable[[str], None] = print) -> Services:
    """Everything of one data dir. `announce` tells a generated admin password, once (when the accounts
    are first loaded: `insideout serve` loads them at start)."""
    db = build_metadata(settings)
    store = build_store(settings)
    library = Library(db, store)
    consensus = Consensus(library, ConsensusRule.from_settings(settings))
    jobs = JobRunner(db)
    retraining = Retraining(settings, db, library, jobs)
    consensus.on_learning = retraining.maybe_start  # the learning pool's threshold starts a fine-tune
    captcha = Captcha(library, consensus, settings)
    rate_limits = build_rate_limits(settings, db)
    accounts = Accounts.from_settings(settings, announce=announce)
    sites = Sites(db, settings.secret_key)
    verifier = Verifier(sites, captcha, db)
    return Services(
        settings=settings,
        db=db,
        store=store,
        library=library,
        consensus=consensus,
        captcha=captcha,
        rate_limits=rate_limits,
        jobs=jobs,
        retraining=retraining,
        generation=Generation(settings, library, jobs, retraining.active_checkpoint),
        accounts=accounts,
        login=LoginFlow(accounts, rate_limits, verifier=verifier, sites=sites),
        labeling=LabelingFlow(db, library, consensus, rate_limits),
        dashboard=Dashboard(db, consensus, captcha, settings.pseudonym_key),
        # The bot lab's starter library is cached beside the data it serves, built by the first evaluation.
        research=Research(db, jobs, captcha.policy, settings.data_dir / "botlab-library"),
        restock=Restocker(library, settings.play_pool_target, variation=variation_of(settings),
                          transform=_perturber(settings, library), accept=_hard_filter(settings, library)),
        sites=sites,
        verifier=verifier,
    )


def _hard_filter(settings: Settings, library: Library):
    """MACHINE_HARD: the restocker drops fresh clips the site's own listener names right (its judge is fitted
    on the first candidate, on the restock thread, and kept in the data dir)."""
    if settings.machine_hard <= 0:
        return None
    from .hardness import hard_filter

    return hard_filter(library, settings.data_dir, settings.machine_hard)


def _perturber(settings: Settings, library: Library):
    """ADVERSARIAL_SNR_DB: fresh clips perturbed against the site's own surrogate (fitted, or read from the data
    dir, when the restock thread first needs it: torch is not imported before)."""
    if settings.adversarial_snr_db <= 0:
        return None
    lock = threading.Lock()
    built = []

    def transform(wave, sample_rate: int, emotion: str):
        with lock:
            if not built:
                from .adversarial import Perturber, surrogate_for

                surrogate = surrogate_for(library, settings.data_dir / "adversarial-surrogate.pt")
                built.append(Perturber(surrogate, settings.adversarial_snr_db))
        return built[0](wave, sample_rate, emotion)

    return transform


def recover(services: Services) -> dict[str, int]:
    """What a start does before serving: finish interrupted moves and consensus decisions. Unreferenced
    audio younger than settings.repair_grace_s is left for the next start (another writer may own it)."""
    report = services.library.repair(services.settings.repair_grace_s)
    report["jobs_interrupted"] = services.db.fail_interrupted_jobs(time.time())
    report["trainings_interrupted"] = services.retraining.sync_states()
    report["clips_settled"] = services.consensus.settle_all()
    if any(report.values()):
        log.info("recovered after an interrupted run: %s", report)
    return report
