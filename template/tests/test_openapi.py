"""The OpenAPI document tells the truth: driven from it, the API never answers a 5xx, an
undocumented status, or a body that does not match the declared schema.

Property-based: schemathesis generates requests for every operation from the document
itself and sends them to the real server process, on a test database.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import BIN, free_port, running

# The examples' waits and CPU work are kept small: their size changes no code path.
SHORTENED = {"seconds": 0.02, "limit": 1000}

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [str(BIN / "python"), "-m", "uvicorn", "app.main:app", "--port", str(port)]
    with running(args, {}, tmp_path / "server.log", f"{base}/health/live"):
        yield base


def shortened(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    for name, most in SHORTENED.items():
        value = (case.query or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            case.query[name] = type(value)(min(value, most))
    return case


@pytest.mark.database
def test_every_operation_keeps_its_documented_contract(server: str) -> None:
    from app.main import app

    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operations.append(result.ok())
    assert operations

    for operation in operations:

        @given(case=operation.as_strategy().map(shortened))
        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def keeps_contract(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=server, checks=CHECKS)

        keeps_contract()
