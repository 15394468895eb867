"""tantivy's BM25 ranking against an independent implementation (rank-bm25) on the same tokens.

This is rank-bm25's place in Groundwork: a reference, not a store (it keeps nothing on disk and
takes ~100 ms a query at 100k chunks). Both sides get exactly the tokens of the store's English
analyzer, so any disagreement is in the scoring: document-length quantisation (tantivy, like
Lucene, stores lengths in one byte) and, if it ever regressed, a broken query or index.

rank-bm25's ``BM25Okapi`` uses idf = ln((N - n + 0.5) / (n + 0.5)) with a floor; tantivy uses
Lucene's ln(1 + (N - n + 0.5) / (n + 0.5)). The reference below swaps in Lucene's idf, so the
two compute the same formula with k1=1.2, b=0.75 (tantivy's fixed parameters).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from rank_bm25 import BM25Okapi

from core.acl import Principal
from core.models import Chunk
from index.keywords_tantivy import TantivyKeywordStore, body_text
from index.types import SearchFilter
from tests.contract.test_keywords_common import (
    CORPUS_DIR,
    DEMO_QUERIES,
    demo_paragraph_chunks,
    derived_queries,
)

N_DOCS = 200
TOP = 10


class LuceneIdfBM25(BM25Okapi):  # type: ignore[misc]
    """rank-bm25's Okapi BM25 with Lucene's (always positive) idf."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {w: math.log(1 + (self.corpus_size - n + 0.5) / (n + 0.5)) for w, n in nd.items()}


@pytest.fixture(scope="module")
def corpus() -> list[Chunk]:
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"demo corpus not found at {CORPUS_DIR}")
    chunks = demo_paragraph_chunks(N_DOCS)
    assert len(chunks) == N_DOCS, "the demo corpus should give at least 200 paragraphs"
    return chunks


@pytest.fixture(scope="module")
def store(corpus: list[Chunk], tmp_path_factory: pytest.TempPathFactory) -> TantivyKeywordStore:
    store = TantivyKeywordStore(tmp_path_factory.mktemp("bm25") / "keywords")
    store.upsert(corpus)
    return store


def _kendall_tau(a: list[str], b: list[str]) -> float:
    """Kendall's tau-a between two orderings of the same items."""
    pos = {item: i for i, item in enumerate(b)}
    pairs = concordant = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            pairs += 1
            concordant += 1 if pos[a[i]] < pos[a[j]] else -1
    return concordant / pairs if pairs else 1.0


def test_tantivy_ranks_like_the_bm25_reference(corpus: list[Chunk], store: TantivyKeywordStore) -> None:
    reference = LuceneIdfBM25([store.analyze(body_text(c)) for c in corpus], k1=1.2, b=0.75)
    flt = SearchFilter.for_principal(Principal(user_id="reader"))
    overlaps: list[float] = []
    taus: list[float] = []
    for query in (*DEMO_QUERIES, *derived_queries(corpus)):
        tokens = store.analyze(query)
        scores = reference.get_scores(tokens)
        ranked = sorted(range(len(corpus)), key=lambda i: (-scores[i], corpus[i].id))
        expected = [corpus[i].id for i in ranked[:TOP] if scores[i] > 0]
        got = [h.chunk.id for h in store.search(query, flt, TOP)]
        if not expected:
            assert got == [], query
            continue
        shared = set(expected) & set(got)
        overlaps.append(len(shared) / len(expected))
        taus.append(_kendall_tau([i for i in expected if i in shared], [i for i in got if i in shared]))
        # the best hit's score agrees closely too (only length quantisation differs)
        top = store.search(query, flt, 1)[0]
        assert top.score == pytest.approx(max(scores), rel=0.05), query
    print(
        f"top-{TOP} overlap mean {sum(overlaps) / len(overlaps):.3f} min {min(overlaps):.2f}; "
        f"Kendall tau mean {sum(taus) / len(taus):.3f} min {min(taus):.2f} over {len(overlaps)} queries"
    )
    assert len(overlaps) >= 25
    assert min(overlaps) >= 0.8, overlaps
    assert sum(overlaps) / len(overlaps) >= 0.95
    assert sum(taus) / len(taus) >= 0.9, taus


def test_acl_filter_does_not_change_the_ranking_of_what_remains(corpus: list[Chunk], tmp_path: Path) -> None:
    """Filtering inside the engine keeps BM25 order: filters are scored zero, not one."""
    restricted = [
        c.model_copy(update={"acl": ("group:a",) if i % 2 else ("group:b",)}) for i, c in enumerate(corpus)
    ]
    with TantivyKeywordStore(tmp_path / "keywords") as store:
        store.upsert(restricted)
        both = SearchFilter.for_principal(Principal(user_id="x", groups=("a", "b")))
        only_a = SearchFilter.for_principal(Principal(user_id="y", groups=("a",)))
        for query in DEMO_QUERIES:
            everything = store.search(query, both, N_DOCS)
            filtered = store.search(query, only_a, N_DOCS)
            expected = [h for h in everything if "group:a" in h.chunk.acl]
            assert [(h.chunk.id, h.score) for h in filtered] == [(h.chunk.id, h.score) for h in expected]
