"""The agency's register of decision numbers (行政处罚决定书文号): one aggregate per agency
and year, whose version is the last serial it gave. A decision and its number are saved
in one transaction with the register's new event, so the serials are unique (two
decisions that read the same register version collide on the append, and the loser
takes the next number) and gap-free (no number is taken without its decision).

The register is keyed by the agency's code, and remembers the short name (机关代字) its
first number was given under: the prefix is tied to the deciding agency.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from services.case.domain import decision_number
from services.common import event_types
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate

REGISTER_NAMESPACE = uuid.UUID("7a0e8f4c-31d2-5b6e-9c4a-5e2f1d0b8a37")


def register_id(agency_code: str, year: int) -> uuid.UUID:
    return uuid.uuid5(REGISTER_NAMESPACE, f"{agency_code}:{year}")


class DecisionRegister(TracedAggregate):
    """文号登记簿 of one agency for one year."""

    class NumberAssigned(TracedAggregate.Event):
        """A serial given to a case's decision (one respondent's). Keyed by the register
        (its subject and case_id are the register's id), so its serials are on one
        partition in order; ``decided_case`` is the case whose decision took it."""

        cloud_type = event_types.CASE_DECISION_NUMBER_ASSIGNED
        decided_case: str
        respondent: int
        agency_code: str
        year: int
        serial: int
        decision_number: str

        def apply(self, register: DecisionRegister) -> None:
            register.last_serial = self.serial

    class Opened(NumberAssigned, TracedAggregate.Created):
        """The register's first number: it opens the agency's year."""

        cloud_type: ClassVar[str] = event_types.CASE_DECISION_NUMBER_ASSIGNED
        short_name: str

    def __init__(
        self,
        decided_case: str,
        respondent: int,
        agency_code: str,
        year: int,
        serial: int,
        decision_number: str,
        short_name: str,
    ) -> None:
        self.agency_code = agency_code
        self.year = year
        self.short_name = short_name
        self.last_serial = serial

    @classmethod
    def open(cls, *, agency_code: str, short_name: str, year: int, case_id: str, respondent: int) -> tuple[Any, str]:
        """The agency's first number of ``year``: serial 1."""
        number = decision_number(short_name, year, 1)
        register = cls._create(
            cls.Opened,
            id=register_id(agency_code, year),
            decided_case=case_id,
            respondent=respondent,
            agency_code=agency_code,
            year=year,
            serial=1,
            decision_number=number,
            short_name=short_name,
        )
        return register, number

    def next_number(self, *, short_name: str) -> tuple[int, str]:
        if short_name != self.short_name:
            raise RuleViolation(
                "/agency/short_name",
                "agency-prefix",
                f"the agency numbers its decisions of {self.year} as ({self.short_name}), not ({short_name})",
            )
        serial = self.last_serial + 1
        return serial, decision_number(self.short_name, self.year, serial)

    def assign(self, *, case_id: str, respondent: int, short_name: str) -> tuple[int, str]:
        """The next serial, for ``case_id``'s respondent."""
        serial, number = self.next_number(short_name=short_name)
        self.trigger_event(
            self.NumberAssigned,
            decided_case=case_id,
            respondent=respondent,
            agency_code=self.agency_code,
            year=self.year,
            serial=serial,
            decision_number=number,
        )
        return serial, number
