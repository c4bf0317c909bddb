"""Process settings from the environment, with the embedded defaults when nothing is set.

Every service process reads the same variables; each process is started with its own
values (its own DATABASE_URL, its own port). Unset DATABASE_URL means the embedded
default: SQLite files under ``DATA_DIR/<service>/``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.infra.egress import parse_networks

CASE_EVENTS_TOPIC = "caseledger.case-events.v1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    service_name: str = "caseledger"
    # PostgreSQL when set (postgresql://user@host:port/dbname), SQLite files otherwise.
    database_url: str | None = None
    data_dir: Path = Path("var")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    case_events_topic: str = CASE_EVENTS_TOPIC
    case_events_partitions: int = 6
    # 1 for the embedded broker; 3 on an Apache Kafka cluster (see README).
    case_events_replication: int = 1
    # Tansu finishes a group join in about session_timeout/2; Kafka defaults (10 s) make
    # the first join take over 20 s there, so the defaults here are tighter.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1000
    relay_batch_size: int = 500
    consumer_batch_size: int = 500
    relay_idle_sleep_s: float = 0.05
    # After a batch smaller than relay_batch_size, the relay waits this long before reading
    # again, so events arriving meanwhile go in one produce request, one position write,
    # and reach every consumer as one poll (one read-model transaction) rather than one
    # by one. 0 sends each as soon as it is read.
    relay_linger_s: float = 0.02
    # How often a service's deadline scheduler looks at the business day (services/infra/scheduler.py).
    scheduler_interval_s: float = 30.0
    # Backoff for anything that talks to an outside party (broker, Credit China, webhooks).
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    # Checked at start-up by the egress guard (services/infra/egress.py): https, a public
    # address or one EGRESS_ALLOWLIST names.
    credit_china_url: str = "http://127.0.0.1:8109"
    # Outgoing requests (webhook callbacks, Credit China): http only when this is set (local
    # development: `make run` and the tests' LocalSystem set it), https otherwise.
    egress_allow_http: bool = False
    # Networks (CIDR) outgoing requests may reach although they are not public addresses
    # (loopback, private ...): an operator's list, empty by default.
    egress_allowlist: list[str] = []
    # Resolve outgoing requests' host names from the hosts file only, never by DNS: for
    # development and tests on a machine whose only network is loopback (`make run` and
    # the tests' LocalSystem set it).
    egress_hosts_file_only: bool = False
    public_base_url: str = Field(default="http://127.0.0.1:8100")
    # Trusted token issuers and their keys (a JWKS file or URL). Unset file and URL: the
    # development keys `make run` writes under DATA_DIR/auth/.
    auth_jwks_file: Path | None = None
    auth_jwks_url: str | None = None
    auth_issuers: list[str] = ["caseledger-dev"]
    auth_audience: str = "caseledger"
    auth_leeway_s: int = 30
    # AES-256-GCM keys for personal data (base64, 32 bytes), "kid:key" comma-separated;
    # the first one encrypts, all of them decrypt (rotation). Unset: the development key
    # `make run` writes under DATA_DIR/auth/.
    pii_keys: str | None = None
    # Request bodies larger than this are refused with 413.
    max_body_bytes: int = 256 * 1024
    # Browser origins allowed to call the APIs (CORS); none by default.
    cors_allow_origins: list[str] = []

    # Tamper evidence (services/infra/chain.py, tree_heads.py): the chain's hash, fixed when
    # a store's chain is created (sha256, or sm3 where national cryptography is required);
    # the Ed25519 key signing tree heads (PEM; unset: a development key under DATA_DIR/auth/);
    # how often a head is signed when the log grew; the topic the heads are published on.
    chain_hash: str = "sha256"
    tree_head_key_file: Path | None = None
    tree_head_interval_s: float = 60.0
    tree_heads_topic: str = "caseledger.tree-heads.v1"

    @field_validator("chain_hash")
    @classmethod
    def _chain_hash(cls, value: str) -> str:
        if value.lower() not in ("sha256", "sm3"):
            raise ValueError("CHAIN_HASH must be sha256 or sm3")
        return value.lower()

    @field_validator("egress_allowlist")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # a bad entry refuses to start, naming it
        return value

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None and self.database_url.startswith("postgres")

    def jwks_path(self) -> Path:
        return self.auth_jwks_file or self.data_dir / "auth" / "jwks.json"

    def service_dir(self) -> Path:
        path = self.data_dir / self.service_name
        path.mkdir(parents=True, exist_ok=True)
        return path
