"""The rules catalogue (shared/DOMAIN.md §1): every deadline, threshold and period as
versioned data under ``rules/``, loaded and validated at start-up, and the selection of
the version that applies to a case.

Layout of the catalogue directory (``RULES_DIR``, by default the repository's ``rules/``):

- ``*.yaml``: one file per rule family (``family``, ``title``, ``rules``); each rule has
  an ``id``, a ``name``, a ``kind`` (``substantive`` or ``procedural``) and its
  ``versions``, each with ``version``, ``statute``, ``article``, ``value``, ``counting``,
  ``effective_from`` (inclusive), ``effective_to`` (exclusive: the day a successor takes
  effect; ``null`` is open) and ``to_confirm``.
- ``calendar/<year>.yaml``: an operator's holiday list for a year chinesecalendar does
  not know (:mod:`services.common.calendar`).
- ``overrides/*.yaml`` (or ``RULES_OVERRIDES_DIR``): a region's values for rules marked
  ``to_confirm``, each with its local source and its own effective period. A region's
  override applies to it and to the regions under it (a province's ``430000`` to the
  county ``430281``); the most specific one in force wins.

Loading refuses a catalogue that is invalid, has one rule id twice, or two versions of
one rule (or two overrides of one rule for one region) whose periods overlap, with a
:class:`CatalogueError` naming the file and the rule.

Selection (行政处罚法第三十七条, 从旧兼从轻):

- a **procedural** rule applies in the version in force on the date of the step
  (:meth:`Catalogue.procedural`), e.g. the 90-day decision period by the filing date;
- a **substantive** rule applies in the version in force on the violation date, unless
  the version in force on the decision date is lighter for the party
  (:meth:`Catalogue.substantive`). "Lighter" per value kind, :func:`is_lighter`:

  ===================== ==========================================================
  value                 the newer version is lighter when
  ===================== ==========================================================
  ``yuan``              its amount is lower
  ``yuan_from/yuan_to`` its maximum is lower, or the maxima are equal and its
                        minimum is lower (the maximum first, as the Supreme
                        People's Court reads 处刑较轻 under 刑法第十二条)
  ``percent``           its percentage is lower
  ``percent_per_day``   its daily rate is lower, or equal with a lower cap
  periods               shorter, for a rule whose ``lighter: shorter`` says the
                        period burdens the party (a limitation period); longer for
                        ``lighter: longer`` (a time granted to the party). A
                        substantive period rule must say which, and keep one unit
  ``tiers``             no tier is heavier and at least one is lighter, a tier being
                        lighter when not published by default, else by a shorter
                        maximum, else a shorter minimum; tables with different tiers
                        do not compare (the older applies)
  ``codes``             its list holds every item of the older and more (a
                        no-penalty list that grows spares more)
  ``flag``              never: a substantive rule cannot be a flag
  ===================== ==========================================================

  Equal values: the older version (从旧). Region overrides are applied to both versions
  before they are compared.

Every computed deadline is a :class:`Deadline`: the date (or instant), the rule id and
version that produced it, the region whose override set the value, and whether it is
provisional (counted across a year without an official calendar).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.calendar import CalendarError, CountedDay, Counting, OfficialCalendar, add_hours

CHINA = ZoneInfo("Asia/Shanghai")
# The repository's rules/ (a source checkout, an editable install, or the image's /app).
DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
RULE_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
REGION_CODE_PATTERN = r"^[1-9][0-9]{5}$"


class RulesSettings(BaseSettings):
    """Where the catalogue is: ``RULES_DIR`` (default: the repository's ``rules/``) and
    ``RULES_OVERRIDES_DIR`` (default: ``<RULES_DIR>/overrides``), e.g. a mounted
    ConfigMap holding an agency's regional overrides."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    rules_dir: Path = DEFAULT_RULES_DIR
    rules_overrides_dir: Path | None = None

    def overrides_dir(self) -> Path:
        return self.rules_overrides_dir or self.rules_dir / "overrides"

    def calendar_dir(self) -> Path:
        return self.rules_dir / "calendar"


# -- errors -----------------------------------------------------------------------------


class CatalogueError(ValueError):
    """The catalogue cannot be used: the message names the file and, where there is one,
    the rule."""

    def __init__(self, file: Path, rule_id: str | None, message: str) -> None:
        where = f"{file}: rule {rule_id}" if rule_id else str(file)
        super().__init__(f"{where}: {message}")
        self.file = file
        self.rule_id = rule_id


class UnknownRule(LookupError):
    pass


class NoRuleInForce(LookupError):
    """No version of the rule was in force on the date asked about."""


class RuleNotConfigured(LookupError):
    """A rule marked to confirm that has no national value and no override for the region."""


class WrongKindOfRule(ValueError):
    """A substantive rule selected as procedural, or the other way round."""


# -- values -----------------------------------------------------------------------------


class Value(BaseModel):
    """A rule's value; in YAML a mapping whose key says its kind, e.g. ``{days: 90}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unit: ClassVar[str]


class Period(Value):
    """A period of ``amount`` days, working days, hours or months."""

    @property
    def amount(self) -> int:
        raise NotImplementedError


class Days(Period):
    unit: ClassVar[str] = "days"
    days: int = Field(ge=0)

    @property
    def amount(self) -> int:
        return self.days


class WorkingDays(Period):
    unit: ClassVar[str] = "working_days"
    working_days: int = Field(ge=0)

    @property
    def amount(self) -> int:
        return self.working_days


class Hours(Period):
    unit: ClassVar[str] = "hours"
    hours: int = Field(ge=0)

    @property
    def amount(self) -> int:
        return self.hours


class Months(Period):
    unit: ClassVar[str] = "months"
    months: int = Field(ge=0)

    @property
    def amount(self) -> int:
        return self.months


class Yuan(Value):
    """An amount in yuan (a fine, a threshold: see the rule's name for ≤ or ≥)."""

    unit: ClassVar[str] = "yuan"
    yuan: int = Field(ge=0)


class YuanRange(Value):
    """A fine range in yuan, both ends inclusive (以上/以下)."""

    unit: ClassVar[str] = "yuan_range"
    yuan_from: int = Field(ge=0)
    yuan_to: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> YuanRange:
        if self.yuan_to < self.yuan_from:
            raise ValueError(f"yuan_to {self.yuan_to} is below yuan_from {self.yuan_from}")
        return self


class Percent(Value):
    unit: ClassVar[str] = "percent"
    percent: Decimal = Field(ge=0, le=1000)


class DailySurcharge(Value):
    """A surcharge of ``percent_per_day`` of the principal per day, at most
    ``capped_at_percent`` of it in all."""

    unit: ClassVar[str] = "percent_per_day"
    percent_per_day: Decimal = Field(gt=0, le=100)
    capped_at_percent: Decimal = Field(gt=0, le=1000)


class TierPeriod(Value):
    """One publication tier: published by default or not, and its minimum (the earliest
    credit repair) and maximum (publication ends) periods in months."""

    published_by_default: bool
    min_months: int = Field(ge=0)
    max_months: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> TierPeriod:
        if self.max_months < self.min_months:
            raise ValueError(f"max_months {self.max_months} is below min_months {self.min_months}")
        return self


class TierTable(Value):
    unit: ClassVar[str] = "tiers"
    tiers: dict[str, TierPeriod] = Field(min_length=1)


class Codes(Value):
    """A list of items by code, each with its description (e.g. the 首违不罚 list: the
    violations a first offence of which is not penalised)."""

    unit: ClassVar[str] = "codes"
    codes: dict[str, str] = Field(min_length=1)


class Flag(Value):
    unit: ClassVar[str] = "flag"
    flag: bool


class Count(Value):
    """A number of people or things (a threshold: see the rule's name for ≥ or ≤)."""

    unit: ClassVar[str] = "count"
    count: int = Field(ge=0)


class Offence(Value):
    """A criminal charge (罪名) a case may be referred for; the rule's statute and article
    are where the Criminal Law defines it."""

    unit: ClassVar[str] = "offence"
    offence: str = Field(min_length=2, max_length=60)


_VALUE_TAGS: tuple[tuple[str, type[Value]], ...] = (
    ("days", Days),
    ("working_days", WorkingDays),
    ("hours", Hours),
    ("months", Months),
    ("yuan", Yuan),
    ("yuan_from", YuanRange),
    ("percent", Percent),
    ("percent_per_day", DailySurcharge),
    ("tiers", TierTable),
    ("codes", Codes),
    ("flag", Flag),
    ("count", Count),
    ("offence", Offence),
)


def _value_tag(raw: Any) -> str | None:
    if isinstance(raw, Value):
        return raw.unit
    if isinstance(raw, dict):
        for key, cls in _VALUE_TAGS:
            if key in raw:
                return cls.unit
    return None


RuleValue = Annotated[
    Annotated[Days, Tag("days")]
    | Annotated[WorkingDays, Tag("working_days")]
    | Annotated[Hours, Tag("hours")]
    | Annotated[Months, Tag("months")]
    | Annotated[Yuan, Tag("yuan")]
    | Annotated[YuanRange, Tag("yuan_range")]
    | Annotated[Percent, Tag("percent")]
    | Annotated[DailySurcharge, Tag("percent_per_day")]
    | Annotated[TierTable, Tag("tiers")]
    | Annotated[Codes, Tag("codes")]
    | Annotated[Flag, Tag("flag")]
    | Annotated[Count, Tag("count")]
    | Annotated[Offence, Tag("offence")],
    Discriminator(
        _value_tag,
        custom_error_type="value_kind",
        custom_error_message=(
            "value must be a mapping with one of: days, working_days, hours, months, yuan, "
            "yuan_from/yuan_to, percent, percent_per_day/capped_at_percent, tiers, codes, flag, count, offence"
        ),
    ),
]

# Which countings suit which period unit (the first one is the default).
_COUNTINGS: dict[str, tuple[Counting, ...]] = {
    "days": (Counting.CALENDAR_DAYS, Counting.CALENDAR_DAYS_EXACT),
    "working_days": (Counting.WORKING_DAYS,),
    "hours": (Counting.HOURS,),
    "months": (Counting.CALENDAR_MONTHS, Counting.CALENDAR_MONTHS_EXACT),
    "tiers": (Counting.CALENDAR_MONTHS_EXACT, Counting.CALENDAR_MONTHS),
}


def _check_counting(value: Value | None, counting: Counting | None) -> None:
    if value is None:
        return
    allowed = _COUNTINGS.get(value.unit)
    if allowed is None:
        if counting is not None:
            raise ValueError(f"a {value.unit} value is not a period: leave counting out")
        return
    if counting not in allowed:
        raise ValueError(f"a {value.unit} value counts as {' or '.join(allowed)}, not {counting}")


# -- rules ------------------------------------------------------------------------------


class Kind(StrEnum):
    SUBSTANTIVE = "substantive"  # selected by the violation date, 从旧兼从轻
    PROCEDURAL = "procedural"  # selected by the date of the step


class Direction(StrEnum):
    AFTER = "after"  # the period runs forward from its trigger
    BEFORE = "before"  # the latest day that still leaves the period before the trigger


class Lighter(StrEnum):
    SHORTER = "shorter"  # the period burdens the party (limitation, publication)
    LONGER = "longer"  # the period is granted to the party


class RuleVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    statute: str = Field(min_length=1)
    article: str | None  # null where no article is known: see the file's comments
    value: RuleValue | None  # null: no national value, an agency sets it (to_confirm)
    counting: Counting | None
    effective_from: date | None  # inclusive; null: open, in force before any catalogued date
    effective_to: date | None  # exclusive (the successor's effective_from); null: open
    to_confirm: bool
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RuleVersion:
        if self.effective_from and self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError(
                f"version {self.version}: effective_to {self.effective_to} is not after "
                f"effective_from {self.effective_from}"
            )
        if self.value is None and not self.to_confirm:
            raise ValueError(f"version {self.version}: only a rule marked to_confirm may have no value")
        try:
            _check_counting(self.value, self.counting)
        except ValueError as error:
            raise ValueError(f"version {self.version}: {error}") from None
        return self

    def in_force_on(self, day: date) -> bool:
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day < self.effective_to
        )

    def period_text(self) -> str:
        return f"{self.effective_from or 'open'} to {self.effective_to or 'open'}"


def _periods_overlap(
    first_from: date | None, first_to: date | None, second_from: date | None, second_to: date | None
) -> bool:
    starts_before_second_ends = first_from is None or second_to is None or first_from < second_to
    second_starts_before_first_ends = second_from is None or first_to is None or second_from < first_to
    return starts_before_second_ends and second_starts_before_first_ends


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=RULE_ID_PATTERN)
    name: str = Field(min_length=1)
    kind: Kind
    trigger: str | None = None  # what starts the period, in the statute's words
    direction: Direction = Direction.AFTER
    lighter: Lighter | None = None
    versions: tuple[RuleVersion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        numbers = [v.version for v in self.versions]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"version numbers repeat: {numbers}")
        for i, first in enumerate(self.versions):
            for second in self.versions[i + 1 :]:
                if _periods_overlap(
                    first.effective_from, first.effective_to, second.effective_from, second.effective_to
                ):
                    raise ValueError(
                        f"versions {first.version} ({first.period_text()}) and {second.version} "
                        f"({second.period_text()}) overlap: one day must have one version"
                    )
        ordered = sorted(self.versions, key=lambda v: v.effective_from or date.min)
        if [v.version for v in ordered] != sorted(numbers):
            raise ValueError("version numbers must increase with effective_from")
        units = {v.value.unit for v in self.versions if v.value is not None}
        if self.direction is Direction.BEFORE and units - {"working_days", "days"}:
            raise ValueError("direction 'before' is for day periods only")
        if self.kind is Kind.SUBSTANTIVE:
            if units & {"flag", "offence"}:
                raise ValueError("a substantive rule must have an ordered value (not a flag): 从旧兼从轻 compares them")
            period_units = units & {"days", "working_days", "hours", "months"}
            if period_units and self.lighter is None:
                raise ValueError("a substantive period rule must say which is lighter: 'lighter: shorter' or 'longer'")
            if len(units) > 1:
                raise ValueError(f"the versions of a substantive rule must keep one kind of value, not {sorted(units)}")
        elif self.lighter is not None:
            raise ValueError("'lighter' is for substantive rules only (procedural rules are not compared)")
        return self

    def version_on(self, day: date) -> RuleVersion | None:
        return next((v for v in self.versions if v.in_force_on(day)), None)


class _FamilyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    rules: list[Any] = Field(min_length=1)


# -- regional overrides -----------------------------------------------------------------


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(pattern=RULE_ID_PATTERN)
    rule_version: int | None = None  # null: whichever version is in force
    value: RuleValue
    counting: Counting | None = None  # null: the rule's counting (or the value's default)
    source: str = Field(min_length=1)  # the local rule: name and document number
    effective_from: date | None
    effective_to: date | None

    @model_validator(mode="after")
    def _consistent(self) -> Override:
        if self.effective_from and self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError(f"effective_to {self.effective_to} is not after effective_from {self.effective_from}")
        if self.counting is not None:
            _check_counting(self.value, self.counting)
        return self

    def in_force_on(self, day: date) -> bool:
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day < self.effective_to
        )


class _OverrideFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(pattern=REGION_CODE_PATTERN)  # 行政区划代码
    name: str = Field(min_length=1)
    overrides: list[Any] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class _PlacedOverride:
    region: str
    override: Override
    file: Path


def region_chain(region: str) -> list[str]:
    """The region and those above it: 430281 -> 430281, 430200, 430000."""
    chain = [region, f"{region[:4]}00", f"{region[:2]}0000"]
    return list(dict.fromkeys(chain))


# -- selection results ------------------------------------------------------------------


class OverrideRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    region: str
    source: str
    file: str


class AppliedRule(BaseModel):
    """The version of a rule that applies, with the region's override folded in."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    rule_version: int
    name: str
    kind: Kind
    direction: Direction
    statute: str
    article: str | None
    value: RuleValue | None
    counting: Counting | None
    effective_from: date | None
    effective_to: date | None
    to_confirm: bool
    override: OverrideRef | None = None
    selected_on: date
    selection: Literal["in_force", "older", "newer_is_lighter"] = "in_force"


class Deadline(BaseModel):
    """A computed deadline: the last day (or, for hours, instant) the step is in time."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    rule_version: int
    region_override: str | None
    trigger_on: date
    trigger_at: datetime | None
    due_on: date
    due_at: datetime | None
    counting: Counting
    amount: int
    direction: Direction
    provisional: bool
    provisional_years: tuple[int, ...]


class TierDeadlines(BaseModel):
    """A publication tier's dates from the decision: the earliest credit repair
    (minimum period) and the automatic end of publication (maximum period)."""

    model_config = ConfigDict(frozen=True)

    tier: str
    published_by_default: bool
    repair_from: Deadline
    ends_on: Deadline


# -- lighter ----------------------------------------------------------------------------


def _tier_key(tier: TierPeriod) -> tuple[int, int, int]:
    return (1 if tier.published_by_default else 0, tier.max_months, tier.min_months)


def is_lighter(newer: Value, older: Value, lighter: Lighter | None = None) -> bool:
    """Whether ``newer`` is lighter for the party than ``older`` (module docstring)."""
    if type(newer) is not type(older):
        return False
    if isinstance(newer, Yuan) and isinstance(older, Yuan):
        return newer.yuan < older.yuan
    if isinstance(newer, YuanRange) and isinstance(older, YuanRange):
        return (newer.yuan_to, newer.yuan_from) < (older.yuan_to, older.yuan_from)
    if isinstance(newer, Percent) and isinstance(older, Percent):
        return newer.percent < older.percent
    if isinstance(newer, DailySurcharge) and isinstance(older, DailySurcharge):
        return (newer.percent_per_day, newer.capped_at_percent) < (older.percent_per_day, older.capped_at_percent)
    if isinstance(newer, Period) and isinstance(older, Period):
        if lighter is Lighter.SHORTER:
            return newer.amount < older.amount
        if lighter is Lighter.LONGER:
            return newer.amount > older.amount
        raise ValueError("a period compares only with 'lighter: shorter' or 'longer'")
    if isinstance(newer, Codes) and isinstance(older, Codes):
        return newer.codes.keys() > older.codes.keys()  # more items not penalised
    if isinstance(newer, TierTable) and isinstance(older, TierTable):
        if newer.tiers.keys() != older.tiers.keys():
            return False
        pairs = [(_tier_key(newer.tiers[t]), _tier_key(older.tiers[t])) for t in newer.tiers]
        return all(n <= o for n, o in pairs) and any(n < o for n, o in pairs)
    return False


# -- the catalogue ----------------------------------------------------------------------


class Catalogue:
    """The loaded rules, their regional overrides and the calendar they count on."""

    def __init__(
        self,
        rules: Mapping[str, Rule],
        files: Mapping[str, Path],
        overrides: Iterable[_PlacedOverride],
        calendar: OfficialCalendar,
    ) -> None:
        self._rules = dict(rules)
        self._files = dict(files)
        self._overrides: dict[tuple[str, str], list[_PlacedOverride]] = {}
        for placed in overrides:
            self._overrides.setdefault((placed.override.rule, placed.region), []).append(placed)
        self.calendar = calendar

    # -- reading ------------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        return [self._rules[rule_id] for rule_id in sorted(self._rules)]

    def rule(self, rule_id: str) -> Rule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise UnknownRule(rule_id) from None

    def source_file(self, rule_id: str) -> Path:
        self.rule(rule_id)
        return self._files[rule_id]

    def in_force_on(self, day: date, region: str | None = None) -> list[AppliedRule]:
        """Every rule with a version in force on ``day`` (GET /v1/rules?on=...)."""
        applied = []
        for rule in self.rules():
            version = rule.version_on(day)
            if version is not None:
                applied.append(self._apply(rule, version, day, region))
        return applied

    # -- selection ----------------------------------------------------------------------

    def procedural(self, rule_id: str, step_date: date, region: str | None = None) -> AppliedRule:
        """A procedural rule in the version in force on the date of the step."""
        rule = self.rule(rule_id)
        if rule.kind is not Kind.PROCEDURAL:
            raise WrongKindOfRule(f"{rule_id} is substantive: select it by the violation date")
        return self._apply(rule, self._version_on(rule, step_date), step_date, region)

    def substantive(
        self, rule_id: str, violation_date: date, decision_date: date, region: str | None = None
    ) -> AppliedRule:
        """从旧兼从轻: the version in force on the violation date, unless the version in
        force on the decision date is lighter for the party. A rule with no version in
        force on the decision date keeps the older one: a repeal or a change is catalogued
        as a new version, never as a gap."""
        rule = self.rule(rule_id)
        if rule.kind is not Kind.SUBSTANTIVE:
            raise WrongKindOfRule(f"{rule_id} is procedural: select it by the date of the step")
        if decision_date < violation_date:
            raise ValueError(f"decision date {decision_date} is before violation date {violation_date}")
        older = self._apply(rule, self._version_on(rule, violation_date), violation_date, region)
        current = rule.version_on(decision_date)
        if current is None or current.version == older.rule_version:
            return older
        newer = self._apply(rule, current, decision_date, region)
        if newer.value is None or older.value is None:
            raise RuleNotConfigured(f"{rule_id}: a version has no value to compare for region {region}")
        if is_lighter(newer.value, older.value, rule.lighter):
            return newer.model_copy(update={"selection": "newer_is_lighter"})
        return older.model_copy(update={"selection": "older"})

    def _version_on(self, rule: Rule, day: date) -> RuleVersion:
        version = rule.version_on(day)
        if version is None:
            periods = ", ".join(f"v{v.version} {v.period_text()}" for v in rule.versions)
            raise NoRuleInForce(f"no version of {rule.id} is in force on {day} ({periods})")
        return version

    def _apply(self, rule: Rule, version: RuleVersion, day: date, region: str | None) -> AppliedRule:
        applied = AppliedRule(
            rule_id=rule.id,
            rule_version=version.version,
            name=rule.name,
            kind=rule.kind,
            direction=rule.direction,
            statute=version.statute,
            article=version.article,
            value=version.value,
            counting=version.counting,
            effective_from=version.effective_from,
            effective_to=version.effective_to,
            to_confirm=version.to_confirm,
            selected_on=day,
        )
        placed = self._override_for(rule.id, version.version, day, region) if version.to_confirm else None
        if placed is None:
            return applied
        override = placed.override
        counting = override.counting
        if counting is None:
            same_unit = version.value is not None and version.value.unit == override.value.unit
            default = _COUNTINGS.get(override.value.unit, (None,))[0]
            counting = version.counting if same_unit else default
        return applied.model_copy(
            update={
                "value": override.value,
                "counting": counting,
                "override": OverrideRef(region=placed.region, source=override.source, file=str(placed.file)),
            }
        )

    def _override_for(self, rule_id: str, version: int, day: date, region: str | None) -> _PlacedOverride | None:
        if region is None:
            return None
        for code in region_chain(region):
            for placed in self._overrides.get((rule_id, code), []):
                if placed.override.in_force_on(day) and placed.override.rule_version in (None, version):
                    return placed
        return None

    # -- deadlines ----------------------------------------------------------------------

    def deadline(self, applied: AppliedRule, trigger: date | datetime) -> Deadline:
        """The deadline ``applied`` sets from ``trigger`` (a date, or for an hour period an
        aware instant), counted on the official calendar."""
        value = applied.value
        if value is None:
            raise RuleNotConfigured(
                f"{applied.rule_id} v{applied.rule_version} has no national value and no override"
                " for this region: the agency must configure it"
            )
        if not isinstance(value, Period) or applied.counting is None:
            raise ValueError(f"{applied.rule_id} is a {value.unit} value, not a period")
        trigger_at = trigger if isinstance(trigger, datetime) else None
        trigger_on = trigger_at.astimezone(CHINA).date() if trigger_at else trigger
        due_at: datetime | None = None
        if applied.counting is Counting.HOURS:
            if trigger_at is None:
                raise ValueError(f"{applied.rule_id} counts hours: the trigger must be an instant")
            due_at = add_hours(trigger_at, value.amount)
            counted = CountedDay(due_at.astimezone(CHINA).date())
        elif applied.direction is Direction.BEFORE:
            if applied.counting is Counting.WORKING_DAYS:
                counted = self.calendar.working_days_before(trigger_on, value.amount)
            else:
                counted = CountedDay(trigger_on - timedelta(days=value.amount))
        else:
            counted = self.calendar.count(trigger_on, value.amount, applied.counting)
        return Deadline(
            rule_id=applied.rule_id,
            rule_version=applied.rule_version,
            region_override=applied.override.region if applied.override else None,
            trigger_on=trigger_on,
            trigger_at=trigger_at,
            due_on=counted.day,
            due_at=due_at,
            counting=applied.counting,
            amount=value.amount,
            direction=applied.direction,
            provisional=counted.provisional,
            provisional_years=counted.provisional_years,
        )

    def tier_deadlines(self, applied: AppliedRule, tier: str, decided_on: date) -> TierDeadlines:
        """The minimum and maximum publication periods of ``tier`` under a tier table."""
        table = applied.value
        if not isinstance(table, TierTable) or applied.counting is None:
            raise ValueError(f"{applied.rule_id} is not a tier table")
        if tier not in table.tiers:
            raise LookupError(f"{applied.rule_id} v{applied.rule_version} has no tier {tier!r} ({sorted(table.tiers)})")
        period = table.tiers[tier]

        def months(amount: int) -> Deadline:
            months_rule = applied.model_copy(update={"value": Months(months=amount)})
            return self.deadline(months_rule, decided_on)

        return TierDeadlines(
            tier=tier,
            published_by_default=period.published_by_default,
            repair_from=months(period.min_months),
            ends_on=months(period.max_months),
        )

    def procedural_deadline(
        self,
        rule_id: str,
        trigger: date | datetime,
        *,
        region: str | None = None,
        step_date: date | None = None,
    ) -> Deadline:
        """A procedural rule's deadline, the version chosen by ``step_date`` (default:
        the trigger's date in China)."""
        if step_date is None:
            step_date = trigger.astimezone(CHINA).date() if isinstance(trigger, datetime) else trigger
        return self.deadline(self.procedural(rule_id, step_date, region), trigger)


# -- loading ----------------------------------------------------------------------------


def _read_yaml(file: Path) -> Any:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogueError(file, None, f"cannot be read as YAML: {error}") from error


def _describe(error: ValidationError) -> str:
    items = error.errors()
    parts = []
    for item in items:
        loc = item["loc"]
        # A tuple whose items failed also reports itself too short: the items say why.
        if item["type"] == "too_short" and any(
            other["loc"][: len(loc)] == loc and other is not item for other in items
        ):
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        location = ".".join(str(part) for part in loc)
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def _load_family(file: Path) -> list[Rule]:
    raw = _read_yaml(file)
    try:
        family = _FamilyFile.model_validate(raw)
    except ValidationError as error:
        raise CatalogueError(file, None, f"not a rule family file: {_describe(error)}") from error
    rules = []
    for index, raw_rule in enumerate(family.rules):
        rule_id = raw_rule.get("id") if isinstance(raw_rule, dict) else None
        try:
            rules.append(Rule.model_validate(raw_rule))
        except ValidationError as error:
            label = str(rule_id) if rule_id else f"#{index + 1} (no id)"
            raise CatalogueError(file, label, _describe(error)) from error
    return rules


def _load_overrides(directory: Path, rules: Mapping[str, Rule]) -> list[_PlacedOverride]:
    placed: list[_PlacedOverride] = []
    if not directory.is_dir():
        return placed
    for file in sorted(directory.glob("*.yaml")):
        raw = _read_yaml(file)
        try:
            header = _OverrideFile.model_validate(raw)
        except ValidationError as error:
            raise CatalogueError(file, None, f"not a region override file: {_describe(error)}") from error
        for index, raw_override in enumerate(header.overrides):
            rule_id = raw_override.get("rule") if isinstance(raw_override, dict) else None
            label = str(rule_id) if rule_id else f"override #{index + 1} (no rule)"
            try:
                override = Override.model_validate(raw_override)
            except ValidationError as error:
                raise CatalogueError(file, label, _describe(error)) from error
            _check_override(file, header.region, override, rules)
            for other in placed:
                if other.region == header.region and _overrides_collide(other.override, override):
                    raise CatalogueError(
                        file,
                        override.rule,
                        f"a second override for region {header.region} overlaps the one in {other.file}",
                    )
            placed.append(_PlacedOverride(header.region, override, file))
    return placed


def _overrides_collide(first: Override, second: Override) -> bool:
    """One rule, versions that can coincide, and effective periods that overlap."""
    same_versions = None in (first.rule_version, second.rule_version) or first.rule_version == second.rule_version
    return (
        first.rule == second.rule
        and same_versions
        and _periods_overlap(first.effective_from, first.effective_to, second.effective_from, second.effective_to)
    )


def _check_override(file: Path, region: str, override: Override, rules: Mapping[str, Rule]) -> None:
    rule = rules.get(override.rule)
    if rule is None:
        raise CatalogueError(file, override.rule, "no such rule in the catalogue")
    versions = [
        v
        for v in rule.versions
        if (override.rule_version is None or v.version == override.rule_version)
        and _periods_overlap(v.effective_from, v.effective_to, override.effective_from, override.effective_to)
    ]
    if override.rule_version is not None and not any(v.version == override.rule_version for v in rule.versions):
        raise CatalogueError(file, override.rule, f"has no version {override.rule_version}")
    for version in versions:
        if not version.to_confirm:
            raise CatalogueError(
                file,
                override.rule,
                f"version {version.version} is statute, not marked to_confirm: region {region} cannot override it",
            )
        if version.value is not None and _value_family(version.value) != _value_family(override.value):
            raise CatalogueError(
                file,
                override.rule,
                f"the override's {override.value.unit} value cannot replace version {version.version}'s"
                f" {version.value.unit} value",
            )
        if rule.direction is Direction.BEFORE and override.value.unit not in ("days", "working_days"):
            raise CatalogueError(file, override.rule, "a rule counted back ('before') takes days or working_days only")
        if override.counting is None and version.value is not None and version.value.unit == override.value.unit:
            continue
        counting = override.counting or _COUNTINGS.get(override.value.unit, (None,))[0]
        try:
            _check_counting(override.value, counting)
        except ValueError as error:
            raise CatalogueError(file, override.rule, str(error)) from None


def _value_family(value: Value) -> str:
    return "period" if isinstance(value, Period) else value.unit


def load_catalogue(rules_dir: Path | None = None, overrides_dir: Path | None = None) -> Catalogue:
    """Load and validate the whole catalogue: the rule families in ``rules_dir``, the
    holiday lists in ``rules_dir/calendar`` and the regional overrides in
    ``overrides_dir`` (default ``rules_dir/overrides``). Raises :class:`CatalogueError`."""
    directory = rules_dir or DEFAULT_RULES_DIR
    if not directory.is_dir():
        raise CatalogueError(directory, None, "the rules catalogue directory does not exist (RULES_DIR)")
    family_files = sorted(directory.glob("*.yaml"))
    if not family_files:
        raise CatalogueError(directory, None, "holds no rule family file (*.yaml)")
    rules: dict[str, Rule] = {}
    files: dict[str, Path] = {}
    for file in family_files:
        for rule in _load_family(file):
            if rule.id in rules:
                raise CatalogueError(file, rule.id, f"is defined twice: here and in {files[rule.id]}")
            rules[rule.id] = rule
            files[rule.id] = file
    overrides = _load_overrides(overrides_dir or directory / "overrides", rules)
    try:
        calendar = OfficialCalendar.from_dir(directory / "calendar")
    except CalendarError as error:
        raise CatalogueError(error.file, None, str(error).removeprefix(f"{error.file}: ")) from error
    return Catalogue(rules, files, overrides, calendar)


def load_configured_catalogue(settings: RulesSettings | None = None) -> Catalogue:
    """The catalogue where ``RULES_DIR`` / ``RULES_OVERRIDES_DIR`` say (start-up)."""
    settings = settings or RulesSettings()
    return load_catalogue(settings.rules_dir, settings.overrides_dir())
