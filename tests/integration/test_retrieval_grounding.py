"""Citation grounding on the fixture corpus: exact quotes, dropped claims, refusals, ACL.

Runs the real retriever (Qdrant Edge + tantivy) and the real MiniLM so the support scores are
the ones the agent will see; the evidence threshold is the calibrated one (retrieval.grounding).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.models import ChunkSpan, Citation
from index.keywords_tantivy import TantivyKeywordStore
from index.types import SearchFilter
from index.vectors_edge import EdgeVectorStore
from retrieval.errors import CitationMismatchError
from retrieval.grounding import CALIBRATED_MIN_EVIDENCE_SCORE, Grounder, verify_citation
from retrieval.hybrid import HybridRetriever
from tests.fixtures.retrieval.corpus import ALICE, HR_ADMIN, FixtureCorpus, fill, load_corpus

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def corpus() -> FixtureCorpus:
    return load_corpus()


@pytest.fixture(scope="module")
def retriever(
    tmp_path_factory: pytest.TempPathFactory, corpus: FixtureCorpus, embedder: Embedder
) -> Iterator[HybridRetriever]:
    root: Path = tmp_path_factory.mktemp("grounding")
    vectors = EdgeVectorStore(root / "vectors", model_id=embedder.model_id, dimension=embedder.dimension)
    keywords = TantivyKeywordStore(root / "keywords")
    fill(corpus, embedder, vectors, keywords)
    r = HybridRetriever(vectors=vectors, keywords=keywords, embedder=embedder)
    yield r
    r.close()
    keywords.close()
    vectors.close()


@pytest.fixture(scope="module")
def grounder(embedder: Embedder) -> Grounder:
    # the calibrated value; RetrievalSettings.min_evidence_score's default is meant to equal it
    return Grounder(embedder, min_evidence_score=CALIBRATED_MIN_EVIDENCE_SCORE)


def _check_quotes(citations: tuple[Citation, ...], corpus: FixtureCorpus) -> None:
    texts = {d.id: d.text for d in corpus.documents.values()}
    for c in citations:
        source = texts[c.document_id]
        assert source[c.span.start : c.span.end] == c.quote
        assert source.encode()[len(source[: c.span.start].encode()) :].startswith(c.quote.encode())
        verify_citation(c, source)


def test_quotes_match_spans_and_unsupported_sentences_are_dropped(retriever, grounder, corpus) -> None:  # type: ignore[no-untyped-def]
    question = "How long is parental leave and can it be split?"
    response = retriever.search(question, SearchFilter.for_principal(ALICE), top_k=4, as_of=AS_OF)
    answer = [
        "Employees get sixteen weeks of paid parental leave.",
        "The leave may be taken in two blocks during the first year.",
        "The cafeteria serves free pizza to new parents every Friday.",
    ]
    grounded = grounder.ground(answer, response.passages, query=question)
    assert grounded.assessment is not None
    assert grounded.assessment.sufficient
    kept = [s.index for s in grounded.sentences]
    assert kept == [0, 1]
    assert [s.index for s in grounded.dropped] == [2]
    assert all(s.citations for s in grounded.sentences)
    assert all(corpus.fixture_id(c.document_id) == "parental-leave" for c in grounded.citations)
    _check_quotes(grounded.citations, corpus)
    for c in grounded.citations:
        assert c.updated_at == corpus.documents["parental-leave"].updated_at
        assert c.stale is False


def test_unanswerable_question_is_recognised(retriever, grounder) -> None:  # type: ignore[no-untyped-def]
    flt = SearchFilter.for_principal(ALICE)
    for question in ("What is the boiling point of tungsten?", "Who won the 1966 football world cup?"):
        response = retriever.search(question, flt, top_k=4, as_of=AS_OF)
        verdict = grounder.assess(question, response.passages)
        assert not verdict.sufficient, (question, verdict.score)
        grounded = grounder.ground(["Tungsten boils at 5930 kelvin."], response.passages, query=question)
        assert grounded.sentences == ()
        assert len(grounded.dropped) == 1
    answerable = "How often are laptops replaced?"
    verdict = grounder.assess(answerable, retriever.search(answerable, flt, top_k=4, as_of=AS_OF).passages)
    assert verdict.sufficient, verdict.score


def test_citations_never_include_forbidden_chunks_even_when_they_would_rank_first(  # type: ignore[no-untyped-def]
    retriever, grounder, corpus
) -> None:
    question = "Forgot your sign-in secret? How do I get a new one?"
    admin = retriever.search(question, SearchFilter.for_principal(HR_ADMIN), top_k=3, as_of=AS_OF)
    assert corpus.fixture_id(admin.results[0].chunk.document_id) == "salary-bands"  # it would rank first
    forbidden = {d.id for d in corpus.documents.values() if not ALICE.may_read(d.acl)}
    for k in (1, 3, 10):
        response = retriever.search(question, SearchFilter.for_principal(ALICE), top_k=k, as_of=AS_OF)
        assert response.results
        assert not {r.chunk.document_id for r in response.results} & forbidden
        assert not {p.document_id for p in response.passages} & forbidden
        grounded = grounder.ground(
            ["Request a new sign-in secret from the self-service portal."], response.passages, query=question
        )
        assert grounded.citations
        assert not {c.document_id for c in grounded.citations} & forbidden
        _check_quotes(grounded.citations, corpus)


def test_a_quote_that_drifted_from_its_span_raises(corpus) -> None:  # type: ignore[no-untyped-def]
    doc = corpus.documents["vpn-setup"]
    good = Citation(
        document_id=doc.id,
        chunk_id="c",
        title=doc.title,
        uri=doc.uri,
        quote=doc.text[0:11],
        span=ChunkSpan(start=0, end=11),
        updated_at=doc.updated_at,
    )
    verify_citation(good, doc.text)
    drifted = good.model_copy(update={"span": ChunkSpan(start=1, end=12)})
    with pytest.raises(CitationMismatchError, match="quotes"):
        verify_citation(drifted, doc.text)
