"""Service code run inside a devtools process against a system the launcher started.

The chaos run rebuilds every projection from the topic, and the bench measures the
outbox relay and a ledger rebuild, with the services' own classes in their own process;
this is what such code needs to act as the running services do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devtools.launcher import LocalSystem
from services.infra.consumer import ConsumedEvent, parse_record
from services.infra.crypto import FieldCipher
from services.infra.settings import Settings
from services.infra.topic import control_kind


def service_settings(system: LocalSystem, service: str, *, database: str | None = None, **fields: Any) -> Settings:
    """Settings for ``service`` code in this process: the system's broker and data
    directory, and on PostgreSQL the database ``<prefix>_<database or service>`` (on
    SQLite, files under the data directory, as the services have theirs)."""
    return Settings(
        service_name=service,
        data_dir=system.data_dir,
        database_url=system.database_url(database or service),
        kafka_bootstrap_servers=system.bootstrap,
        **fields,
    )


def key_ring(settings: Settings) -> FieldCipher:
    """The personal-data key ring the running services use (PII_KEYS, else the
    development key under the data directory); the ledger's lookup digests depend on it."""
    return FieldCipher.from_settings(settings.pii_keys, settings.data_dir)


def consumed_batch(records: Sequence[Any]) -> tuple[list[ConsumedEvent], int]:
    """A polled batch of records as the services' consumer loop hands it to a runner:
    the events it could parse (control records are not events), and the batch's last
    offset."""
    events = [e for e in (parse_record(r) for r in records if not control_kind(r.headers)) if e is not None]
    return events, records[-1].offset
