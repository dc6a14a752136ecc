"""Everything a running server holds, built from one ``Settings`` and closed in one place.

``Runtime.open`` loads the engines, opens the store and wires the pipeline;
the HTTP app (``app.create_app``), the gRPC server (``grpc.server``) and the
CLI all take a ``Runtime`` instead of reaching for module globals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from oculi.auth import Authenticator
from oculi.engines.registry import EngineRegistry
from oculi.intake.pipeline import Intake
from oculi.memory import Trimmer
from oculi.metrics import Metrics, watch_cache
from oculi.service.admission import Admission
from oculi.service.deferred import DeferredRunner
from oculi.service.generate import Generator
from oculi.settings import Settings
from oculi.store.base import Store

log = logging.getLogger(__name__)


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

    @classmethod
    async def open(
        cls, settings: Settings, *, registry: EngineRegistry | None = None, store: Store | None = None
    ) -> Runtime:
        """Build the runtime; ``registry`` / ``store`` may be injected (tests, benchmarks)."""
        from oculi.store.sql import open_store

        metrics = Metrics()
        registry = registry or EngineRegistry.load(settings)
        if store is None:
            store = await open_store(settings.resolved_store_url(), retention_days=settings.retention_days)
        else:
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
        generator = Generator(
            registry, intake, store, admission, retention_days=settings.retention_days, metrics=metrics
        )
        return cls(
            settings=settings,
            metrics=metrics,
            registry=registry,
            intake=intake,
            store=store,
            generator=generator,
            deferred=DeferredRunner(generator),
            auth=Authenticator(settings.all_api_keys()),
        )

    async def close(self) -> None:
        """Stop deferred work, then release the intake, engines and store."""
        await self.deferred.close()
        await self.intake.aclose()
        await self.registry.close()
        await self.store.close()
