"""Sentence-level BM25 and the evidence reranker built on it (real analysis, no model needed)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.errors import ConfigurationError
from core.models import Chunk, Document
from retrieval.evidence import SentenceBM25
from retrieval.rerankers import EvidenceReranker, build_reranker, evidence
from retrieval.rerankers.base import Candidate, RerankQuery
from retrieval.rerankers.learned import FEATURES as LINEAR_FEATURES
from retrieval.rerankers.learned import LinearModel
from retrieval.results import Stage, StageScore
from retrieval.sentences import sentence_texts

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _chunk(locator: str, text: str, title: str = "") -> Chunk:
    doc = Document.create(
        source_id="docs",
        locator=locator,
        title=title,
        uri=f"file://{locator}",
        updated_at=WHEN,
        acl=["public"],
        text=text,
    )
    return Chunk.from_document(doc, 0, len(text), ordinal=0)


def test_one_sentence_saying_it_beats_the_same_words_scattered() -> None:
    # Both chunks hold "statins", "reduce" and "mortality" once; chunk-level BM25 cannot tell
    # them apart (same terms, same length), sentence BM25 can.
    together = _chunk("a", "Statins reduce mortality in elderly patients. The cohort was large.")
    scattered = _chunk("b", "Statins were given to patients. Mortality was recorded. Doses reduce slowly.")
    other = _chunk("c", "Vitamin D levels were measured in winter. Nothing else was found.")
    scores = SentenceBM25().scores("statins reduce mortality", [together, scattered, other])
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_matches_a_hand_computed_score() -> None:
    # analysis: stop words out, Porter2 stems ("cells" -> "cell"); idf over the 2 candidates
    a = _chunk("a", "Cells divide. Cells grow fast.")
    b = _chunk("b", "Nothing here matches.")
    scorer = SentenceBM25(k1=1.2, b=0.75)
    scores = scorer.scores("cells", [a, b])
    idf = math.log(1.0 + (2 - 1 + 0.5) / (1 + 0.5))
    lengths = [2, 3, 3]  # "cell divid", "cell grow fast", "noth here match"
    avg = sum(lengths) / len(lengths)

    def term(length: int) -> float:
        return idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * length / avg))

    assert scores[0] == pytest.approx(max(term(2), term(3)))
    assert scores[1] == 0.0


def test_title_is_its_own_sentence() -> None:
    chunk = _chunk("a", "The trial enrolled 300 adults.", title="Aspirin prevents stroke")
    assert sentence_texts(chunk) == ["The trial enrolled 300 adults.", "Aspirin prevents stroke"]
    with_title = SentenceBM25().scores("aspirin stroke", [chunk, _chunk("b", "Unrelated text.")])
    without = SentenceBM25(include_title=False).scores("aspirin stroke", [chunk])
    assert with_title[0] > 0.0
    assert without == [0.0]


def test_empty_inputs() -> None:
    scorer = SentenceBM25()
    assert scorer.scores("anything", []) == []
    assert scorer.scores("the of and", [_chunk("a", "The text.")]) == [0.0]  # only stop words
    with pytest.raises(ValueError, match="k1"):
        SentenceBM25(k1=-1.0)


def _candidate(chunk: Chunk, bm25_rank: int | None, dense_rank: int | None, fused_rank: int) -> Candidate:
    stages = {Stage.FUSED: StageScore(score=1.0 / fused_rank, rank=fused_rank)}
    if bm25_rank is not None:
        stages[Stage.BM25] = StageScore(score=10.0 / bm25_rank, rank=bm25_rank)
    if dense_rank is not None:
        stages[Stage.DENSE] = StageScore(score=0.8 - 0.1 * dense_rank, rank=dense_rank)
    return Candidate(chunk, stages)


def _model(**weights: float) -> LinearModel:
    n = len(evidence.FEATURES)
    return LinearModel(
        weights=tuple(weights.get(f, 0.0) for f in evidence.FEATURES),
        mean=(0.0,) * n,
        scale=(1.0,) * n,
        features=evidence.FEATURES,
    )


def test_evidence_features_and_scores() -> None:
    together = _chunk("a", "Statins reduce mortality in elderly patients. The cohort was large.")
    scattered = _chunk("b", "Statins were given to patients. Mortality was recorded. Doses reduce slowly.")
    dense_only = _chunk("c", "Cholesterol drugs lower the death rate of older people.")
    cands = [
        _candidate(scattered, 1, 2, 1),
        _candidate(together, 2, None, 2),
        _candidate(dense_only, None, 1, 3),
    ]
    query = RerankQuery("statins reduce mortality")
    x = evidence.feature_matrix(query, cands, SentenceBM25())
    col = {f: i for i, f in enumerate(evidence.FEATURES)}
    assert x.shape == (3, len(evidence.FEATURES))
    assert x[:, col["bm25_rel"]].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert x[:, col["bm25_missing"]].tolist() == [0.0, 0.0, 1.0]
    assert x[:, col["dense_missing"]].tolist() == [0.0, 1.0, 0.0]
    assert x[1, col["dense_cos"]] == pytest.approx(0.6)  # missed by dense: the list's lowest cosine
    assert x[:, col["sent_rel"]].tolist() == pytest.approx([x[0, col["sent_rel"]], 1.0, 0.0])
    assert 0.0 < x[0, col["sent_rel"]] < 1.0
    # a model that trusts the best sentence puts the chunk that says it in one sentence first
    reranker = EvidenceReranker(_model(sent_rel=1.0, fused_mm=0.1))
    scores = reranker.score(query, cands)
    assert max(range(3), key=scores.__getitem__) == 1
    assert reranker.score(query, []) == []


def test_evidence_model_files(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "evidence.json"
    _model(sent_rel=1.0).save(path)
    loaded = build_reranker(f"evidence:{path}", embedder)
    assert isinstance(loaded, EvidenceReranker)
    assert loaded.name == "evidence(evidence.json)"
    # a model trained on other columns (the linear reranker's) is refused, with what to do
    n = len(LINEAR_FEATURES)
    LinearModel((0.0,) * n, (0.0,) * n, (1.0,) * n, features=LINEAR_FEATURES).save(path)
    with pytest.raises(ConfigurationError, match="retrain"):
        build_reranker(f"evidence:{path}", embedder)
    with pytest.raises(ConfigurationError, match="no trained model"):
        build_reranker(f"evidence:{tmp_path / 'missing.json'}", embedder)
