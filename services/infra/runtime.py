"""A service process: its event store, its read-model engine, its outbox relay and its
consumers, started and stopped with the HTTP app's lifespan."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from eventsourcing.application import Application
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.chain import TamperEvidentLog
from services.infra.consumer import ConsumerLoop, Handler
from services.infra.crypto import FieldCipher
from services.infra.eventstore import ServiceApplication
from services.infra.metrics import Reading
from services.infra.projection import prepare_tables
from services.infra.relay import OutboxRelay
from services.infra.settings import Settings
from services.infra.storage import ensure_postgres_database, make_engine
from services.infra.telemetry import setup_logging, setup_tracing
from services.infra.tree_heads import HeadSigner, TreeHeadWorker

AppT = TypeVar("AppT", bound=ServiceApplication)


class ServiceRuntime(Generic[AppT]):
    def __init__(
        self,
        settings: Settings,
        metadata: MetaData,
        application: Callable[[], AppT] | None = None,
        handlers: Callable[[ServiceRuntime[AppT]], Sequence[Handler]] = lambda _: (),
        workers: Callable[[ServiceRuntime[AppT]], Sequence[threading.Thread]] = lambda _: (),
        *,
        personal_data: bool = False,
        relay_after: Sequence[str] = (),
        warnings: Callable[[], Sequence[str]] = lambda: (),
        stores: Callable[[ServiceRuntime[AppT]], dict[str, Application[Any]]] = lambda _: {},
        gauges: Callable[[ServiceRuntime[AppT]], Awaitable[Sequence[Reading]]] | None = None,
    ) -> None:
        self.settings = settings
        # The service's own figures for /metrics (deliveries by state, open deadlines, ...).
        self._gauges = gauges
        # Further event stores of the service (the case service's read audit), by log name;
        # each is tamper-evident like the service's own event store ("events").
        self._stores_factory = stores
        self.stores: dict[str, Application[Any]] = {}
        self.logs: dict[str, TamperEvidentLog] = {}
        self.signer: HeadSigner | None = None
        self.tree_heads: TreeHeadWorker | None = None
        # What /readyz reports without turning unready (e.g. a calendar year still guessed).
        self._warnings = warnings
        # The sources whose events this service's events follow from (causal order on a
        # new topic, see services/infra/topic.py).
        self.relay_after = tuple(relay_after)
        # Services that seal or open personal data refuse to start without the key ring.
        self.personal_data = personal_data
        self.metadata = metadata
        self._application_factory = application
        self._handlers_factory = handlers
        self._workers_factory = workers
        self.app: AppT | None = None
        self.engine: AsyncEngine | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[ConsumerLoop] = []
        self.workers: list[threading.Thread] = []

    @property
    def application(self) -> AppT:
        assert self.app is not None, "service not started"
        return self.app

    @functools.cached_property
    def cipher(self) -> FieldCipher:
        """The personal-data key ring (PII_KEYS, or the development key under DATA_DIR)."""
        return FieldCipher.from_settings(self.settings.pii_keys, self.settings.data_dir)

    @property
    def db(self) -> AsyncEngine:
        assert self.engine is not None, "service not started"
        return self.engine

    async def start(self) -> None:
        setup_logging(self.settings.service_name)
        setup_tracing(self.settings.service_name)
        if self.personal_data:
            self.cipher  # noqa: B018 - fail at start-up, not on the first request
        if self.settings.uses_postgres:
            assert self.settings.database_url
            await asyncio.to_thread(ensure_postgres_database, self.settings.database_url)
        self.engine = make_engine(self.settings)
        # Alembic migrations to the newest revision, before anything reads the tables.
        await prepare_tables(self.engine, self.metadata)
        if self._application_factory is not None:
            # eventsourcing connects synchronously; keep it off the event loop.
            self.app = await asyncio.to_thread(self._application_factory)
            self.relay = OutboxRelay(self.app, self.settings, after=self.relay_after)
            self.relay.start()
            self.stores = await asyncio.to_thread(self._stores_factory, self)
            service = self.settings.service_name
            self.logs = {"events": TamperEvidentLog(f"{service}/events", self.app.recorder)} | {
                name: TamperEvidentLog(f"{service}/{name}", store.recorder) for name, store in self.stores.items()
            }
            self.signer = await asyncio.to_thread(HeadSigner.from_settings, self.settings)
            self.tree_heads = TreeHeadWorker(self.settings, self.signer, self.logs.values())
            self.tree_heads.start()
        # Consumer set-up opens its own engines and loops: do it off this loop too.
        handlers = await asyncio.to_thread(self._handlers_factory, self)
        self.consumers = [ConsumerLoop(self.settings, h) for h in handlers]
        for consumer in self.consumers:
            consumer.start()
        self.workers = list(self._workers_factory(self))
        for worker in self.workers:
            worker.start()

    async def stop(self) -> None:
        stoppables: list[Any] = [*self.workers, *self.consumers]
        stoppables += [t for t in (self.relay, self.tree_heads) if t is not None]
        for thread in stoppables:
            thread.stop()
        for thread in stoppables:
            await asyncio.to_thread(thread.join, 10)
        for store in self.stores.values():
            store.close()
        if self.app is not None:
            self.app.close()
        if self.engine is not None:
            await self.engine.dispose()

    async def readiness(self) -> dict[str, Any]:
        async with self.db.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks: dict[str, Any] = {"database": "ok"}
        ready = True
        if self.relay is not None:
            backlog = await asyncio.to_thread(self.relay.backlog)
            checks["relay"] = {
                "alive": self.relay.is_alive(),
                "active": self.relay.active,
                "published": self.relay.published,
                "backlog": backlog,
                "topic_identity": self.relay.topic_identity,
                "waiting_for": self.relay.waiting_for,
                "last_error": self.relay.last_error,
            }
            ready = ready and self.relay.is_alive()
        checks["consumers"] = {
            c.handler.name: {
                "alive": c.is_alive(),
                "partitions": sorted(tp.partition for tp in c.assigned),
                "applied": c.applied,
                "skipped": c.skipped,
                "topic_identity": c.topic_identity,
                "halted": c.halted,
                "last_error": c.last_error,
            }
            for c in self.consumers
        }
        halted = {c.handler.name: c.halted for c in self.consumers if c.halted}
        if halted:
            checks["reason"] = "; ".join(f"{name}: {why}" for name, why in halted.items())
        ready = ready and not halted and all(c.is_alive() and c.assigned for c in self.consumers)
        if self.tree_heads is not None:
            checks["tree_heads"] = {
                "alive": self.tree_heads.is_alive(),
                "published": self.tree_heads.published,
                "last_error": self.tree_heads.last_error,
            }
        warnings = list(self._warnings())
        if warnings:
            checks["warnings"] = warnings
        checks["ready"] = ready
        return checks

    async def readings(self) -> list[Reading]:
        """What /metrics reports of the running service besides HTTP: the relay's backlog,
        each consumer group's lag, and the service's own figures."""
        found: list[Reading] = []
        if self.relay is not None:
            relay = self.relay
            backlog, age = await asyncio.to_thread(lambda: (relay.backlog(), relay.backlog_age_s()))
            found += [
                Reading("caseledger_relay_backlog_events", "Events in the event store not yet on the topic", backlog),
                Reading(
                    "caseledger_relay_backlog_seconds",
                    "How long the oldest event not yet on the topic has waited",
                    age,
                ),
                Reading(
                    "caseledger_relay_published_events",
                    "Events the relay published since the process started",
                    relay.published,
                    counter=True,
                ),
            ]
        for consumer in self.consumers:
            group = {"group": consumer.handler.name}
            found += [
                Reading(
                    "caseledger_consumer_lag_events",
                    "Records on the topic the consumer group has not read yet (high watermark minus position)",
                    sum(consumer.lag_events.values()),
                    group,
                ),
                Reading(
                    "caseledger_consumer_lag_seconds",
                    "While behind, the age of the last record the consumer group read",
                    consumer.lag_seconds,
                    group,
                ),
                Reading(
                    "caseledger_consumer_applied_events",
                    "Events the consumer group handed to its handler",
                    consumer.applied,
                    group,
                    counter=True,
                ),
                Reading(
                    "caseledger_consumer_skipped_events",
                    "Events of types the handler does not handle, dropped unparsed",
                    consumer.skipped,
                    group,
                    counter=True,
                ),
                Reading("caseledger_consumer_up", "1 while the consumer runs and has not halted", _up(consumer), group),
            ]
        if self._gauges is not None:
            found += await self._gauges(self)
        return found

    def lifespan(self) -> Callable[[Any], Any]:
        """The web app's lifespan (any ASGI app): the runtime starts and stops with it."""

        @asynccontextmanager
        async def _lifespan(_app: Any) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        return _lifespan


def _up(consumer: ConsumerLoop) -> float:
    return 1.0 if consumer.is_alive() and not consumer.halted else 0.0
