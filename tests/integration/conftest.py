"""Integration fixtures shared across modules: the demo corpus, ingested once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.embedding import Embedder
from tests.integration.demo_corpus import DemoCorpus, ingested_demo


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[DemoCorpus]:
    """examples/ ingested by the real pipeline (status pages served locally), once per session:
    the API demo tests and the golden-set tests read the same index."""
    with ingested_demo(tmp_path_factory.mktemp("demo"), embedder) as demo:
        yield demo
