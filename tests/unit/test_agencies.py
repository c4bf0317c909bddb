"""The agency's identity (issue 16 item 3): the operator's registry, else the token's
claims; never the body. A body that disagrees is refused naming the field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services.common.agencies import AgencyRegistry, AgencyRegistryError, identity_of, require_own_agency
from services.infra.errors import Forbidden
from tests.unit.conftest import OFFICER

LILING = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
REGISTRY = """\
agencies:
  - {code: 11430281MB1234567L, name: 醴陵市应急管理局, region_code: "430281"}
"""


def _registry(tmp_path: Path, text: str = REGISTRY) -> AgencyRegistry:
    path = tmp_path / "agencies.yaml"
    path.write_text(text, encoding="utf-8")
    return AgencyRegistry.load(path)


def test_the_registry_names_the_agency_whatever_the_token_says(tmp_path: Path) -> None:
    caller = replace(OFFICER, agency_name="国务院安全生产委员会")  # a claim the registry overrules
    assert identity_of(caller, _registry(tmp_path)) == LILING


def test_without_a_registry_entry_the_tokens_name_claim_is_the_name() -> None:
    assert identity_of(OFFICER, None) == LILING
    with pytest.raises(Forbidden, match="not known from a trusted source"):
        identity_of(replace(OFFICER, agency_name=""), None)


def test_a_token_whose_region_disagrees_with_the_registry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Forbidden, match="disagrees with the agency registry"):
        identity_of(replace(OFFICER, region_code="430200"), _registry(tmp_path))


@pytest.mark.parametrize(
    ("claimed", "pointer"),
    [
        ({**LILING, "name": "国务院安全生产委员会"}, "/agency/name"),  # the request that got through
        ({**LILING, "region_code": "110000"}, "/agency/region_code"),
        ({**LILING, "code": "11430202MB4444444M"}, "/agency/code"),
    ],
)
def test_a_body_that_disagrees_is_refused_naming_the_field(
    tmp_path: Path, claimed: dict[str, str], pointer: str
) -> None:
    with pytest.raises(Forbidden) as refused:
        require_own_agency(claimed, OFFICER, _registry(tmp_path))
    assert [(e["pointer"], e["rule"]) for e in refused.value.facts["errors"]] == [(pointer, "own-agency")]
    require_own_agency(LILING, OFFICER, _registry(tmp_path))  # its own identity passes


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (REGISTRY + '  - {code: 11430281MB1234567L, name: 又一个, region_code: "430281"}\n', "registered twice"),
        ('agencies:\n  - {code: 11430281MB12345670, name: 某局, region_code: "430281"}\n', "check character"),
        ('agencies:\n  - {code: 11430281MB1234567L, name: 某局, region_code: "4302"}\n', "region_code"),
        ("agencies: [", "agencies.yaml"),
    ],
)
def test_an_invalid_registry_refuses_to_load_naming_the_file(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(AgencyRegistryError, match=why) as refused:
        _registry(tmp_path, text)
    assert "agencies.yaml" in str(refused.value)
