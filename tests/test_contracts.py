"""contracts/ is what other agencies read: it must be exactly what the code generates, and
what the code publishes must validate against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from devtools.contracts import CONTROL_MESSAGE, EVENTS, ROOT, generate
from services.infra.eventstore import cloud_type, to_cloud_event
from services.infra.topic import CAUGHT_UP, CONTROL_HEADER, GENESIS


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return generate()


def test_checked_in_contracts_match_the_code(generated: dict[Path, str]) -> None:
    drifted = [
        str(path.relative_to(ROOT.parent))
        for path, content in generated.items()
        if not path.exists() or path.read_text(encoding="utf-8") != content
    ]
    assert not drifted, f"contracts drifted from the code; run `make contracts`: {drifted}"
    stale = {p for p in ROOT.rglob("*") if p.is_file() and p.suffix in (".json", ".yaml")} - set(generated)
    stale = {p for p in stale if "credit_china" not in p.parts}  # the simulator's schema is hand-written
    assert not stale, f"files in contracts/ that the code no longer generates: {sorted(map(str, stale))}"


def test_every_event_type_has_a_schema_and_an_asyncapi_message(generated: dict[Path, str]) -> None:
    document = yaml.safe_load(generated[ROOT / "asyncapi.yaml"])
    messages = document["components"]["messages"]
    names = {m["name"] for key, m in messages.items() if key != CONTROL_MESSAGE}
    assert names == {cloud_type(c) for _, c in EVENTS}
    # The relays' control records are documented beside the events, with the header that
    # tells a consumer to skip them.
    control = messages[CONTROL_MESSAGE]
    assert set(control["headers"]["properties"][CONTROL_HEADER]["enum"]) == {GENESIS, CAUGHT_UP}
    for _, event_class in EVENTS:
        schema = json.loads(generated[ROOT / "events" / f"{cloud_type(event_class)}.schema.json"])
        jsonschema.Draft202012Validator.check_schema(schema)
        assert "case_id" in schema["required"]
        # Issue 16: a description a reader can use, not the dataclass's Python signature
        # naming stored fields that are never published.
        description = schema["description"]
        assert not description.startswith(f"{event_class.__name__}("), description
        assert not any(name in description for name in ("command_key", "command_fingerprint", "originator_"))
        assert not set(schema["properties"]) & {"command_key", "command_fingerprint", "originator_version"}


def test_a_published_event_validates_against_its_contract(generated: dict[Path, str], tmp_path: Path) -> None:
    from tests.unit.test_envelope import filed_event

    event = filed_event()
    envelope = json.loads(json.dumps(to_cloud_event(event, "/caseledger/case").get_attributes(), default=str))
    envelope["data"] = to_cloud_event(event, "/caseledger/case").get_data()
    jsonschema.validate(envelope, json.loads(generated[ROOT / "envelope.schema.json"]))
    data_schema = json.loads(generated[ROOT / "events" / "cn.caseledger.case.filed.v1.schema.json"])
    jsonschema.validate(envelope["data"], data_schema)
    assert "command_key" not in envelope["data"], "idempotency keys are not part of the published contract"
    bad = {**envelope["data"], "officers": "two of them"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, data_schema)


def test_the_readme_shows_the_permission_table_the_code_enforces() -> None:
    from devtools.contracts import permission_table

    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("<!-- permission-table -->")[1].split("<!-- /permission-table -->")[0].strip()
    assert shown == permission_table(), "README's permission table differs from services/access/policy.py"
