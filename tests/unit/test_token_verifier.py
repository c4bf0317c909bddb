"""The verifier takes its keys from a JWKS file or from a JWKS URL (a real local server),
and re-reads the file after a key rotation."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.tokens import ensure_dev_keys, mint
from services.infra.auth import TokenVerifier
from services.infra.problems import Problem

CLAIMS: dict[str, Any] = {"roles": ["auditor"], "agency_code": "11430281MB1234567L", "region_code": "430281"}


@pytest.fixture
def jwks_server(tmp_path: Path) -> Iterator[str]:
    keys = ensure_dev_keys(tmp_path)
    handler = partial(SimpleHTTPRequestHandler, directory=str(keys["jwks"].parent))
    handler.log_message = lambda *_: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def test_keys_from_a_jwks_url(tmp_path: Path, jwks_server: str) -> None:
    verifier = TokenVerifier(audience="caseledger", issuers=["caseledger-dev"], jwks_url=jwks_server)
    principal = verifier.verify(mint(tmp_path, subject="auditor-wang", **CLAIMS))
    assert (principal.subject, principal.agency_code, principal.region_code) == (
        "auditor-wang",
        "11430281MB1234567L",
        "430281",
    )
    assert principal.roles == {"auditor"}
    with pytest.raises(Problem) as refused:
        verifier.verify(mint(tmp_path, audience="elsewhere", **CLAIMS))
    assert refused.value.status == 401


def test_a_rotated_jwks_file_is_read_again(tmp_path: Path) -> None:
    keys = ensure_dev_keys(tmp_path)
    verifier = TokenVerifier(audience="caseledger", issuers=["caseledger-dev"], jwks_file=keys["jwks"])
    assert verifier.verify(mint(tmp_path, **CLAIMS)).agency_code == "11430281MB1234567L"
    other = tmp_path / "other"
    new_keys = ensure_dev_keys(other)
    rotated = json.loads(new_keys["jwks"].read_text())
    rotated["keys"][0]["kid"] = "caseledger-dev-2"
    keys["jwks"].write_text(json.dumps(rotated))
    import os

    os.utime(keys["jwks"], (1, 1))  # a different mtime, whatever the clock's resolution
    token = mint(other, kid="caseledger-dev-2", **CLAIMS)
    assert verifier.verify(token).roles == {"auditor"}
    with pytest.raises(Problem):  # the old key is gone from the set
        verifier.verify(mint(tmp_path, **CLAIMS))


def test_a_token_without_agency_or_roles_is_refused(tmp_path: Path) -> None:
    keys = ensure_dev_keys(tmp_path)
    verifier = TokenVerifier(audience="caseledger", issuers=["caseledger-dev"], jwks_file=keys["jwks"])
    with pytest.raises(Problem) as refused:
        verifier.verify(mint(tmp_path, roles=["auditor"], agency_code="", region_code="430281"))
    assert "agency" in refused.value.detail


def test_a_kept_token_is_refused_once_it_expires(tmp_path: Path) -> None:
    keys = ensure_dev_keys(tmp_path)
    verifier = TokenVerifier(audience="caseledger", issuers=["caseledger-dev"], jwks_file=keys["jwks"], leeway_s=0)
    token = mint(tmp_path, ttl_s=1, **CLAIMS)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # kept: the signature is checked once
    time.sleep(2.1)  # exp is at most 1 s after minting (whole seconds)
    with pytest.raises(Problem) as refused:
        verifier.verify(token)
    assert refused.value.status == 401 and "expired" in refused.value.detail


def test_a_kept_token_signed_with_a_withdrawn_key_is_refused(tmp_path: Path) -> None:
    keys = ensure_dev_keys(tmp_path)
    verifier = TokenVerifier(audience="caseledger", issuers=["caseledger-dev"], jwks_file=keys["jwks"])
    token = mint(tmp_path, **CLAIMS)
    assert verifier.verify(token).roles == {"auditor"}
    rotated = json.loads(ensure_dev_keys(tmp_path / "other")["jwks"].read_text())
    rotated["keys"][0]["kid"] = "caseledger-dev-2"
    keys["jwks"].write_text(json.dumps(rotated))
    os.utime(keys["jwks"], (1, 1))
    time.sleep(1.1)  # a kept token's answer looks at the file once a second
    with pytest.raises(Problem) as refused:
        verifier.verify(token)
    assert refused.value.status == 401
