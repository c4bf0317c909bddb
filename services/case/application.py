"""Case commands: load the case from its event store, let it decide, save the events.

Synchronous by design (the eventsourcing library is): the API calls these from sync route
handlers, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.case.domain import (
    Agency,
    Case,
    IdempotencyConflict,
    Officer,
    Party,
    Penalty,
    Reviewer,
    ReviewOutcome,
)
from services.infra.crypto import FieldCipher
from services.infra.eventstore import ServiceApplication
from services.infra.http import request_fingerprint
from services.infra.telemetry import tracer

CASE_ID_NAMESPACE = uuid.UUID("3d4f3a52-8c1e-5f7e-b3f6-0c6c9c1d2e10")


class CaseNotFound(Exception):
    pass


class StaleVersion(Exception):
    """If-Match named a version that is not the case's current one (answered 412)."""

    def __init__(self, expected: int, current: int) -> None:
        self.expected = expected
        self.current = current
        super().__init__(f"the case is at version {current}, not {expected}")


# Called with the loaded case before any command touches it: the API's access check
# (a case the caller may not see is "not found"; one they may only read is forbidden).
Permit = Callable[[Case], None]


class CaseApplication(ServiceApplication):
    name = "cases"
    source = "/caseledger/case"

    def __init__(self, env: dict[str, str] | None = None, *, cipher: FieldCipher) -> None:
        super().__init__(env=env)
        self.cipher = cipher

    def get_case(self, case_id: UUID) -> Case:
        try:
            case: Case = self.repository.get(case_id)
        except AggregateNotFoundError as exc:
            raise CaseNotFound(str(case_id)) from exc
        return case

    def _save(self, case: Case) -> None:
        with tracer().start_as_current_span("event-store append", attributes={"case.id": str(case.id)}):
            self.save(case)

    def file_case(
        self,
        *,
        agency: Agency,
        party: Party,
        violation_summary: str,
        violation_date: date,
        harm_caused: bool,
        legal_basis: str,
        officers: list[Officer],
        filed_on: date,
        idempotency_key: str | None,
        payload: dict[str, Any],
        permit: Permit,
    ) -> tuple[Case, bool]:
        """立案. Returns (case, replayed). With an Idempotency-Key the case id is derived
        from the agency and the key, so a retry can only ever find the first case."""
        request_print = request_fingerprint(payload)
        if idempotency_key:
            case_id = uuid.uuid5(CASE_ID_NAMESPACE, f"{agency['code']}:{idempotency_key}")
            try:
                existing = self.get_case(case_id)
            except CaseNotFound:
                pass
            else:
                permit(existing)
                existing.already_did(idempotency_key, request_print)  # raises on a different body
                return existing, True
        else:
            case_id = uuid.uuid4()
        case = Case.file(
            case_id=case_id,
            agency=agency,
            party=party,
            violation_summary=violation_summary,
            violation_date=violation_date,
            harm_caused=harm_caused,
            legal_basis=legal_basis,
            officers=officers,
            filed_on=filed_on,
            command_key=idempotency_key or "",
            command_fingerprint=request_print,
            cipher=self.cipher,
        )
        try:
            self._save(case)
        except IntegrityError:
            # A concurrent retry with the same key won the race: answer with its case.
            existing = self.get_case(case_id)
            existing.already_did(idempotency_key, request_print)
            return existing, True
        return case, False

    def _command(
        self,
        case_id: UUID,
        expected_version: int | None,
        idempotency_key: str | None,
        payload: dict[str, Any],
        act: Any,
        permit: Permit,
    ) -> tuple[Case, bool]:
        case = self.get_case(case_id)
        permit(case)
        request_print = request_fingerprint(payload)
        if case.already_did(idempotency_key, request_print):
            return case, True
        if expected_version is not None and expected_version != case.version:
            raise StaleVersion(expected_version, case.version)
        act(case, idempotency_key or "", request_print)
        try:
            self._save(case)
        except IntegrityError as exc:
            # Someone else appended between our read and our write.
            current = self.get_case(case_id)
            if current.already_did(idempotency_key, request_print):
                return current, True
            raise StaleVersion(case.version - 1, current.version) from exc
        return case, False

    def record_legal_review(
        self,
        case_id: UUID,
        *,
        outcome: ReviewOutcome,
        reviewer: Reviewer,
        opinion: str,
        reviewed_on: date,
        expected_version: int | None,
        idempotency_key: str | None,
        payload: dict[str, Any],
        permit: Permit,
    ) -> tuple[Case, bool]:
        return self._command(
            case_id,
            expected_version,
            idempotency_key,
            payload,
            lambda case, key, request_print: case.record_legal_review(
                outcome=outcome,
                reviewer=reviewer,
                opinion=opinion,
                reviewed_on=reviewed_on,
                command_key=key,
                command_fingerprint=request_print,
            ),
            permit,
        )

    def decide_penalty(
        self,
        case_id: UUID,
        *,
        decision_number: str,
        decided_on: date,
        penalties: list[Penalty],
        expected_version: int | None,
        idempotency_key: str | None,
        payload: dict[str, Any],
        permit: Permit,
    ) -> tuple[Case, bool]:
        return self._command(
            case_id,
            expected_version,
            idempotency_key,
            payload,
            lambda case, key, request_print: case.decide_penalty(
                decision_number=decision_number,
                decided_on=decided_on,
                penalties=penalties,
                command_key=key,
                command_fingerprint=request_print,
                cipher=self.cipher,
            ),
            permit,
        )

    def history(self, case_id: UUID, permit: Permit) -> list[Any]:
        """Every stored event of the case, oldest first (for auditors replaying it)."""
        permit(self.get_case(case_id))
        return list(self.events.get(case_id))


__all__ = ["CaseApplication", "CaseNotFound", "IdempotencyConflict", "StaleVersion"]
