"""Unit tests run domain commands as an officer would: behind the access guard, which
sets the actor every event records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.case.application import CaseApplication
from services.common.rules import load_catalogue
from services.infra.crypto import FieldCipher
from services.infra.identity import Principal, reset_current_actor, set_current_actor

# A fixed key for unit tests only; services take theirs from PII_KEYS.
TEST_CIPHER = FieldCipher([("unit", bytes(range(32)))])
OFFICER_ACTOR = {
    "subject": "officer-li@11430281MB1234567L",
    "subject_type": "person",
    "name": "李四",
    "agency_code": "11430281MB1234567L",
    "region_code": "430281",
    "role": "officer",
    "on_behalf_of": None,
    "reason": None,
    "trace_id": None,
}
# The same officer as the caller an application is handed (what the access guard verified).
OFFICER = Principal(
    subject=str(OFFICER_ACTOR["subject"]),
    subject_type="person",
    agency_code=str(OFFICER_ACTOR["agency_code"]),
    region_code=str(OFFICER_ACTOR["region_code"]),
    roles=frozenset({"officer", "legal_reviewer", "agency_head"}),
    agency_name="醴陵市应急管理局",  # the token's agency.name claim
)


@pytest.fixture(autouse=True)
def acting_officer() -> Iterator[dict[str, str | None]]:
    token = set_current_actor(OFFICER_ACTOR)
    yield OFFICER_ACTOR
    reset_current_actor(token)


@pytest.fixture
def cases(tmp_path: Path) -> Iterator[CaseApplication]:
    """The case application on a SQLite event store of the test's own, the shipped rules."""
    app = CaseApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "events.sqlite")},
        cipher=TEST_CIPHER,
        catalogue=load_catalogue(),
    )
    yield app
    app.close()
