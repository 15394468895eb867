"""The same end-to-end flow in server mode: Qdrant (qdrant-client ``:memory:``) + a real OpenSearch node.

Skipped when GW_TEST_OPENSEARCH_URL is unset (see tests/conftest.py). Incremental runs write
through the aliases into the live generation; the first run builds and promotes one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.embedding import Embedder
from index.keywords_opensearch import opensearch_client
from tests.fixtures.pipeline.flow import EndToEndFlow, Flow, run_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class TestServerFlow(EndToEndFlow):
    @pytest.fixture(scope="class")
    def flow(
        self, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, opensearch_url: str
    ) -> Iterator[Flow]:
        tmp = tmp_path_factory.mktemp("server-flow")
        index = f"gwtest-pipeline-{uuid.uuid4().hex[:8]}"
        backend = {
            "mode": "server",
            "data_dir": str(tmp / "var"),
            "qdrant_url": ":memory:",
            "opensearch_url": opensearch_url,
            "index_name": index,
        }
        try:
            yield from run_flow(tmp, embedder, backend)
        finally:
            client = opensearch_client(opensearch_url)
            client.indices.delete(index=f"{index}__*", params={"ignore_unavailable": "true"})

    def test_incremental_runs_wrote_into_the_live_generation(self, flow: Flow) -> None:
        first, changed = flow.snapshots["first"], flow.snapshots["changed"]
        assert first.generation is not None
        # only the very first run (no live generation yet) built and promoted one
        assert changed.generation == first.generation
        promoted = [r.generation for r in flow.runs["first"].sources if r.generation]
        assert len(promoted) == 1
        assert not [r.generation for r in flow.runs["changed"].sources if r.generation]
