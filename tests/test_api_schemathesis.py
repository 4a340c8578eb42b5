"""Schemathesis against the API's own OpenAPI document: nothing answers 5xx.

The operations are driven one by one with Hypothesis inside the test, as the
document is read from the test's own app (schemathesis's fixture loader does
not run under this pytest).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from app.api import keys

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def api_key(merchant):
    _, key = keys.create_key(merchant.id, "Schemathesis", "user:1")
    return key


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str
)
def test_no_input_makes_a_server_error(app, issued_pass, api_key, mode):
    # Hundreds of calls in a few seconds: the rate limit is not what is tested.
    app.config["API_RATE_LIMIT"] = "1000000 per minute"
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        call()
