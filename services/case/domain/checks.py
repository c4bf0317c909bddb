"""The rules a command checks before its event is recorded (validation that needs no case
state), and the small computations the phases share."""

from __future__ import annotations

from datetime import date, timedelta

from services.case.domain.vocabulary import (
    BUSINESS_DATE_FLOOR,
    DECISION_NUMBER,
    MAJOR_FINE_RULES,
    MAJOR_PENALTIES,
    PAYMENT_RULE,
    RECONSIDERATION_RULE,
    SUIT_RULE,
    SURCHARGE_RULE,
    Agency,
    DisclosureFacts,
    Party,
    Penalty,
    Performance,
    RecordedParty,
    Remedies,
    Reviewer,
    SurchargeTerms,
)
from services.common.identifiers import (
    is_minor_on,
    is_valid_resident_id,
    is_valid_uscc,
    refuse_personal_identifiers,
)
from services.common.officers import Officer
from services.common.rules import AppliedRule, Catalogue, DailySurcharge, RuleNotConfigured, Yuan
from services.infra.crypto import FieldCipher, is_sealed
from services.infra.errors import RuleViolation

# -- rules -------------------------------------------------------------------------------


def validate_party(party: Party, pointer: str = "/party") -> None:
    if party["kind"] == "enterprise" and not is_valid_uscc(party["code"]):
        raise RuleViolation(f"{pointer}/code", "uscc", "not a valid unified social credit code (check character)")
    if party["kind"] == "natural_person" and not is_valid_resident_id(party["code"]):
        raise RuleViolation(f"{pointer}/code", "resident-id", "not a valid resident ID number (check character)")


def refuse_personal_data_in_text(pointer: str, text: str, party: Party | None = None) -> None:
    """Narrative text is not sealed, so it must not carry personal identifiers: they go in
    the party's fields. Refused with 422 rather than silently kept in clear."""
    refuse_personal_identifiers([(pointer, text)])
    if party is not None and party["kind"] == "natural_person" and party.get("address") and party["address"] in text:
        raise RuleViolation(
            pointer, "no-personal-data-in-text", "the text contains the party's address; give it only in its field"
        )


def check_business_date(
    pointer: str, day: date, latest: date, *, not_before: tuple[str, date | str | None] | None = None
) -> None:
    """A step's business date: not after ``latest`` (today in China with the clock
    tolerance), not before BUSINESS_DATE_FLOOR, not before the step it follows."""
    if day > latest:
        raise RuleViolation(pointer, "not-in-future", f"{day} is in the future (today is {latest} at the latest)")
    if day < BUSINESS_DATE_FLOOR:
        raise RuleViolation(
            pointer, "date-floor", f"{day} is before the Administrative Penalty Law took effect ({BUSINESS_DATE_FLOOR})"
        )
    if not_before is not None and not_before[1] is not None:
        name, earlier = not_before
        earlier_day = date.fromisoformat(earlier) if isinstance(earlier, str) else earlier
        if earlier_day is not None and day < earlier_day:
            raise RuleViolation(
                pointer, "not-before-previous-step", f"{day} is before the step it follows ({name} {earlier_day})"
            )


def validate_penalties(penalties: list[Penalty], pointer: str = "/penalties") -> None:
    fines = [p for p in penalties if p["kind"] == "fine"]
    if len(fines) > 1:
        raise RuleViolation(pointer, "one-fine", "one violation, one fine (行政处罚法 Art. 29)")
    for index, penalty in enumerate(penalties):
        amount = penalty.get("amount_yuan")
        if penalty["kind"] in ("fine", "confiscation_of_illegal_gains") and not amount:
            raise RuleViolation(f"{pointer}/{index}/amount_yuan", "amount-required", "a positive amount is required")
        if penalty["kind"] not in ("fine", "confiscation_of_illegal_gains") and amount:
            raise RuleViolation(f"{pointer}/{index}/amount_yuan", "no-amount", f"'{penalty['kind']}' takes no amount")
        refuse_personal_data_in_text(f"{pointer}/{index}/description", penalty.get("description", ""))


def fine_total(penalties: list[Penalty]) -> int:
    return sum(p.get("amount_yuan", 0) for p in penalties if p["kind"] == "fine")


def heavier_than(penalties: list[Penalty], notified: list[Penalty]) -> str | None:
    """Why ``penalties`` are heavier than ``notified``, or None: a kind not notified, or a
    higher amount of one that was."""
    notified_amounts = {p["kind"]: p.get("amount_yuan", 0) for p in notified}
    for penalty in penalties:
        if penalty["kind"] not in notified_amounts:
            return f"'{penalty['kind']}' was not in the prior notice"
        if penalty.get("amount_yuan", 0) > notified_amounts[penalty["kind"]]:
            notified_amount = notified_amounts[penalty["kind"]]
            return f"'{penalty['kind']}' of {penalty.get('amount_yuan')} exceeds the {notified_amount} notified"
    return None


def major_because(
    party_kind: str, penalties: list[Penalty], catalogue: Catalogue, day: date, region: str
) -> str | None:
    """Why a decision is major (重大执法决定: legal review, collective discussion and the
    hearing right), or None: a fine at or above the catalogue's threshold for the party's
    kind (inclusive), suspension of production, revocation of a licence."""
    applied = catalogue.procedural(MAJOR_FINE_RULES[party_kind], day, region)
    threshold = applied.value.yuan if isinstance(applied.value, Yuan) else None
    fine = fine_total(penalties)
    if threshold is not None and fine >= threshold:
        return f"a fine of {fine} yuan reaches {applied.rule_id} v{applied.rule_version} ({threshold} yuan)"
    heavy = sorted({p["kind"] for p in penalties} & MAJOR_PENALTIES)
    if heavy:
        return f"{', '.join(heavy)} is a major decision"
    return None


def measure_deadline(number: int) -> str:
    return f"measure_{number}"


def payment_deadline(respondent: int) -> str:
    return f"payment_{respondent}"


def court_deadline(respondent: int) -> str:
    return f"court_application_{respondent}"


def is_investigator(person: Reviewer, investigators: list[Officer]) -> bool:
    """Whether ``person`` (by name, or by certificate number) investigated the case."""
    names = {o["name"].strip() for o in investigators}
    certificates = {o["certificate_no"].strip() for o in investigators}
    return person["name"].strip() in names or person.get("certificate_no", "").strip() in certificates


def check_number(number: str, agency: Agency, decided_on: date) -> None:
    """The number the register assigned is the deciding agency's, of the decision's year."""
    match = DECISION_NUMBER.match(number)
    short_name = agency.get("short_name")
    if not match or (short_name and match.group(1) != short_name) or int(match.group(2)) != decided_on.year:
        detail = f"{number} is not this agency's number of {decided_on.year}"
        raise RuleViolation("/decision_number", "decision-number", detail)


def performance(how: str, catalogue: Catalogue, decided_on: date, region: str) -> Performance:
    applied = catalogue.procedural(PAYMENT_RULE, decided_on, region)
    return Performance(
        how=how,
        within=within(applied),
        rule_id=applied.rule_id,
        rule_version=applied.rule_version,
    )


def remedies(organ: str, court: str, catalogue: Catalogue, decided_on: date, region: str) -> Remedies:
    reconsideration = catalogue.procedural(RECONSIDERATION_RULE, decided_on, region)
    suit = catalogue.procedural(SUIT_RULE, decided_on, region)
    return Remedies(
        reconsideration_organ=organ,
        reconsideration_within=within(reconsideration),
        court=court,
        suit_within=within(suit),
    )


def surcharge_terms(catalogue: Catalogue, due_on: date, region: str) -> SurchargeTerms:
    """The surcharge rule in force on the first day late (the day after ``due_on``)."""
    applied = catalogue.procedural(SURCHARGE_RULE, due_on + timedelta(days=1), region)
    value = applied.value
    if not isinstance(value, DailySurcharge):
        raise RuleNotConfigured(f"{applied.rule_id} v{applied.rule_version} has no daily surcharge configured")
    return SurchargeTerms(
        rule_id=applied.rule_id,
        rule_version=applied.rule_version,
        percent_per_day=str(value.percent_per_day),
        capped_at_percent=str(value.capped_at_percent),
    )


def within(applied: AppliedRule) -> str:
    """A period as a decision document states it: "15 days from service (payment.due v1)"."""
    dumped = applied.value.model_dump() if applied.value is not None else {}
    period = ", ".join(f"{amount} {unit.replace('_', ' ')}" for unit, amount in dumped.items()) or "(not configured)"
    return f"{period} from service ({applied.rule_id} v{applied.rule_version})"


def check_disclosure(disclosure: DisclosureFacts | None, decided_on: date) -> None:
    """The publication facts are published as given: no personal data in the violation
    type, and a validity that does not end before the decision."""
    if not disclosure:
        return
    refuse_personal_data_in_text("/disclosure/violation_type", disclosure.get("violation_type", ""))
    validity = disclosure.get("penalty_validity")
    if validity and date.fromisoformat(validity) < decided_on:
        raise RuleViolation(
            "/disclosure/penalty_validity", "validity-before-decision", f"{validity} is before the decision"
        )


def party_is_minor(party: RecordedParty, day: date, cipher: FieldCipher) -> bool:
    code = party["code"]
    if party["kind"] != "natural_person" or not is_sealed(code):
        return False
    return is_minor_on(cipher.open(code["sealed"], "party.code"), day)  # type: ignore[index]


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)
