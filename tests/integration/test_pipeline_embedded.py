"""The whole ingest graph on the demo corpus, embedded engines (Qdrant Edge + tantivy).

The flow and its assertions are in tests/fixtures/pipeline/flow.py (shared with server mode);
this module adds what only the embedded mode has: generation folders and the LIVE pointer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.embedding import Embedder
from index.generations import EmbeddedGenerationCatalog
from tests.fixtures.pipeline.flow import EndToEndFlow, Flow, run_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class TestEmbeddedFlow(EndToEndFlow):
    @pytest.fixture(scope="class")
    def flow(self, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Flow]:
        tmp = tmp_path_factory.mktemp("embedded-flow")
        yield from run_flow(tmp, embedder, {"mode": "embedded", "data_dir": str(tmp / "var")})

    def test_changes_went_live_as_new_generations_and_old_ones_were_collected(self, flow: Flow) -> None:
        first, changed = flow.snapshots["first"], flow.snapshots["changed"]
        assert first.generation is not None
        assert changed.generation is not None
        assert changed.generation != first.generation
        catalog = EmbeddedGenerationCatalog(
            Path(flow.settings.backend.data_dir), flow.settings.backend.index_name
        )
        kept = catalog.generations()
        assert len(kept) <= flow.settings.backend.keep_generations
        pointer = catalog.pointer()
        assert pointer is not None
        assert pointer.generation == changed.generation
        assert pointer.previous in {g.id for g in kept}  # the rollback target survives gc
        promoted = [r.generation for r in flow.runs["changed"].sources if r.generation]
        # one generation per source that changed something: handbook, finance, engineering (hr only failed)
        assert len(promoted) == 3
