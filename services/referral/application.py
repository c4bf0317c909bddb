"""Referral commands over the referral event store (sync; called off the event loop).

Who acts on a referral: the referring agency (its officers and head) on its own cases;
the public security organ on the referrals addressed to it; the procuratorate on those
copied (or addressed) to it. A referral the caller has nothing to do with does not exist
for them (404); one they see but may not act on (a subordinate agency's) is 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from services.access.policy import acts_for_agency, sees_agency
from services.common.deadlines import DeadlineApplication
from services.infra.clock import now_in_china, today_in_china
from services.infra.errors import Forbidden, NotFound
from services.infra.idempotency import Idempotency
from services.infra.identity import Principal
from services.referral.domain import KnownCase, Referral, UnknownCase, referral_id_for
from services.referral.schemas import ReferRequest

# Who acts in a step: the referring agency, the organ it is addressed to, the procuratorate
# that has the copy, or either organ (criminal outcomes).
Actor = Literal["agency", "police", "procuratorate", "organ"]
StepName = Literal[
    "head-decision",
    "dispatch",
    "receipt",
    "filing-decision",
    "reconsideration-request",
    "reconsideration-answer",
    "supervision",
    "hand-over",
    "outcomes",
    "return",
    "paid-fines",
]
# Each step (its route's last segment): who acts, and the referral's command (its keyword
# arguments are the request's fields).
STEPS: dict[str, tuple[Actor, str]] = {
    "head-decision": ("agency", "decide"),
    "dispatch": ("agency", "dispatch"),
    "receipt": ("police", "receive"),
    "filing-decision": ("police", "decide_filing"),
    "reconsideration-request": ("agency", "request_reconsideration"),
    "reconsideration-answer": ("police", "answer_reconsideration"),
    "supervision": ("procuratorate", "supervise"),
    "hand-over": ("agency", "hand_over"),
    "outcomes": ("organ", "record_outcome"),
    "return": ("agency", "take_back"),
    "paid-fines": ("agency", "record_paid_fine"),
}
# The commands that compute a deadline from the rules catalogue.
NEEDS_CATALOGUE = frozenset(
    {"decide", "receive", "decide_filing", "request_reconsideration", "answer_reconsideration", "supervise"}
)


def _permit(caller: Principal, actor: Actor) -> Callable[[Referral], None]:
    def permit(referral: Referral) -> None:
        if actor == "agency":
            if not sees_agency(caller, referral.agency_code, referral.region_code):
                raise NotFound(f"no referral {referral.id}")
            if not acts_for_agency(caller, referral.agency_code):
                raise Forbidden("only the referring agency acts on its referral")
            return
        addressed = referral.organ_code == caller.agency_code
        copied = referral.copy_to_code == caller.agency_code
        procuratorate = copied or (addressed and referral.receiving_organ == "procuratorate")
        allowed = {"police": addressed, "procuratorate": procuratorate, "organ": addressed or copied}[actor]
        if not allowed:
            raise NotFound(f"no referral {referral.id}")

    return permit


class ReferralApplication(DeadlineApplication):
    """Every deadline of a referral is computed from the catalogue; its
    ``record_deadline_events`` (DeadlineApplication's) is the scheduler's check."""

    name = "referrals"
    source = "/caseledger/referral"
    aggregate_name = "referral"

    def get_referral(self, referral_id: UUID) -> Referral:
        referral: Referral = self.load(referral_id, "referral")
        return referral

    def refer(
        self, caller: Principal, request: ReferRequest, case: KnownCase | None, idempotency_key: str | None
    ) -> tuple[Referral, bool]:
        """移送报告 of ``case`` (what the service knows of request.case_id, or None), by the
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
            lambda: Referral.report(
                case=case,
                receiving_organ=request.receiving_organ,
                organ_name=request.organ_name,
                addressee={"organ_code": request.organ_code, "copy_to_code": request.copy_to_code},
                offence=request.offence,
                suspected_offence=request.suspected_offence,
                persons_referred=request.persons_referred,
                reason=request.reason,
                officers=request.officers,
                materials=request.materials,
                reported_on=request.reported_on or today_in_china(),
                catalogue=self.catalogue,
                **idempotency.recorded(),
            ),
            answer_existing,
            {"case.id": case["case_id"]},
        )

    # -- the steps ---------------------------------------------------------------------------

    def step(
        self,
        name: StepName,
        caller: Principal,
        referral_id: UUID,
        request: BaseModel,
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> tuple[Referral, bool]:
        """Run step ``name`` (STEPS: who acts, and the referral's command) with the request's
        fields; a day or instant left out is today or now, China time. Returns (referral,
        replayed), like every command."""
        actor, command = STEPS[name]
        fields = {key: _default(key, value) for key, value in request.model_dump().items()}
        if command in NEEDS_CATALOGUE:
            fields["catalogue"] = self.catalogue
        idempotency = Idempotency.of(idempotency_key, request.model_dump(mode="json"))
        return self.change(
            referral_id,
            "referral",
            idempotency,
            expected_version,
            _permit(caller, actor),
            lambda referral: getattr(referral, command)(**fields, **idempotency.recorded()),
        )


def _default(key: str, value: Any) -> Any:
    if value is not None:
        return value
    if key.endswith("_at"):
        return now_in_china()
    if key == "on" or key.endswith("_on"):
        return today_in_china()
    return None
