"""Referral commands over the referral event store (sync; called off the event loop)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.infra.eventstore import ServiceApplication
from services.infra.http import request_fingerprint
from services.infra.telemetry import tracer
from services.referral.domain import (
    Addressee,
    AlreadyReferred,
    KnownCase,
    Officer,
    ReceivingOrgan,
    Referral,
    referral_id_for,
)


class ReferralApplication(ServiceApplication):
    name = "referrals"
    source = "/caseledger/referral"

    def refer(
        self,
        *,
        case: KnownCase,
        receiving_organ: ReceivingOrgan,
        organ_name: str,
        addressee: Addressee,
        suspected_offence: str,
        reason: str,
        officers: list[Officer],
        materials: list[str],
        referred_on: date,
        payload: dict[str, Any],
    ) -> tuple[Referral, bool]:
        """移送. Returns (referral, replayed): the same request again is answered with the
        first referral; a different referral of the same case to the same organ is refused."""
        request_print = request_fingerprint(payload)
        existing = self._find(referral_id_for(case["case_id"], receiving_organ))
        if existing is not None:
            return self._replay_or_refuse(existing, request_print), True
        referral = Referral.refer(
            case=case,
            receiving_organ=receiving_organ,
            organ_name=organ_name,
            addressee=addressee,
            suspected_offence=suspected_offence,
            reason=reason,
            officers=officers,
            materials=materials,
            referred_on=referred_on,
            command_fingerprint=request_print,
        )
        try:
            with tracer().start_as_current_span("event-store append", attributes={"case.id": case["case_id"]}):
                self.save(referral)
        except IntegrityError:
            winner = self._find(referral.id)
            assert winner is not None
            return self._replay_or_refuse(winner, request_print), True
        return referral, False

    def _find(self, referral_id: UUID) -> Referral | None:
        try:
            referral: Referral = self.repository.get(referral_id)
        except AggregateNotFoundError:
            return None
        return referral

    @staticmethod
    def _replay_or_refuse(existing: Referral, request_print: str) -> Referral:
        if existing.command_fingerprint != request_print:
            raise AlreadyReferred(existing.id)
        return existing
