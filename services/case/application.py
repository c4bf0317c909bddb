"""Case commands: load the case from its event store, check the caller may act on it, let
it decide, save the events; and its history for auditors.

Synchronous by design (the eventsourcing library is): the routes call these from sync
handlers, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from cloudevents.core.formats.json import JSONFormat
from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError

from services.access.policy import acts_for_agency, reads_personal_data, sees_agency
from services.case.domain import Agency, Case
from services.case.personal_data import lookup_code
from services.case.register import DecisionRegister, register_id
from services.case.schemas import CommandRequest, FileCaseRequest, OnTheSpotRequest, PenaltyDecisionRequest
from services.common import event_types
from services.common.agencies import AgencyRegistry, require_own_agency
from services.common.deadlines import DEFAULT_LEAD_WORKING_DAYS, DeadlineApplication, DeadlineSettings
from services.common.personal_data import event_data_as_shown, party_as_shown
from services.common.rules import AppliedRule, Catalogue, Rule, RuleVersion, UnknownRule
from services.infra.casefile import build_archive
from services.infra.chain import TamperEvidentLog
from services.infra.clock import now_in_china, today_in_china
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.errors import Forbidden, IllegalInCurrentState, NotFound, RuleViolation, StaleVersion
from services.infra.eventstore import event_data, to_cloud_event
from services.infra.idempotency import Idempotency, keyed_id
from services.infra.identity import Principal, system_actor
from services.infra.telemetry import tracer
from services.infra.tree_heads import HeadSigner

# With an Idempotency-Key a filing's case id is derived from (agency, key).
CASE_ID_NAMESPACE = uuid.UUID("3d4f3a52-8c1e-5f7e-b3f6-0c6c9c1d2e10")
# How often a decision is tried again when another decision took the register's next
# number between its read and its write (20 at once take at most 20 tries).
NUMBERING_ATTEMPTS = 100
# Registers kept in memory (one per agency and year that decided lately).
REGISTER_CACHE_SIZE = 256
# A business date may be this far ahead of the service's clock (clocks of the callers'
# systems differ a little): CASE_CLOCK_TOLERANCE_MINUTES.
DEFAULT_CLOCK_TOLERANCE_MINUTES = 10


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
    """The shared settings, the deadline lead (DEADLINE_LEAD_WORKING_DAYS) and the clock
    tolerance of business dates."""

    # How far ahead of today (China time) a step's business date may be, in minutes.
    case_clock_tolerance_minutes: int = DEFAULT_CLOCK_TOLERANCE_MINUTES
    # The operator's agency registry (services/common/agencies.py); unset: the token's claims.
    agency_registry_file: Path | None = None


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
        clock_tolerance_minutes: int = DEFAULT_CLOCK_TOLERANCE_MINUTES,
        agencies: AgencyRegistry | None = None,
    ) -> None:
        super().__init__(env=env, catalogue=catalogue, lead_working_days=lead_working_days)
        self.cipher = cipher
        self.clock_tolerance_minutes = clock_tolerance_minutes
        self.agencies = agencies
        # A register is the one long aggregate (a version per decision of the agency's
        # year): replaying it for every decision made deciding quadratic in the year. The
        # library's cache keeps it and fast-forwards it by the events after the cached
        # version (a short read of the event store, so another replica's numbers are seen).
        self.registers: Repository[UUID] = Repository(self.events, cache_maxsize=REGISTER_CACHE_SIZE)
        # Decisions of one agency and year in this process queue for its register instead
        # of colliding on the append and deciding again (replicas still collide: the
        # append's version check keeps the serials unique, and the loser retries).
        self._register_locks: dict[UUID, threading.Lock] = {}
        self._register_locks_guard = threading.Lock()

    # -- the referral's events (行刑衔接), run by a PolicyRunner -------------------------------
    # The policy "case-referral-policy" handles these types only. A referral of the
    # one-step era (referral.referred.v1) had no way back, so it suspends nothing.
    # A criminal judgment (referral.outcome_recorded.v1, outcome judged) ends the referral (issue 12).
    policy_handles = frozenset(
        {event_types.REFERRAL_REPORTED, event_types.REFERRAL_RETURNED, event_types.REFERRAL_OUTCOME_RECORDED}
    )

    def on_referral(self, event: ConsumedEvent) -> list[Case]:
        """A referral reported suspends its case (中止); a referral returned resumes it
        (反向衔接); a criminal judgment ends its undecided respondents (referred). The
        CloudEvent's id is the step's key: a redelivery changes nothing."""
        if event.type == event_types.REFERRAL_OUTCOME_RECORDED and event.data.get("outcome") != "judged":
            return []
        try:
            case = self.get_case(UUID(event.data["case_id"]))
        except (NotFound, ValueError):
            return []  # not a case of this service's store
        referral_id = event.aggregate_id or event.subject
        actor = system_actor(
            "case",
            case.agency["code"],
            case.agency["region_code"],
            f"learnt from the referral service ({event.type.removeprefix(event_types.PREFIX)})",
        )
        if event.type == event_types.REFERRAL_REPORTED:
            changed = case.suspend_for_referral(
                referral_id=referral_id,
                suspended_on=date.fromisoformat(event.data["reported_on"]),
                suspected_offence=event.data["suspected_offence"],
                command_key=event.id,
                actor=actor,
            )
        elif event.type == event_types.REFERRAL_OUTCOME_RECORDED:
            changed = case.conclude_by_referral(
                referral_id=referral_id,
                judged_on=date.fromisoformat(event.data["on"]),
                command_key=event.id,
                actor=actor,
            )
        else:
            changed = case.resume_after_referral(
                referral_id=referral_id,
                resumed_on=date.fromisoformat(event.data["returned_on"]),
                return_reason=event.data["reason"],
                penalty_due=bool(event.data["penalty_due"]),
                command_key=event.id,
                actor=actor,
            )
        return [case] if changed else []

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

    def parties_seen_by(self, caller: Principal, case: Case) -> list[dict[str, Any]]:
        """The case's respondents as the caller may see them (personal data opened or masked)."""
        full = reads_personal_data(caller)
        return [party_as_shown(dict(track.party), self.cipher, full) for track in case.tracks]

    def latest_business_date(self) -> date:
        """The latest business date a step may carry: today in China, with the clock tolerance."""
        return (now_in_china() + timedelta(minutes=self.clock_tolerance_minutes)).date()

    def file_case(self, caller: Principal, request: FileCaseRequest, idempotency_key: str | None) -> tuple[Case, bool]:
        """立案, by the caller's own agency. Returns (case, replayed). With an
        Idempotency-Key the case id is derived from the agency and the key, so a retry can
        only ever find the first case."""
        return self._create_case(
            caller,
            request.agency,
            request,
            idempotency_key,
            lambda case_id, recorded: Case.file(
                case_id=case_id,
                **{**request.arguments(today_in_china()), **recorded},
                cipher=self.cipher,
                catalogue=self.catalogue,
                latest=self.latest_business_date(),
            ),
        )

    def decide_on_the_spot(
        self, caller: Principal, request: OnTheSpotRequest, idempotency_key: str | None
    ) -> tuple[Case, bool]:
        """当场处罚 (简易程序): filed and decided at once, under the agency's next number."""
        arguments = request.arguments(today_in_china())
        agency = request.agency

        def build(case_id: UUID, recorded: dict[str, str]) -> Case:
            return self._numbered(
                agency,
                arguments["decided_on"].year,
                str(case_id),
                1,
                agency.get("short_name"),
                lambda number, serial: Case.decide_on_the_spot(
                    case_id=case_id,
                    **{**arguments, **recorded},
                    decision_number=number,
                    serial=serial,
                    cipher=self.cipher,
                    catalogue=self.catalogue,
                    latest=self.latest_business_date(),
                ),
            )

        return self._create_case(caller, agency, request, idempotency_key, build, saved_by_build=True)

    def _create_case(
        self,
        caller: Principal,
        agency: Agency,
        request: CommandRequest,
        idempotency_key: str | None,
        build: Callable[[UUID, dict[str, str]], Case],
        *,
        saved_by_build: bool = False,
    ) -> tuple[Case, bool]:
        # The agency's identity is the token's and the operator's registry's, never the body's.
        require_own_agency(dict(agency), caller, self.agencies)
        idempotency = Idempotency.of(idempotency_key, request.model_dump(mode="json"))
        case_id = keyed_id(CASE_ID_NAMESPACE, agency["code"], idempotency.key) if idempotency.key else uuid.uuid4()
        permit = _permit(caller, acting=True)

        def answer_existing(existing: Case) -> None:
            permit(existing)
            existing.already_did(idempotency)  # raises on a different request

        if saved_by_build:
            existing = self.find(case_id)
            if existing is not None:
                answer_existing(existing)
                return existing, True
            try:
                return build(case_id, idempotency.recorded()), False
            except IntegrityError:
                winner = self.get_case(case_id)
                answer_existing(winner)
                return winner, True
        return self.create(
            case_id, lambda: build(case_id, idempotency.recorded()), answer_existing, {"case.id": str(case_id)}
        )

    def command(
        self,
        caller: Principal,
        case_id: UUID,
        action: str,
        request: CommandRequest,
        idempotency_key: str | None,
        expected_version: int | None,
        **target: int | str,
    ) -> tuple[Case, bool]:
        """Run the case's command ``action`` with the request's arguments (and the path's
        ``target``: the respondent, the measure), the catalogue, the cipher and the latest
        business date where the command takes them. Returns (case, replayed)."""
        return self._act(
            caller,
            case_id,
            Idempotency.of(idempotency_key, {**target, **request.model_dump(mode="json")}),
            expected_version,
            lambda case, recorded: self._run(getattr(case, action), request, target, recorded),
        )

    def _run(
        self,
        method: Callable[..., None],
        request: CommandRequest,
        target: dict[str, int | str],
        recorded: dict[str, str],
    ) -> None:
        wanted = inspect.signature(method).parameters
        services = {"catalogue": self.catalogue, "cipher": self.cipher, "latest": self.latest_business_date()}
        method(
            **request.arguments(today_in_china()),
            **target,
            **{name: value for name, value in services.items() if name in wanted},
            **recorded,
        )

    def decide_penalty(
        self,
        caller: Principal,
        case_id: UUID,
        respondent: int,
        request: PenaltyDecisionRequest,
        idempotency_key: str | None,
        expected_version: int | None,
    ) -> tuple[Case, bool]:
        """行政处罚决定 for one respondent, under the next number of the agency's register
        for the decision's year, saved with the decision in one transaction; a register
        another decision moved meanwhile is read again and the decision retried."""
        idempotency = Idempotency.of(idempotency_key, {"respondent": respondent, **request.model_dump(mode="json")})
        arguments = request.arguments(today_in_china())
        short_name = arguments.pop("agency_short_name")
        permit = _permit(caller, acting=True)
        for _attempt in range(NUMBERING_ATTEMPTS):
            case = self.get_case(case_id)
            permit(case)
            if case.already_did(idempotency):
                return case, True
            if expected_version is not None and expected_version != case.version:
                raise StaleVersion("case", expected_version, case.version)
            version = case.version
            case.require_decidable(respondent)

            def decide(number: str, serial: int, case: Case = case) -> Case:
                case.decide_penalty(
                    respondent=respondent,
                    decision_number=number,
                    serial=serial,
                    **{**arguments, **idempotency.recorded()},
                    catalogue=self.catalogue,
                    cipher=self.cipher,
                    latest=self.latest_business_date(),
                )
                return case

            try:
                return self._numbered(
                    case.agency,
                    arguments["decided_on"].year,
                    str(case_id),
                    respondent,
                    case.agency.get("short_name") or short_name,
                    decide,
                ), False
            except IntegrityError:
                current = self.get_case(case_id)
                if current.already_did(idempotency):
                    return current, True
                if expected_version is not None and current.version != version:
                    raise StaleVersion("case", expected_version, current.version) from None
                time.sleep(random.uniform(0, 0.02))  # another decision took the number: the next one
        raise IllegalInCurrentState("the agency's decision register is busy: try the decision again")

    def _numbered(
        self,
        agency: Agency,
        year: int,
        case_id: str,
        respondent: int,
        short_name: str | None,
        decide: Callable[[str, int], Case],
    ) -> Case:
        """Take the agency's next serial of ``year``, let ``decide`` record the decision
        under it, and save the register and the case together (IntegrityError: the
        register or the case moved; the caller retries)."""
        if not short_name:
            raise RuleViolation(
                "/agency_short_name",
                "agency-prefix-required",
                "the agency's short name (机关代字) is needed for its decision numbers: it was not given at filing",
            )
        numbered = register_id(agency["code"], year)
        with self._register_lock(numbered):
            try:
                register: DecisionRegister = self.registers.get(numbered)
            except AggregateNotFoundError:
                register, number = DecisionRegister.open(
                    agency_code=agency["code"], short_name=short_name, year=year, case_id=case_id, respondent=respondent
                )
                case = decide(number, 1)
            else:
                serial, number = register.next_number(short_name=short_name)
                case = decide(number, serial)
                register.assign(case_id=case_id, respondent=respondent, short_name=short_name)
            with tracer().start_as_current_span("event-store append", attributes={"case.id": case_id}):
                self.save(case, register)
        return case

    def _register_lock(self, numbered: UUID) -> threading.Lock:
        with self._register_locks_guard:
            return self._register_locks.setdefault(numbered, threading.Lock())

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
            event["data"] = event_data_as_shown(event["data"], self.cipher, full)
        return events

    # -- for auditors: the case at a moment, its subject, its case file ---------------------

    def as_of(
        self, caller: Principal, case_id: UUID, moment: datetime | None, version: int | None
    ) -> tuple[Case, datetime]:
        """The case as recorded at ``moment`` or ``version``, if the caller may see it."""
        _permit(caller, acting=False)(self.get_case(case_id))
        at: tuple[Case, datetime] = self.state_at(case_id, "case", moment, version)
        return at

    def subject_of(self, case: Case) -> str:
        """Whom the case is about, as the read audit names them: an enterprise's code, a
        person's keyed ID-number digest (the ledger's, so auditors search both alike)."""
        return lookup_code(dict(case.party), self.cipher)

    def case_file(self, caller: Principal, case_id: UUID, tree_log: TamperEvidentLog, signer: HeadSigner) -> bytes:
        """案卷: every event of the case as stored, with its inclusion proof in a signed head,
        the decision documents' hashes and a readable summary (personal data masked)."""
        case = self.get_case(case_id)
        _permit(caller, acting=False)(case)
        events: list[Any] = list(self.events.get(case_id))
        party = party_as_shown(dict(case.party), self.cipher, False)
        lines = [
            f"# 案卷 case file {case_id}",
            "",
            f"- agency: {case.agency['name']} ({case.agency['code']})",
            f"- party: {party['name']} ({party['code']})",
            f"- status: {case.status}, version {case.version}",
            f"- filed on {case.filed_on}; decision {case.decision_number or 'none yet'}",
            "",
            "| version | recorded at | event | by | reason |",
            "|---|---|---|---|---|",
        ]
        documents = []
        for e in events:
            actor = e.actor
            lines.append(
                f"| {e.originator_version} | {e.timestamp.isoformat()} | {type(e).cloud_type} | "
                f"{actor['subject']} ({actor.get('role')}) | {actor.get('reason') or ''} |"
            )
            if isinstance(e, Case.PenaltyDecided):
                content = json.dumps(event_data(e), sort_keys=True, ensure_ascii=False).encode()
                documents.append(
                    {
                        "kind": "行政处罚决定书",
                        "number": e.decision_number,
                        "decided_on": e.decided_on,
                        "event_version": e.originator_version,
                        "sha256": hashlib.sha256(content).hexdigest(),
                    }
                )
        summary = "\n".join(lines) + "\n"
        return build_archive(tree_log, signer, case_id, summary, documents)
