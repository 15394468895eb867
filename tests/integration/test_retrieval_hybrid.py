"""Hybrid retrieval on the fixture corpus in real embedded stores (Qdrant Edge + tantivy).

Checks what the issue asks of the retriever: a document found only lexically and one found
only semantically both rank; fusion is deterministic; every stage's score is kept; one engine
down degrades (flagged), both down raises; stale flags and the recency boost use ``as_of``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.errors import StoreUnavailableError
from core.models import Chunk
from core.settings import FusionMethod, RetrievalSettings
from index.keywords_tantivy import TantivyKeywordStore
from index.types import Hit, SearchFilter
from index.vectors_edge import EdgeVectorStore
from retrieval.freshness import FreshnessPolicy
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.results import Stage
from tests.fixtures.retrieval.corpus import ALICE, FixtureCorpus, fill, load_corpus

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
MIXED_QUERY = "forgot my login password, ticket ZX-88213"


@pytest.fixture(scope="module")
def corpus() -> FixtureCorpus:
    return load_corpus()


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, corpus: FixtureCorpus, embedder: Embedder
) -> Iterator[tuple[EdgeVectorStore, TantivyKeywordStore]]:
    root: Path = tmp_path_factory.mktemp("hybrid")
    vectors = EdgeVectorStore(root / "vectors", model_id=embedder.model_id, dimension=embedder.dimension)
    keywords = TantivyKeywordStore(root / "keywords")
    fill(corpus, embedder, vectors, keywords)
    yield vectors, keywords
    keywords.close()
    vectors.close()


def _retriever(
    stores: tuple[EdgeVectorStore, TantivyKeywordStore], embedder: Embedder, **kw: object
) -> HybridRetriever:
    vectors, keywords = stores
    return HybridRetriever(vectors=vectors, keywords=keywords, embedder=embedder, **kw)  # type: ignore[arg-type]


def _ids(corpus: FixtureCorpus, chunks: Sequence[Chunk]) -> list[str]:
    return [corpus.fixture_id(c.document_id) for c in chunks]


def test_hybrid_ranks_a_lexical_only_and_a_semantic_only_document(stores, embedder, corpus) -> None:  # type: ignore[no-untyped-def]
    retriever = _retriever(stores, embedder, settings=RetrievalSettings(top_k=3, candidates=10))
    response = retriever.search(MIXED_QUERY, SearchFilter.for_principal(ALICE), as_of=AS_OF)
    top = {corpus.fixture_id(r.chunk.document_id): r for r in response.results}
    assert {"cabinet-parts", "password-reset"} <= set(top), list(top)
    lexical, semantic = top["cabinet-parts"], top["password-reset"]
    # found lexically: BM25's best hit, far down the dense list
    assert lexical.stages[Stage.BM25].rank == 1
    assert lexical.stages[Stage.DENSE].score < semantic.stages[Stage.DENSE].score - 0.2
    # found semantically: no word in common with the query, so BM25 never returned it
    assert Stage.BM25 not in semantic.stages
    assert semantic.stages[Stage.DENSE].rank <= 2
    # neither engine alone has both in its top 3
    bm25_top = [
        r for r in response.results if r.stages.get(Stage.BM25, None) and r.stages[Stage.BM25].rank <= 3
    ]
    assert "password-reset" not in _ids(corpus, [r.chunk for r in bm25_top])


@pytest.mark.parametrize("method", [FusionMethod.WEIGHTED, FusionMethod.RRF])
def test_fusion_is_deterministic_and_keeps_every_stage(stores, embedder, method) -> None:  # type: ignore[no-untyped-def]
    retriever = _retriever(stores, embedder, fusion=FusionConfig(method=method))
    flt = SearchFilter.for_principal(ALICE)
    runs = [retriever.search(MIXED_QUERY, flt, top_k=8, as_of=AS_OF) for _ in range(3)]
    keyed = [[(r.chunk.id, r.score, r.rank) for r in run.results] for run in runs]
    assert keyed[0] == keyed[1] == keyed[2]
    first = runs[0]
    assert not first.degraded
    assert first.unavailable == ()
    assert [r.rank for r in first.results] == list(range(1, len(first.results) + 1))
    scores = [r.score for r in first.results]
    assert scores == sorted(scores, reverse=True)
    for r in first.results:
        assert Stage.FUSED in r.stages
        assert Stage.BM25 in r.stages or Stage.DENSE in r.stages
        assert r.stages[Stage.FUSED].score == r.score
    assert any(Stage.BM25 in r.stages and Stage.DENSE in r.stages for r in first.results)
    assert first.timings_ms["retrieve_ms"] > 0


class _DownStore:
    """An engine that is down: every search raises StoreUnavailableError."""

    backend = "down"
    model_id = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384

    def search(self, query: object, flt: SearchFilter, limit: int) -> list[Hit]:
        raise StoreUnavailableError(self.backend, "groundwork", "connection refused")


def test_one_engine_down_degrades_and_both_down_raises(stores, embedder) -> None:  # type: ignore[no-untyped-def]
    vectors, keywords = stores
    flt = SearchFilter.for_principal(ALICE)
    down = _DownStore()
    no_bm25 = HybridRetriever(vectors=vectors, keywords=down, embedder=embedder)  # type: ignore[arg-type]
    response = no_bm25.search("where are spare hinge brackets kept", flt, as_of=AS_OF)
    assert response.degraded
    assert response.unavailable == ("bm25",)
    assert response.results
    assert all(Stage.BM25 not in r.stages for r in response.results)
    no_dense = HybridRetriever(vectors=down, keywords=keywords, embedder=embedder)  # type: ignore[arg-type]
    response = no_dense.search("where are spare hinge brackets kept", flt, as_of=AS_OF)
    assert response.degraded
    assert response.unavailable == ("dense",)
    assert response.results
    assert all(Stage.DENSE not in r.stages for r in response.results)
    both = HybridRetriever(vectors=down, keywords=down, embedder=embedder)  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailableError):
        both.search("hinge brackets", flt, as_of=AS_OF)


def test_stale_flags_and_recency_boost_follow_as_of(stores, embedder, corpus) -> None:  # type: ignore[no-untyped-def]
    flt = SearchFilter.for_principal(ALICE)
    policy = FreshnessPolicy(max_age={"handbook": timedelta(days=200)})
    retriever = _retriever(stores, embedder, freshness=policy)
    response = retriever.search("public holidays and office closure", flt, top_k=5, as_of=AS_OF)
    by_id = {corpus.fixture_id(r.chunk.document_id): r for r in response.results}
    assert by_id["holidays"].stale  # handbook, 2024-01-02: older than 200 days on 2025-01-01
    earlier = retriever.search(
        "public holidays and office closure", flt, top_k=5, as_of=datetime(2024, 2, 1, tzinfo=UTC)
    )
    assert not {corpus.fixture_id(r.chunk.document_id): r for r in earlier.results}["holidays"].stale
    for p in response.passages:
        assert p.stale == any(r.stale for r in response.results if r.chunk.id in p.chunk_ids)

    boosted = _retriever(
        stores, embedder, freshness=FreshnessPolicy(half_life=timedelta(days=30), recency_weight=0.9)
    )
    fresh = boosted.search("office policies", flt, top_k=5, as_of=AS_OF)
    assert all(Stage.FRESHNESS in r.stages for r in fresh.results)
    dates = [r.chunk.updated_at for r in fresh.results]
    assert dates[0] == max(dates)  # with a strong boost the newest document leads


def test_per_document_cap_and_passages(stores, embedder) -> None:  # type: ignore[no-untyped-def]
    retriever = _retriever(stores, embedder, settings=RetrievalSettings(per_document_cap=1))
    response = retriever.search("expense claims receipts", SearchFilter.for_principal(ALICE), as_of=AS_OF)
    docs = [r.chunk.document_id for r in response.results]
    assert len(docs) == len(set(docs))
    assert [p.rank for p in response.passages] == list(range(1, len(response.passages) + 1))
    for p in response.passages:
        result = next(r for r in response.results if r.chunk.id == p.chunk_ids[0])
        assert p.text == result.chunk.text
        assert p.span == result.chunk.span


def test_model_mismatch_is_refused(stores, embedder) -> None:  # type: ignore[no-untyped-def]
    _vectors, keywords = stores

    class OtherModel(_DownStore):
        model_id = "some-other-model"

    with pytest.raises(ValueError, match="not be comparable"):
        HybridRetriever(vectors=OtherModel(), keywords=keywords, embedder=embedder)  # type: ignore[arg-type]
