"""Congruence: tantivy (embedded) and OpenSearch (server) given the same chunks and queries.

Like qdrant-client's local-vs-remote tests. ACL outcomes must be identical (each engine's
filtered result is exactly its unfiltered result restricted to what the principal may read, and
both engines agree on what a principal can reach). Rankings need only overlap: the engines
differ in BM25 parameters (tantivy's fixed 1.2/0.75 vs 0.9/0.4), and their Snowball English
stemmers are different releases (``organization`` stems to ``organ`` in Lucene, ``organiz`` in
tantivy's rust-stemmers), so a few words match differently.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from core.acl import PUBLIC, Principal
from core.models import Chunk
from index.keywords_opensearch import OpenSearchKeywordStore, opensearch_client
from index.keywords_tantivy import TantivyKeywordStore
from index.types import KeywordStore, SearchFilter

from .test_keywords_common import CORPUS_DIR, DEMO_QUERIES, demo_paragraph_chunks, derived_queries

pytestmark = pytest.mark.integration

ACLS = (
    (PUBLIC,),
    ("group:eng",),
    ("group:hr",),
    ("group:hr", "user:alice"),
    ("user:bob",),
    (),
)
PRINCIPALS = (
    Principal(user_id="alice", groups=("eng",)),
    Principal(user_id="bob", groups=("hr",)),
    Principal(user_id="carol"),
    Principal(user_id="mallory", groups=("sales",)),
)
EVERYONE = Principal(user_id="root", groups=("eng", "hr", "sales"))  # reads every non-empty ACL but bob's
WIDE = 500
TOP = 10


@pytest.fixture(scope="module")
def corpus() -> list[Chunk]:
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"demo corpus not found at {CORPUS_DIR}")
    return demo_paragraph_chunks(400, ACLS)


@pytest.fixture(scope="module")
def engines(
    corpus: list[Chunk], opensearch_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, KeywordStore]]:
    client: OpenSearch = opensearch_client(opensearch_url, timeout_s=30)
    path: Path = tmp_path_factory.mktemp("congruence") / "keywords"
    tantivy_store = TantivyKeywordStore(path)
    search_store = OpenSearchKeywordStore.create(client, f"gw-test-congruence-{uuid.uuid4().hex[:10]}")
    try:
        for store in (tantivy_store, search_store):
            store.upsert(corpus)
        yield {"tantivy": tantivy_store, "opensearch": search_store}
    finally:
        tantivy_store.close()
        search_store.drop_index()
        client.close()


def _queries(corpus: list[Chunk]) -> list[str]:
    return [*DEMO_QUERIES, *derived_queries(corpus, 28)]


def _ids(store: KeywordStore, query: str, principal: Principal, limit: int) -> list[str]:
    return [h.chunk.id for h in store.search(query, SearchFilter.for_principal(principal), limit)]


def test_same_chunk_count(engines: dict[str, KeywordStore], corpus: list[Chunk]) -> None:
    assert {name: s.count() for name, s in engines.items()} == {name: len(corpus) for name in engines}


def test_acl_outcomes_are_identical(engines: dict[str, KeywordStore], corpus: list[Chunk]) -> None:
    acl_of = {c.id: c.acl for c in corpus}
    same = pairs = 0
    for query in _queries(corpus):
        reachable: dict[str, set[str]] = {}
        for name, store in engines.items():
            unrestricted = set(_ids(store, query, EVERYONE, WIDE)) | set(
                _ids(store, query, Principal(user_id="bob"), WIDE)
            )
            for p in PRINCIPALS:
                got = set(_ids(store, query, p, WIDE))
                expected = {i for i in unrestricted if p.may_read(acl_of[i])}
                assert got == expected, (name, query, p)
                reachable[f"{name}/{p.user_id}"] = got
            assert not any(not acl_of[i] for i in unrestricted), "an empty ACL was returned"
        # the two engines reach the same chunks for every principal (stemmer differences aside)
        for p in PRINCIPALS:
            a, b = reachable[f"tantivy/{p.user_id}"], reachable[f"opensearch/{p.user_id}"]
            if a or b:
                pairs += 1
                same += a == b
                assert len(a & b) / len(a | b) >= 0.9, (query, p, a ^ b)
    print(f"identical reachable sets: {same}/{pairs} (query, principal) pairs")
    assert same / pairs >= 0.9


def test_top10_overlap(engines: dict[str, KeywordStore], corpus: list[Chunk]) -> None:
    overlaps: list[float] = []
    for query in _queries(corpus):
        for p in PRINCIPALS:
            a = _ids(engines["tantivy"], query, p, TOP)
            b = _ids(engines["opensearch"], query, p, TOP)
            if a or b:
                overlaps.append(len(set(a) & set(b)) / max(len(a), len(b)))
    mean = sum(overlaps) / len(overlaps)
    print(f"tantivy vs OpenSearch top-{TOP} overlap: mean {mean:.3f}, min {min(overlaps):.2f}", end="")
    print(f" over {len(overlaps)} (query, principal) pairs")
    assert mean >= 0.8
    assert min(overlaps) >= 0.4
