"""Which subscriptions an event type reaches, and what a subscription request accepts."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from services.notification.api import SubscriptionRequest
from services.notification.subscriptions import (
    check_secret,
    generate_secret,
    is_event_type_pattern,
    matches,
)

FILED = "cn.caseledger.case.filed.v1"


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
