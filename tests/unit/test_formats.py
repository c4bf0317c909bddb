"""The wire formats of requests (services/infra/formats.py): a date is YYYY-MM-DD and an
instant RFC 3339 with its offset, nothing pydantic would also read (a Unix timestamp)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from services.case.domain import DisclosureFacts
from services.infra.formats import IsoDate, IsoDateText, IsoInstant


class Strict(BaseModel):
    """As request bodies are validated: strictly."""

    model_config = ConfigDict(strict=True)
    day: IsoDate | None = None
    at: IsoInstant | None = None


@pytest.mark.parametrize("text", ["0", "1e3", "20260901", "2026-9-1", "2026-09-01T00:00:00"])
def test_a_date_is_yyyy_mm_dd_only(text: str) -> None:
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        Strict.model_validate({"day": text})
    assert Strict.model_validate({"day": "2026-09-01"}).day == date(2026, 9, 1)


@pytest.mark.parametrize("text", ["0.5", "0", "2026-09-01", "2026-09-01T08:00:00", "2026-09-01T08:00+08:00"])
def test_an_instant_is_rfc3339_with_its_offset(text: str) -> None:
    with pytest.raises(ValidationError, match="RFC 3339"):
        Strict.model_validate({"at": text})


def test_an_instant_keeps_its_offset_and_reads_z_in_either_case() -> None:
    china = Strict.model_validate({"at": "2026-09-01T08:00:00+08:00"}).at
    assert china == datetime(2026, 9, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert Strict.model_validate({"at": "2026-09-01t00:00:00.5z"}).at == datetime(2026, 9, 1, 0, 0, 0, 500000, UTC)


def test_a_date_recorded_as_text_must_be_a_day_that_exists() -> None:
    class Facts(BaseModel):
        model_config = ConfigDict(strict=True)
        validity: IsoDateText

    assert Facts.model_validate({"validity": "2028-02-29"}).validity == "2028-02-29"  # a leap day
    for text in ("2026-02-30", "2026-13-01", "2026-9-1"):
        with pytest.raises(ValidationError) as refused:
            Facts.model_validate({"validity": text})
        assert refused.value.errors()[0]["loc"] == ("validity",)


def test_a_decision_s_penalty_validity_is_a_real_day() -> None:
    # The case service answered 500 for this before: the field was a pattern only, and the
    # check of the validity against the decision date parsed it.
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(DisclosureFacts).validate_python({"penalty_validity": "2026-02-30"})
    assert refused.value.errors()[0]["loc"] == ("penalty_validity",)
