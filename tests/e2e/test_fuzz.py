"""Property-based fuzzing of the REST API with schemathesis, against the live OpenAPI of a
real uvicorn server: no input may produce a 5xx, and every response must match the schema
(and content type) the service publishes.

Bounded for CI: ``GASLEAK_FUZZ_EXAMPLES`` examples per operation (default 30), derandomized
(the same cases on every run, so a failure reproduces); raise the number locally to search
harder. Driven through schemathesis' Python API (its pytest plugin does not load under
pytest 9); every operation is run, and the test fails listing each failing one with the
case that broke it. WebSocket routes are not in OpenAPI: tests/e2e/test_bad_input_live.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import API_HEADERS, LiveServer, start_server, stop_server

EXAMPLES = int(os.environ.get("GASLEAK_FUZZ_EXAMPLES", "30"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[LiveServer]:
    """One live server for every fuzzed operation. Without the model: random readings never
    fill a window, so it would only add its start-up time."""
    server = start_server({"GASLEAK_MODEL_ENABLED": "false"})
    yield server
    stop_server(server)


def fuzz(operation: schemathesis.APIOperation, base_url: str, mode: GenerationMode) -> None:
    """Run ``EXAMPLES`` generated cases of one operation through every check: valid inputs
    (``POSITIVE``) or inputs that break the schema (``NEGATIVE``: wrong types, out-of-range
    numbers, missing or extra fields), which must be 4xx, never 5xx.

    Raises:
        AssertionError (or schemathesis' failure group): a check failed; hypothesis shrinks
            the case first.
    """

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=API_HEADERS, checks=CHECKS)

    run()


def test_api_never_5xx_and_matches_its_schema(fuzz_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(fuzz_server.base + "/openapi.json", headers=API_HEADERS)
    failures, ran = [], []
    t0 = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        ran.append(operation.label)
        for mode in GenerationMode:
            try:
                fuzz(operation, fuzz_server.base, mode)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Unsatisfiable:  # nothing to break (no parameters, or only free strings)
                continue
            except BaseException as exc:  # FailureGroup is a BaseExceptionGroup: collect all
                failures.append(f"{operation.label} {mode.value}: {exc!r}"[:3000])
    took = time.monotonic() - t0
    print(f"fuzzed {len(ran)} operations x 2 modes x {EXAMPLES} examples in {took:.0f} s")
    assert len(ran) >= 15, ran
    assert not failures, "\n\n".join(failures)
