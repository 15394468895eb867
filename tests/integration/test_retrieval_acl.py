"""ACL through the whole retrieval path, on both backends.

For a principal, results, passages and citations never include a chunk it may not read, also
when that chunk would rank first (it does, for a principal allowed to read it). The embedded
backend is Qdrant Edge + tantivy; the server backend is qdrant-client ``:memory:`` (the Qdrant
client API) + a real OpenSearch node (skipped when GW_TEST_OPENSEARCH_URL is unset).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.acl import Principal
from core.embedding import Embedder
from index.types import KeywordStore, SearchFilter, VectorStore
from retrieval.grounding import Grounder
from retrieval.hybrid import HybridRetriever
from tests.fixtures.retrieval.corpus import ALICE, HR_ADMIN, FixtureCorpus, fill, load_corpus

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
QUESTION = "Forgot your sign-in secret? How do I get a new one?"
OUTSIDER = Principal(user_id="guest")  # public documents only


@pytest.fixture(scope="module")
def corpus() -> FixtureCorpus:
    return load_corpus()


def _embedded(root: Path, embedder: Embedder) -> tuple[VectorStore, KeywordStore, list[object]]:
    from index.keywords_tantivy import TantivyKeywordStore
    from index.vectors_edge import EdgeVectorStore

    vectors = EdgeVectorStore(root / "vectors", model_id=embedder.model_id, dimension=embedder.dimension)
    keywords = TantivyKeywordStore(root / "keywords")
    return vectors, keywords, [keywords.close, vectors.close]


def _server(url: str, embedder: Embedder) -> tuple[VectorStore, KeywordStore, list[object]]:
    from qdrant_client import QdrantClient

    from index.keywords_opensearch import OpenSearchKeywordStore, opensearch_client
    from index.vectors_qdrant import QdrantVectorStore, create_generation_collection

    name = f"gw-test-retrieval-acl-{uuid.uuid4().hex[:8]}"
    client = QdrantClient(":memory:")
    create_generation_collection(client, name, embedder.dimension)
    vectors = QdrantVectorStore(client, name, model_id=embedder.model_id, dimension=embedder.dimension)
    keywords = OpenSearchKeywordStore.create(opensearch_client(url), name)
    return vectors, keywords, [keywords.drop_index, client.close]


@pytest.fixture(scope="module", params=["embedded", "server"])
def retriever(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus: FixtureCorpus,
    embedder: Embedder,
) -> Iterator[HybridRetriever]:
    if request.param == "server":
        url = request.getfixturevalue("opensearch_url")
        vectors, keywords, cleanup = _server(url, embedder)
    else:
        vectors, keywords, cleanup = _embedded(tmp_path_factory.mktemp("acl"), embedder)
    fill(corpus, embedder, vectors, keywords)
    r = HybridRetriever(vectors=vectors, keywords=keywords, embedder=embedder)
    yield r
    r.close()
    for fn in cleanup:
        fn()  # type: ignore[operator]


def _forbidden(corpus: FixtureCorpus, principal: Principal) -> set[str]:
    return {d.id for d in corpus.documents.values() if not principal.may_read(d.acl)}


def test_forbidden_chunk_that_would_rank_first_never_appears(retriever, corpus, embedder) -> None:  # type: ignore[no-untyped-def]
    admin = retriever.search(QUESTION, SearchFilter.for_principal(HR_ADMIN), top_k=3, as_of=AS_OF)
    assert corpus.fixture_id(admin.results[0].chunk.document_id) == "salary-bands"
    grounder = Grounder(embedder)
    for principal in (ALICE, OUTSIDER):
        forbidden = _forbidden(corpus, principal)
        assert forbidden
        for k in (1, 3, 10, 50):
            response = retriever.search(QUESTION, SearchFilter.for_principal(principal), top_k=k, as_of=AS_OF)
            assert response.results
            assert not {r.chunk.document_id for r in response.results} & forbidden
            assert not {p.document_id for p in response.passages} & forbidden
            assert all(principal.may_read(r.chunk.acl) for r in response.results)
            grounded = grounder.ground(["Request a new sign-in secret from the portal."], response.passages)
            assert not {c.document_id for c in grounded.citations} & forbidden


def test_every_visible_result_respects_the_acl_for_many_queries(retriever, corpus) -> None:  # type: ignore[no-untyped-def]
    forbidden = _forbidden(corpus, OUTSIDER)
    for doc in corpus.documents.values():
        query = f"{doc.title} {doc.text.split('.')[0]}"
        response = retriever.search(query, SearchFilter.for_principal(OUTSIDER), top_k=10, as_of=AS_OF)
        assert not {r.chunk.document_id for r in response.results} & forbidden, doc.locator
        if doc.id not in forbidden:
            assert response.results[0].chunk.document_id == doc.id
