"""Fixtures with real components: the machine's PostgreSQL, a real Tansu broker process,
and the services as real processes over real HTTP."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from devtools.launcher import LocalSystem, broker_binary, drop_databases, free_port, port_in_use
from services.infra.settings import Settings

__all__ = ["drop_databases"]  # re-exported: the e2e tests import it from here

POSTGRES_SERVER = os.environ.get("CASELEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:  # `make test` starts it; say so when run bare
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_SERVER} (run `make test`, which starts it): {exc}")
    return POSTGRES_SERVER


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the machine's PostgreSQL, dropped afterwards."""
    name = f"caseledger_t_{uuid.uuid4().hex[:10]}"
    yield f"{postgres_server}/{name}"
    drop_databases(postgres_server, name)


class Broker:
    """A real Tansu broker process on a free port; it can be stopped and started again."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        import time

        deadline = time.monotonic() + 20
        while not port_in_use(self.port):
            if time.monotonic() > deadline:
                raise TimeoutError("broker did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker.log")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an in-test service instance on a unique topic."""

    def _make(service: str, bootstrap: str, database_url: str | None = None, topic: str | None = None) -> Settings:
        return Settings(
            service_name=service,
            data_dir=tmp_path / "var",
            kafka_bootstrap_servers=bootstrap,
            database_url=database_url,
            case_events_topic=topic or f"test.case-events.{uuid.uuid4().hex[:8]}",
            case_events_partitions=3,
        )

    return _make


@contextmanager
def running_system(tmp_path: Path, postgres_server: str | None) -> Iterator[LocalSystem]:
    """The whole system started under ``tmp_path`` (on PostgreSQL when a server is given),
    stopped and its databases dropped afterwards."""
    running = start_system(tmp_path, postgres_server)
    try:
        yield running
    finally:
        running.stop()
        if postgres_server:
            drop_databases(postgres_server, running.database_prefix)


def start_system(tmp_path: Path, postgres_server: str | None) -> LocalSystem:
    prefix = f"caseledger_e2e_{uuid.uuid4().hex[:8]}"
    system = LocalSystem.on_free_ports(tmp_path / "var", postgres_url=postgres_server, database_prefix=prefix)
    try:
        system.start(timeout=120)
    except Exception:
        system.stop()
        raise
    return system
