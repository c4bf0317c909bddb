"""Enforcement officers (执法人员) and the rule that two of them act together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import StringConstraints
from typing_extensions import TypedDict

from services.common.identifiers import refuse_personal_identifiers
from services.infra.errors import RuleViolation


class Officer(TypedDict):
    """执法人员 with an enforcement certificate number (执法证号)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    certificate_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=40)]


def require_two_officers(officers: Sequence[Officer], doing: str) -> None:
    """At least two officers with distinct enforcement certificates act (行政处罚法 Art. 42;
    a referral is prepared by two as well, DOMAIN.md §4). Their names and certificate
    numbers are recorded in clear: no personal identifier in them."""
    refuse_personal_identifiers(
        (f"/officers/{index}/{field}", officer[field])
        for index, officer in enumerate(officers)
        for field in ("name", "certificate_no")
    )
    if len({o["certificate_no"].strip() for o in officers}) < 2:
        raise RuleViolation(
            "/officers", "two-officers", f"at least two officers with distinct enforcement certificates must {doing}"
        )
