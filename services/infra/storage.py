"""Where a service keeps its data: the event store (eventsourcing) and its read models
(SQLAlchemy async). One PostgreSQL database per service in production; two SQLite files
per service in the embedded default (the event store's sync sqlite3 connection and the
read models' aiosqlite connection would otherwise contend for one file lock)."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.infra.settings import Settings


def ensure_postgres_database(database_url: str) -> None:
    """Create the service's database if it does not exist yet (idempotent)."""
    parts = urlparse(database_url)
    dbname = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres", scheme="postgresql").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another service process won the race
                conn.execute(f'CREATE DATABASE "{dbname}"')


def event_store_env(settings: Settings, sqlite_file: str = "events") -> dict[str, str]:
    """Environment for an eventsourcing Application, derived from DATABASE_URL (on SQLite
    ``sqlite_file`` names the file: a second store of the service, the read audit, has its own)."""
    if settings.uses_postgres:
        assert settings.database_url
        ensure_postgres_database(settings.database_url)
        parts = urlparse(settings.database_url)
        return {
            # The library's recorders with the hash chain (services/infra/chain.py).
            "PERSISTENCE_MODULE": "services.infra.chain:ChainedPostgresFactory",
            "CHAIN_HASH": settings.chain_hash,
            "POSTGRES_DBNAME": parts.path.lstrip("/"),
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            # At most 10 connections per service at rest, every pool counted (the read-audit
            # store, the read-model engines, the relay's leader lock): the commands' appends
            # are serialised by the table lock anyway, and a connection beyond the pool's
            # size stays open for ten idle minutes (psycopg_pool's max_idle).
            "POSTGRES_POOL_SIZE": "3",
            "POSTGRES_MAX_OVERFLOW": "1",
            # eventsourcing locks the table per insert; wait instead of failing at once.
            "POSTGRES_LOCK_TIMEOUT": "5",
        }
    return {
        "PERSISTENCE_MODULE": "services.infra.chain:ChainedSQLiteFactory",
        "CHAIN_HASH": settings.chain_hash,
        "SQLITE_DBNAME": str(settings.service_dir() / f"{sqlite_file}.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def read_model_url(settings: Settings) -> str:
    if settings.uses_postgres:
        assert settings.database_url
        parts = urlparse(settings.database_url)
        return parts._replace(scheme="postgresql+asyncpg").geturl()
    return f"sqlite+aiosqlite:///{settings.service_dir() / 'views.sqlite'}"


def make_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    """An async engine for the read models. Each event loop needs its own engine."""
    url = read_model_url(settings)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # Three kept, two more under a burst, closed when they come back. Fewer kept made the
    # HTTP reads open and close a connection (and the server a backend) for every burst; a
    # projection runner opens one only, as it uses one at a time.
    return create_async_engine(url, pool_size=3, max_overflow=2, **kwargs)
