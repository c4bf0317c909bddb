"""Bad input at scale: schemathesis generates requests from each service's own OpenAPI
(deterministically, a bounded number per operation) against the running services. No
5xx, and every response must match what the OpenAPI documents (status, content type,
schema), problems included."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.demo import AGENCY
from devtools.launcher import SERVICES, LocalSystem
from services.access.policy import Role
from tests.conftest import start_system

pytestmark = pytest.mark.e2e
ALL_ROLES = [r.value for r in Role if r not in (Role.PUBLIC_SECURITY, Role.PROCURATORATE)]
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    running = start_system(tmp_path_factory.mktemp("fuzz"), None)
    yield running
    running.stop()


@pytest.mark.parametrize("service", SERVICES)
def test_generated_requests_get_documented_answers(system: LocalSystem, service: str) -> None:
    st = Path(sys.executable).with_name("st")
    # Every role of the demo agency, so generated requests get past the guard to the handlers.
    token = system.token(ALL_ROLES, AGENCY)
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{system.url(service)}/openapi.json",
            "--max-examples",
            "40",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {token}",
            "--generation-deterministic",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout[-6000:]
    assert result.returncode == 0, f"schemathesis found failures on {service}:\n{summary}"
    assert " passed" in summary and "generated" in summary, summary
