"""Who an enforcement agency (执法机关) is: its unified social credit code, name and region
code, from a trusted source, never from a request body.

The trusted sources, in order:
1. the agency registry the operator loads (``AGENCY_REGISTRY_FILE``, YAML: a list of
   ``agencies`` with ``code``, ``name`` and ``region_code``), when it lists the caller's
   agency: its name and region are the agency's, and a token whose region disagrees is
   refused;
2. the bearer token's ``agency`` claim (``code``, ``region_code`` and ``name``), signed by
   the identity provider.

A body naming the agency (立案's ``agency``) must agree with that identity field by field,
or it is refused naming the field: the name filed is the name decided, published to
Credit China and shown on the public feed. With neither a registry entry nor a name
claim there is no trusted name, and the filing is refused rather than taking the body's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from services.common.identifiers import USCC, is_valid_uscc
from services.infra.errors import Forbidden
from services.infra.identity import Principal

RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}|[0-9]{6})?$")]


class AgencyRegistryError(ValueError):
    """An agency registry that does not load: the service refuses to start."""


class RegisteredAgency(BaseModel):
    """One agency as the operator registered it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: USCC
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    region_code: RegionCode
    # How many trailing characters of a unit's USCC the agency's publication site masks
    # (4: 91430281MA4L12345R is shown 91430281MA4L12****); 0: shown whole. Credit China
    # always gets it whole.
    unit_code_masked_digits: int = Field(0, ge=0, le=17)

    @field_validator("code")
    @classmethod
    def _check_character(cls, code: str) -> str:
        if not is_valid_uscc(code):
            raise ValueError("not a valid unified social credit code (check character)")
        return code


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agencies: list[RegisteredAgency] = Field(default_factory=list)


class AgencyRegistry:
    """The agencies the operator registered, by unified social credit code."""

    def __init__(self, agencies: list[RegisteredAgency]) -> None:
        self._by_code: dict[str, RegisteredAgency] = {}
        for agency in agencies:
            if agency.code in self._by_code:
                raise AgencyRegistryError(f"agency {agency.code} is registered twice")
            self._by_code[agency.code] = agency

    @classmethod
    def load(cls, path: Path) -> AgencyRegistry:
        """The registry in ``path``; ``AgencyRegistryError`` naming the file otherwise."""
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return cls(_RegistryFile.model_validate(data).agencies)
        except (OSError, yaml.YAMLError, ValidationError, AgencyRegistryError) as exc:
            raise AgencyRegistryError(f"{path}: {exc}") from exc

    def get(self, code: str) -> RegisteredAgency | None:
        return self._by_code.get(code)

    def __len__(self) -> int:
        return len(self._by_code)


def identity_of(caller: Principal, registry: AgencyRegistry | None) -> dict[str, str]:
    """The caller's agency (code, name, region_code) from the trusted sources above."""
    registered = registry.get(caller.agency_code) if registry is not None else None
    if registered is not None:
        if registered.region_code != caller.region_code:
            raise Forbidden(
                f"the token's agency region {caller.region_code} disagrees with the agency registry's "
                f"{registered.region_code} for {caller.agency_code}"
            )
        return {"code": registered.code, "name": registered.name, "region_code": registered.region_code}
    if not caller.agency_name:
        raise Forbidden(
            "the agency's name is not known from a trusted source: the agency registry does not list "
            f"{caller.agency_code} and the token's agency claim has no name"
        )
    return {"code": caller.agency_code, "name": caller.agency_name, "region_code": caller.region_code}


def require_own_agency(claimed: dict[str, Any], caller: Principal, registry: AgencyRegistry | None) -> None:
    """A body's ``agency`` must be the caller's own, as the trusted sources say, field by
    field: 403 naming the first field that differs (rule own-agency)."""
    trusted = identity_of(caller, registry)
    for field in ("code", "region_code", "name"):
        if claimed.get(field) != trusted[field]:
            raise Forbidden(
                f"/agency/{field} must be your agency's {field} as your token and the agency registry "
                f"give it ({trusted[field]})",
                errors=[
                    {
                        "pointer": f"/agency/{field}",
                        "in": "body",
                        "rule": "own-agency",
                        "detail": f"not your agency's {field}",
                    }
                ],
            )
