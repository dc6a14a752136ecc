"""Everything a running server holds, built from one ``Settings`` and closed in one place.

``Runtime.open`` loads the engines, opens the store and wires the pipeline;
the HTTP app (``app.create_app``), the gRPC server (``grpc.server``) and the
CLI all take a ``Runtime`` instead of reaching for module globals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

from oculi.auth import Authenticator
from oculi.engines.registry import EngineRegistry
from oculi.errors import OculiError
from oculi.intake.pipeline import Intake
from oculi.memory import Trimmer
from oculi.metrics import Metrics, watch_cache
from oculi.reasoning.sealed import ReasoningSeal
from oculi.service.admission import Admission
from oculi.service.batches import BatchService, batch_finisher
from oculi.service.deferred import DeferredRunner, deferred_finisher
from oculi.service.files import FileService
from oculi.service.generate import Generator
from oculi.service.jobs import JobWorker, WorkerSettings
from oculi.settings import Settings
from oculi.store.core import Store
from oculi.store.jobs import JobState

log = logging.getLogger(__name__)

#: How long readiness waits for the store's ``SELECT 1`` (below the probes' 3 s timeout).
READY_STORE_TIMEOUT_S = 2.0


@dataclass
class Runtime:
    """The server's components (see module docstring)."""

    settings: Settings
    metrics: Metrics
    registry: EngineRegistry
    intake: Intake
    store: Store
    generator: Generator
    deferred: DeferredRunner
    auth: Authenticator
    batches: BatchService
    worker: JobWorker
    files: FileService
    #: ``time.monotonic()`` at SIGTERM / SIGINT (``begin_draining``); None while serving.
    draining_since: float | None = None

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        registry: EngineRegistry | None = None,
        store: Store | None = None,
        run_jobs: bool = True,
    ) -> Runtime:
        """Build the runtime; ``registry`` / ``store`` may be injected (tests, benchmarks).

        ``run_jobs``: start this process's job worker (servers); a one-shot
        command such as ``oculi ask`` must not claim the store's background jobs.
        """
        metrics = Metrics()
        registry = registry or EngineRegistry.load(settings)
        if store is None:
            store = Store(
                settings.resolved_store_url(),
                retention_days=settings.retention_days,
                job_max_attempts=settings.job_max_attempts,
            )
        await store.open()
        intake = Intake(settings, metrics)
        for engine in registry.engines():
            encoder = getattr(engine, "encoder", None)  # the transformers engine's image-encoding cache
            if encoder is not None and hasattr(encoder, "size"):
                watch_cache(
                    metrics, f"vision_encodings:{engine.info.id}", partial(getattr, encoder, "size"), encoder.capacity
                )
        admission = Admission(
            settings.max_queue,
            settings.max_inflight_image_bytes,
            settings.max_image_bytes,
            metrics,
            max_decoded_bytes=settings.max_inflight_decoded_bytes,
            trimmer=Trimmer(settings.trim_memory_when_idle),
        )
        files = FileService(store.files, settings)
        generator = Generator(
            registry,
            intake,
            store.responses,
            admission,
            retention_days=settings.retention_days,
            metrics=metrics,
            files=files,
            reasoning_budgets=settings.reasoning_budgets,
            seal=ReasoningSeal(settings.reasoning_secret),
        )
        worker = JobWorker(
            store.jobs,
            generator,
            WorkerSettings(
                seats=max(1, round(settings.max_batch_size * settings.job_share)),
                engine_seats=settings.max_batch_size,
                lease_s=settings.job_lease_seconds,
                poll_s=settings.job_poll_seconds,
            ),
            {"deferred": deferred_finisher(store.jobs, store.responses), "batch": batch_finisher(store.jobs)},
            metrics,
        )
        deferred = DeferredRunner(generator, store.jobs, store.responses, wake=worker.wake)
        batches = BatchService(
            store.batches,
            store.jobs,
            store.responses,
            wake=worker.wake,
            metrics=metrics,
            window_s=settings.batch_window_seconds,
        )
        if run_jobs:
            worker.start()
        return cls(
            settings=settings,
            metrics=metrics,
            registry=registry,
            intake=intake,
            store=store,
            generator=generator,
            deferred=deferred,
            auth=Authenticator(settings.all_api_keys()),
            batches=batches,
            worker=worker,
            files=files,
        )

    async def refresh_job_metrics(self) -> None:
        """Set the ``oculi_jobs`` gauge from the store (every replica reports the shared totals).

        A store that does not answer leaves the last values: ``/metrics`` must still answer.
        """
        try:
            counts = await self.store.jobs.state_counts()
        except OculiError:
            log.warning("metrics: the store did not answer; job counts not refreshed")
            return
        for kind in ("deferred", "batch"):
            for state in JobState:
                self.metrics.jobs.labels(kind, state.value).set(counts.get((kind, state.value), 0))

    def begin_draining(self) -> None:
        """The first step of a graceful stop: readiness turns 503 and the job worker claims nothing more."""
        if self.draining_since is None:
            self.draining_since = time.monotonic()
        self.worker.stop_claiming()

    async def readiness(self) -> dict[str, str]:
        """Why this replica should get no traffic now, as ``{check: reason}``; empty when ready.

        Not ready: draining, an engine that cannot serve, or a store that does not answer
        ``SELECT 1`` within ``READY_STORE_TIMEOUT_S`` (a hung database must not hang the probe).
        """
        timeout = READY_STORE_TIMEOUT_S
        problems: dict[str, str] = {}
        if self.draining_since is not None:
            problems["server"] = "draining: shutting down"
        for engine in self.registry.engines():
            if problem := getattr(engine, "problem", None):
                problems[f"engine:{engine.info.id}"] = problem
        try:
            await asyncio.wait_for(self.store.ping(), timeout)
        except OculiError as exc:
            problems["store"] = exc.message
        except TimeoutError:
            problems["store"] = f"the response store did not answer within {timeout:g}s"
        return problems

    async def close(self) -> None:
        """Finish or hand back background jobs, then release the intake, engines and store.

        Jobs kept running while the HTTP and gRPC servers drained, so their grace counts
        from ``begin_draining``: a stop takes one grace period, not the sum of them.
        """
        grace = self.settings.job_shutdown_grace_seconds
        if self.draining_since is not None:
            grace = max(0.0, grace - (time.monotonic() - self.draining_since))
        await self.worker.close(grace)
        await self.intake.aclose()
        await self.registry.close()
        await self.store.close()
