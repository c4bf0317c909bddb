"""Referral commands over the referral event store (sync; called off the event loop)."""

from __future__ import annotations

from services.access.policy import acts_for_agency, sees_agency
from services.common.deadlines import DeadlineApplication
from services.infra.clock import today_in_china
from services.infra.errors import Forbidden
from services.infra.idempotency import Idempotency
from services.infra.identity import Principal
from services.referral.domain import KnownCase, Referral, UnknownCase, referral_id_for
from services.referral.schemas import ReferRequest


class ReferralApplication(DeadlineApplication):
    """Every deadline of a referral is computed from the catalogue; its
    ``record_deadline_events`` (DeadlineApplication's) is the scheduler's check."""

    name = "referrals"
    source = "/caseledger/referral"
    aggregate_name = "referral"

    def refer(
        self, caller: Principal, request: ReferRequest, case: KnownCase | None, idempotency_key: str | None
    ) -> tuple[Referral, bool]:
        """移送 of ``case`` (what the service knows of request.case_id, or None), by the
        case's own agency. Returns (referral, replayed): a retry with the same
        Idempotency-Key and request, or the same request again, is answered with the first
        referral; the same key with a different request is refused, and so is a different
        referral of the case to the same organ."""
        # A case outside the caller's jurisdiction is answered exactly like an unknown one.
        if case is None or not sees_agency(caller, case["agency_code"], case["region_code"]):
            raise UnknownCase(request.case_id)
        if not acts_for_agency(caller, case["agency_code"]):
            raise Forbidden("only the case's own agency refers it")
        idempotency = Idempotency.of(idempotency_key, request.model_dump(mode="json"))

        def answer_existing(existing: Referral) -> None:
            if not existing.already_did(idempotency):
                existing.answer_retry(idempotency.fingerprint)

        return self.create(
            referral_id_for(case["case_id"], request.receiving_organ),
            lambda: Referral.refer(
                case=case,
                receiving_organ=request.receiving_organ,
                organ_name=request.organ_name,
                addressee={"organ_code": request.organ_code, "copy_to_code": request.copy_to_code},
                suspected_offence=request.suspected_offence,
                reason=request.reason,
                officers=request.officers,
                materials=request.materials,
                referred_on=request.referred_on or today_in_china(),
                catalogue=self.catalogue,
                **idempotency.recorded(),
            ),
            answer_existing,
            {"case.id": case["case_id"]},
        )
