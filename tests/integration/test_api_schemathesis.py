"""Schemathesis against the OpenAPI document over real HTTP: no input finds a 5xx.

Each operation gets a bounded number of generated requests (seconds, not minutes), sent with
a valid key (so generation reaches the handlers) and, for a share of them, without one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from core.embedding import Embedder
from tests.integration.api_support import (
    api_key,
    build_embedded_index,
    serve_in_thread,
    settings_for,
    write_users_file,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("api-schemathesis")
    build_embedded_index(data_dir, "groundwork", embedder)
    users = write_users_file(data_dir / "users.yaml")
    app = create_app(settings_for(data_dir, users, rate_limit_per_minute=100_000), embedder=embedder)
    with serve_in_thread(app) as url:
        yield url


def test_no_generated_request_gets_a_server_error(base_url: str) -> None:
    import httpx

    spec = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), authenticated=st.booleans())
        def run(case: schemathesis.Case, authenticated: bool) -> None:
            headers = {"Authorization": f"Bearer {api_key('alice')}"} if authenticated else {}
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        run()
    assert not failures, "\n".join(failures)
