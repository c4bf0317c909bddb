"""Schema migrations (services/infra/migrations.py): the revisions of every service make
exactly the tables of its code, on SQLite and PostgreSQL; a database made by create_all
before migrations existed is upgraded in place with its rows; a table the code has and
the revisions lack is named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, inspect, select, text

from devtools.launcher import drop_databases
from services.case.readmodel import SCHEMA as CASE
from services.disclosure.readmodel import SCHEMA as DISCLOSURE
from services.infra.migrations import Schema, current_revision, describe, differences, upgrade_connection
from services.infra.storage import ensure_postgres_database
from services.notification.readmodel import SCHEMA as NOTIFICATION
from services.notification.readmodel import deliveries, subscriptions
from services.referral.readmodel import SCHEMA as REFERRAL

SCHEMAS = [CASE, REFERRAL, DISCLOSURE, NOTIFICATION]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'views.sqlite'}")
        yield engine
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    name = f"caseledger_t_mig_{id(request) % 10**8}"
    ensure_postgres_database(f"{server}/{name}")
    engine = create_engine(f"{server.replace('postgresql://', 'postgresql+psycopg://')}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        drop_databases(server, name)


def upgraded(engine: Engine, schema: Schema, revision: str = "head") -> None:
    with engine.begin() as conn:
        upgrade_connection(conn, schema, revision)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_the_revisions_make_exactly_the_tables_of_the_code(database: Engine, schema: Schema) -> None:
    upgraded(database, schema)
    with database.connect() as conn:
        found = differences(conn, schema)
        assert current_revision(conn, schema) == schema.head()
    assert not found, (
        f"services/{schema.name}/migrations/ and the tables in services/{schema.name}/readmodel.py differ: "
        + "; ".join(describe(d) for d in found)
        + f' (write the revision: caseledger migrations new {schema.name} "what changed")'
    )
    upgraded(database, schema)  # at head already: nothing to do, nothing fails


def test_a_table_the_revisions_lack_is_named(tmp_path: Path) -> None:
    metadata = MetaData()
    for table in REFERRAL.metadata[1].tables.values():
        table.to_metadata(metadata)
    Table("referral_answers", metadata, Column("referral_id", String(36), primary_key=True), Column("n", Integer))
    forgetful = Schema("referral", (REFERRAL.metadata[0], metadata), REFERRAL.versions)
    engine = create_engine(f"sqlite:///{tmp_path / 'views.sqlite'}")
    upgraded(engine, forgetful)
    with engine.connect() as conn:
        named = [describe(d) for d in differences(conn, forgetful)]
    assert named == ["add_table referral_answers"]


def test_a_database_made_before_migrations_is_upgraded_in_place_with_its_rows(database: Engine) -> None:
    # The notification database as create_all made it (revision 0001 is that schema), no
    # version table: subscriptions and deliveries are records, not rebuildable.
    upgraded(database, NOTIFICATION, "0001")
    with database.begin() as conn:
        conn.execute(text(f"DROP TABLE {NOTIFICATION.version_table}"))
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    old = MetaData()
    old_subscriptions = subscriptions.to_metadata(old)
    old_subscriptions._columns.remove(old_subscriptions.c.previous_secret)  # as they were at 0001
    old_subscriptions._columns.remove(old_subscriptions.c.previous_secret_expires_at)
    old_deliveries = deliveries.to_metadata(old)
    old_deliveries._columns.remove(old_deliveries.c.redeliveries)
    with database.begin() as conn:
        conn.execute(
            old_subscriptions.insert().values(
                id="s1",
                callback_url="https://hooks.example.cn/caseledger",
                event_types=["cn.caseledger.case.*"],
                secret="whsec_" + "A" * 44,
                description="市局执法平台",
                active=True,
                agency_code="11430281MB1234567L",
                region_code="430281",
                organ_scope=False,
                created_by="system-a",
                created_at=now,
                updated_at=now,
            )
        )
        for delivery_id, status, error in [
            ("d1", "delivered", None),
            ("d2", "failed", "HTTP 500 Internal Server Error"),  # ran out of attempts
            ("d3", "failed", "subscription deactivated"),
            ("d4", "pending", None),
        ]:
            conn.execute(
                old_deliveries.insert().values(
                    id=delivery_id,
                    subscription_id="s1",
                    event_id=f"e-{delivery_id}",
                    event_type="cn.caseledger.case.filed.v1",
                    case_id="c1",
                    payload={"id": f"e-{delivery_id}", "data": {"agency": {"name": "浏阳市应急管理局"}}},
                    status=status,
                    attempts=15 if status == "failed" else 1,
                    last_error=error,
                    created_at=now,
                )
            )

    upgraded(database, NOTIFICATION)

    with database.connect() as conn:
        assert current_revision(conn, NOTIFICATION) == NOTIFICATION.head()
        assert not differences(conn, NOTIFICATION)
        subscription = conn.execute(select(subscriptions)).one()
        rows = {r.id: r for r in conn.execute(select(deliveries))}
    assert (subscription.description, subscription.previous_secret) == ("市局执法平台", None)
    assert {k: (r.status, r.attempts, r.redeliveries) for k, r in rows.items()} == {
        "d1": ("delivered", 1, 0),
        "d2": ("dead_letter", 15, 0),  # a dead letter now: listed and retried as one
        "d3": ("failed", 15, 0),
        "d4": ("pending", 1, 0),
    }
    assert rows["d1"].payload["data"]["agency"]["name"] == "浏阳市应急管理局"
    assert "redeliveries" in {c["name"] for c in inspect(database).get_columns("deliveries")}
