"""Case commands: load the case from its event store, check the caller may act on it, let
it decide, save the events; and its history for auditors.

Synchronous by design (the eventsourcing library is): the routes call these from sync
handlers, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from cloudevents.core.formats.json import JSONFormat

from services.access.policy import acts_for_agency, reads_personal_data, sees_agency
from services.case.domain import Case
from services.case.schemas import DeadlineExtensionRequest, FileCaseRequest, LegalReviewRequest, PenaltyDecisionRequest
from services.common.deadlines import DEFAULT_LEAD_WORKING_DAYS, DeadlineApplication, DeadlineSettings
from services.common.personal_data import party_as_shown
from services.common.rules import AppliedRule, Catalogue, Rule, RuleVersion, UnknownRule
from services.infra.clock import today_in_china
from services.infra.crypto import FieldCipher
from services.infra.errors import Forbidden, NotFound
from services.infra.eventstore import to_cloud_event
from services.infra.idempotency import Idempotency, keyed_id
from services.infra.identity import Principal

# With an Idempotency-Key a filing's case id is derived from (agency, key).
CASE_ID_NAMESPACE = uuid.UUID("3d4f3a52-8c1e-5f7e-b3f6-0c6c9c1d2e10")


def _rule_view(
    source: RuleVersion | AppliedRule, *, version: int, notes: str | None, override: dict[str, Any] | None
) -> dict[str, Any]:
    """A rule version as GET /v1/rules shows it, catalogued or applied to a region."""
    return {
        "version": version,
        "statute": source.statute,
        "article": source.article,
        "value": source.value.model_dump(mode="json") if source.value is not None else None,
        "counting": source.counting.value if source.counting else None,
        "effective_from": source.effective_from,
        "effective_to": source.effective_to,
        "to_confirm": source.to_confirm,
        "notes": notes,
        "override": override,
    }


def _version_view(version: RuleVersion) -> dict[str, Any]:
    return _rule_view(version, version=version.version, notes=version.notes, override=None)


def _applied_view(applied: AppliedRule) -> dict[str, Any]:
    override = applied.override.model_dump(include={"region", "source"}) if applied.override else None
    return _rule_view(applied, version=applied.rule_version, notes=None, override=override)


def _permit(caller: Principal, *, acting: bool) -> Callable[[Case], None]:
    """A case outside the caller's jurisdiction does not exist for them (NotFound); a case
    they may see but not act on (a subordinate agency's) is Forbidden."""

    def permit(case: Case) -> None:
        if not sees_agency(caller, case.agency["code"], case.agency["region_code"]):
            raise NotFound(f"no case {case.id}")
        if acting and not acts_for_agency(caller, case.agency["code"]):
            raise Forbidden("only the case's own agency acts on it")

    return permit


class CaseSettings(DeadlineSettings):
    """The shared settings and the deadline lead (DEADLINE_LEAD_WORKING_DAYS)."""


class CaseApplication(DeadlineApplication):
    """Its ``record_deadline_events`` (DeadlineApplication's) is the scheduler's check."""

    name = "cases"
    source = "/caseledger/case"
    aggregate_name = "case"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        cipher: FieldCipher,
        catalogue: Catalogue,
        lead_working_days: int = DEFAULT_LEAD_WORKING_DAYS,
    ) -> None:
        super().__init__(env=env, catalogue=catalogue, lead_working_days=lead_working_days)
        self.cipher = cipher

    def extend_deadline(
        self,
        caller: Principal,
        case_id: UUID,
        name: str,
        request: DeadlineExtensionRequest,
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> tuple[Case, bool]:
        """延期 / 中止 of a deadline, approved by the agency head. Returns (case, replayed)."""
        return self._act(
            caller,
            case_id,
            Idempotency.of(idempotency_key, {"name": name, **request.model_dump(mode="json")}),
            expected_version,
            lambda case, recorded: case.extend_deadline(
                name=name,
                change=request.change,
                due_on=request.due_on,
                reason=request.reason,
                approver=request.approver,
                **recorded,
            ),
        )

    # -- the rules catalogue (GET /v1/rules) ------------------------------------------------

    def rules(self, on: date | None, region: str | None) -> list[dict[str, Any]]:
        """Every rule with all its versions, or with ``on`` the version in force that day
        (with the caller's region's override folded in); rules not in force then are left out."""
        if on is None:
            return [self._rule_view(rule, [_version_view(v) for v in rule.versions]) for rule in self.catalogue.rules()]
        return [
            self._rule_view(self.catalogue.rule(applied.rule_id), [_applied_view(applied)])
            for applied in self.catalogue.in_force_on(on, region)
        ]

    def rule(self, rule_id: str, on: date | None, region: str | None) -> dict[str, Any]:
        """One rule, all versions or (``on``) the one in force that day; NotFound if none."""
        try:
            rule = self.catalogue.rule(rule_id)
        except UnknownRule:
            raise NotFound(f"no rule {rule_id} in the catalogue") from None
        if on is None:
            return self._rule_view(rule, [_version_view(v) for v in rule.versions])
        applied = next((a for a in self.catalogue.in_force_on(on, region) if a.rule_id == rule_id), None)
        if applied is None:
            raise NotFound(f"no version of rule {rule_id} is in force on {on}")
        return self._rule_view(rule, [_applied_view(applied)])

    def _rule_view(self, rule: Rule, versions: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": rule.id,
            "name": rule.name,
            "kind": rule.kind.value,
            "trigger": rule.trigger,
            "direction": rule.direction.value,
            "lighter": rule.lighter.value if rule.lighter else None,
            "file": f"rules/{self.catalogue.source_file(rule.id).name}",
            "versions": versions,
        }

    def provisional_year_warnings(self, years_ahead: int = 2) -> list[str]:
        """A warning for /readyz per year from now to ``years_ahead`` on whose working days
        deadlines are guessed (Monday to Friday) until its holiday list is added."""
        this_year = today_in_china().year
        return [
            f"calendar {year}: no official holiday list (chinesecalendar or rules/calendar/{year}.yaml); "
            "deadlines falling in it are counted Monday to Friday and marked provisional"
            for year in self.catalogue.calendar.provisional_years(this_year, this_year + years_ahead)
        ]

    def get_case(self, case_id: UUID) -> Case:
        case: Case = self.load(case_id, "case")
        return case

    def party_seen_by(self, caller: Principal, case: Case) -> dict[str, Any]:
        """The case's party as the caller may see it (personal data opened or masked)."""
        return party_as_shown(dict(case.party), self.cipher, reads_personal_data(caller))

    def file_case(self, caller: Principal, request: FileCaseRequest, idempotency_key: str | None) -> tuple[Case, bool]:
        """立案, by the caller's own agency. Returns (case, replayed). With an
        Idempotency-Key the case id is derived from the agency and the key, so a retry can
        only ever find the first case."""
        agency = request.agency
        if agency["code"] != caller.agency_code or agency["region_code"] != caller.region_code:
            raise Forbidden(
                "a case is filed by the caller's own agency: /agency must match the token's agency",
                errors=[{"pointer": "/agency/code", "in": "body", "rule": "own-agency", "detail": "not your agency"}],
            )
        idempotency = Idempotency.of(idempotency_key, request.model_dump(mode="json"))
        case_id = keyed_id(CASE_ID_NAMESPACE, agency["code"], idempotency.key) if idempotency.key else uuid.uuid4()
        permit = _permit(caller, acting=True)

        def answer_existing(existing: Case) -> None:
            permit(existing)
            existing.already_did(idempotency)  # raises on a different request

        return self.create(
            case_id,
            lambda: Case.file(
                case_id=case_id,
                agency=agency,
                party=request.party,
                violation_summary=request.violation_summary,
                violation_date=request.violation_date,
                harm_caused=request.harm_caused,
                legal_basis=request.legal_basis,
                officers=request.officers,
                filed_on=request.filed_on or today_in_china(),
                cipher=self.cipher,
                catalogue=self.catalogue,
                **idempotency.recorded(),
            ),
            answer_existing,
            {"case.id": str(case_id)},
        )

    def record_legal_review(
        self,
        caller: Principal,
        case_id: UUID,
        request: LegalReviewRequest,
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> tuple[Case, bool]:
        """法制审核. Returns (case, replayed)."""
        return self._act(
            caller,
            case_id,
            Idempotency.of(idempotency_key, request.model_dump(mode="json")),
            expected_version,
            lambda case, recorded: case.record_legal_review(
                outcome=request.outcome,
                reviewer=request.reviewer,
                opinion=request.opinion,
                reviewed_on=request.reviewed_on or today_in_china(),
                **recorded,
            ),
        )

    def decide_penalty(
        self,
        caller: Principal,
        case_id: UUID,
        request: PenaltyDecisionRequest,
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> tuple[Case, bool]:
        """行政处罚决定. Returns (case, replayed)."""
        return self._act(
            caller,
            case_id,
            Idempotency.of(idempotency_key, request.model_dump(mode="json")),
            expected_version,
            lambda case, recorded: case.decide_penalty(
                decision_number=request.decision_number,
                decided_on=request.decided_on or today_in_china(),
                penalties=request.penalties,
                cipher=self.cipher,
                **recorded,
            ),
        )

    def _act(
        self,
        caller: Principal,
        case_id: UUID,
        idempotency: Idempotency,
        expected_version: int | None,
        decide: Callable[[Case, dict[str, str]], None],
    ) -> tuple[Case, bool]:
        """The path of every command on a filed case: by its own agency, answered from
        the events on a retry, refused on a stale If-Match; ``decide`` is handed what the
        event records of the command."""
        return self.change(
            case_id,
            "case",
            idempotency,
            expected_version,
            _permit(caller, acting=True),
            lambda case: decide(case, idempotency.recorded()),
        )

    def history(self, caller: Principal, case_id: UUID) -> list[dict[str, Any]]:
        """Every stored event of the case as CloudEvents, oldest first (for auditors
        replaying it), the party shown as the caller may see it."""
        _permit(caller, acting=False)(self.get_case(case_id))
        full = reads_personal_data(caller)
        fmt = JSONFormat()
        events = [json.loads(fmt.write(to_cloud_event(e, self.source))) for e in self.events.get(case_id)]
        for event in events:
            if "party" in event["data"]:
                event["data"]["party"] = party_as_shown(event["data"]["party"], self.cipher, full)
        return events
