"""Schemathesis: requests generated from the server's own OpenAPI spec never get a 5xx.

Few examples per operation (the suite's time budget); each answer is a 2xx,
or a 4xx in oculi's ``{"code", "error"}`` shape without internals.
"""

from __future__ import annotations

import schemathesis
from adversarial_support import AUTH, assert_no_internals
from hypothesis import HealthCheck, given, settings

from oculi.testing.server import ServerProcess

FUZZ = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def test_generated_requests_never_get_a_5xx(lite_server: ServerProcess) -> None:
    # (Each operation's Hypothesis strategy, driven here: schemathesis' own pytest loader for
    # fixtures does not run under this pytest version.)
    schema = schemathesis.openapi.from_url(lite_server.base_url + "/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH, timeout=60)
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )
            if response.status_code >= 400:
                body = response.json()
                assert {"code", "error"} <= set(body), body
                assert_no_internals(body["error"])

        call()
