"""Unit tests run domain commands as an officer would: behind the access guard, which
sets the actor every event records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.infra.auth import reset_current_actor, set_current_actor
from services.infra.crypto import FieldCipher

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


@pytest.fixture(autouse=True)
def acting_officer() -> Iterator[dict[str, str | None]]:
    token = set_current_actor(OFFICER_ACTOR)
    yield OFFICER_ACTOR
    reset_current_actor(token)
