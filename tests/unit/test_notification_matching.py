"""Which subscriptions an event reaches (by type, and by what the owning agency may
see), and what a subscription request accepts."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from devtools.demo import AGENCY, CITY_AGENCY, FOREIGN_AGENCY, POLICE, PROCURATORATE, PROVINCE_AGENCY
from services.common.event_types import REFERRAL_REFERRED as REFERRED
from services.notification.domain import (
    CaseAgency,
    Subscriber,
    check_secret,
    generate_secret,
    is_event_type_pattern,
    matches,
    receives,
)
from services.notification.schemas import SubscriptionRequest

FILED = "cn.caseledger.case.filed.v1"
LILING_CASE = CaseAgency(AGENCY["code"], AGENCY["region_code"])


def subscriber(agency: dict[str, str], organ_scope: bool = False, event_types: list[str] | None = None) -> Subscriber:
    return Subscriber(
        id="sub",
        event_types=event_types or ["*"],
        agency_code=agency["code"],
        region_code=agency["region_code"],
        organ_scope=organ_scope,
        created_by="integration",
    )


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        (AGENCY, True),  # its own case
        (CITY_AGENCY, True),  # the city above Liling
        (PROVINCE_AGENCY, True),  # the province above both
        (FOREIGN_AGENCY, False),  # a sibling district under the same city
        (POLICE, False),  # another agency of the same county, not a receiving organ here
    ],
)
def test_a_case_event_reaches_the_agencies_that_see_the_case(owner: dict[str, str], expected: bool) -> None:
    assert receives(subscriber(owner), FILED, {}, LILING_CASE) is expected


def test_a_subscription_still_needs_the_event_type() -> None:
    assert not receives(subscriber(AGENCY, event_types=["cn.caseledger.referral.*"]), FILED, {}, LILING_CASE)


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        (REFERRED, {"organ_code": POLICE["code"]}, True),
        (REFERRED, {"organ_code": PROCURATORATE["code"], "copy_to_code": POLICE["code"]}, True),
        (REFERRED, {"organ_code": PROCURATORATE["code"]}, False),
        (REFERRED, {"organ_code": PROCURATORATE["code"], "copy_to_code": None}, False),
        (REFERRED, {}, False),  # a referral naming no organ code reaches no organ
        (FILED, {"organ_code": POLICE["code"]}, False),  # an organ has no jurisdiction over the case
        ("cn.caseledger.case.penalty_decided.v1", {}, False),
    ],
)
def test_an_organ_receives_only_referrals_addressed_to_it(
    event_type: str, data: dict[str, str], expected: bool
) -> None:
    assert receives(subscriber(POLICE, organ_scope=True), event_type, data, LILING_CASE) is expected


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        ([FILED], True),
        (["cn.caseledger.case.filed.v2"], False),
        (["cn.caseledger.case.filed"], False),  # exact means exact, not a prefix
        (["cn.caseledger.case.*"], True),
        (["cn.caseledger.*"], True),
        (["cn.caseledger.referral.*"], False),
        (["*"], True),
        (["cn.caseledger.referral.*", FILED], True),
        ([], False),
    ],
)
def test_matches_exact_prefix_and_everything(patterns: list[str], expected: bool) -> None:
    assert matches(FILED, patterns) is expected


@pytest.mark.parametrize("pattern", [FILED, "cn.caseledger.case.*", "*", "cn.caseledger.case*"])
def test_accepted_patterns(pattern: str) -> None:
    assert is_event_type_pattern(pattern)


@pytest.mark.parametrize("pattern", ["", "**", "cn.*.filed.v1", "*.filed.v1", "cn caseledger", ".case.*"])
def test_rejected_patterns(pattern: str) -> None:
    assert not is_event_type_pattern(pattern)


def test_generated_secret_is_valid_and_verifiable() -> None:
    secret = generate_secret()
    assert check_secret(secret) == secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # too short
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # too long
        base64.b64encode(b"x" * 32).decode(),  # no prefix
        "whsec_not*base64!",
    ],
)
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        check_secret(secret)


def test_request_names_each_bad_field() -> None:
    with pytest.raises(ValidationError) as info:
        SubscriptionRequest.model_validate(
            {"callback_url": "ftp://example.org/hook", "event_types": ["cn.*.x"], "secret": "whsec_AAAA"}
        )
    fields = {error["loc"] for error in info.value.errors()}
    assert fields == {("callback_url",), ("event_types", 0), ("secret",)}


def test_request_needs_at_least_one_event_type() -> None:
    with pytest.raises(ValidationError) as info:
        SubscriptionRequest.model_validate({"callback_url": "https://example.org/hook", "event_types": []})
    assert [e["loc"] for e in info.value.errors()] == [("event_types",)]
