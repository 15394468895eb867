"""The tuning sweep's chunk-size dimension on tests/fixtures/beir_tiny (real engines, the packaged
model): every size is re-chunked, re-indexed and swept with the whole grid, each row records its
size, and the recommended file carries ``[chunking] max_tokens``, which loads into settings and
changes how a corpus is chunked.

The fixture's documents (40-60 tokens) fit any chunk (the chunker never budgets less than 64
text tokens), so the test sweeps a copy whose documents say their text three times (120-180
tokens): 80-token chunks split every one of them, 256-token ones (the default) none. Embedding those few
new chunks is the only model work (then cached).
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from core.embedding import Embedder
from core.settings import Settings, load_settings
from pipelines.resources import load_settings_file
from retrieval.evaluation.beir import load_beir
from retrieval.evaluation.indexing import chunk_corpus
from retrieval.evaluation.runner import EvalSession
from retrieval.evaluation.sweep import SweepResult, run_sweep, write_recommended

pytestmark = pytest.mark.integration

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "beir_tiny"
CURRENT = 256
SIZES = (80, 256)  # the current size in the grid too: it is indexed and swept once, not twice
GRID = {
    "rrf_k": [60],
    "dense_weights": [0.3, 0.7],
    "normalizations": ["minmax"],
    "candidates": [50],
    "rerankers": ["none"],
    "per_document_cap": [1, 3],
    "chunk_max_tokens": list(SIZES),
}
POINTS_PER_SIZE = 3 * 2  # (1 rrf + 2 weighted) fusions x 1 depth x 1 reranker x 2 caps


def longer_tiny(root: Path) -> Path:
    """beir_tiny with every document's text three times over (queries and qrels unchanged)."""
    shutil.copytree(TINY, root, dirs_exist_ok=True)
    lines = (TINY / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines if line.strip()]
    for doc in docs:
        doc["text"] = " ".join([doc["text"]] * 3)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Settings, SweepResult]:
    root = tmp_path_factory.mktemp("sweep-chunks")
    settings = load_settings(
        backend={"data_dir": str(root / "var")},
        embedding=embedder.settings.model_dump(),
        chunking={"max_tokens": CURRENT, "overlap_tokens": 8},
        retrieval={"fusion": "weighted", "dense_weight": 0.5, "candidates": 100, "per_document_cap": 3},
        evaluation={"sweep": GRID},
    )
    train = load_beir(longer_tiny(root / "beir"), "train")
    # the session the asset passes in: chunked at the current size; the sweep indexes the others
    with EvalSession(train, settings=settings, embedder=embedder) as session:
        result = run_sweep(train, settings=settings, session=session, latency_sample=5)
    return settings, result


def test_every_chunk_size_is_swept_with_the_whole_grid_and_recorded(
    swept: tuple[Settings, SweepResult],
) -> None:
    _settings, result = swept
    by_size: dict[int | None, set[int]] = {}
    for row in result.rows:
        by_size.setdefault(row.chunk_max_tokens, set()).add(row.chunks)
    assert set(by_size) == set(SIZES)  # both sizes, the current one among them
    rows = {size: [r for r in result.rows if r.chunk_max_tokens == size] for size in by_size}
    assert len(rows[80]) == POINTS_PER_SIZE
    assert len(rows[CURRENT]) == POINTS_PER_SIZE + 1  # plus the settings' own point (depth 100)
    assert all(len(counts) == 1 for counts in by_size.values())  # one index per size
    chunks = {size: next(iter(counts)) for size, counts in by_size.items()}
    # the smaller window really re-chunked the corpus: more, shorter chunks
    assert chunks[CURRENT] == 10  # one per document
    assert chunks[80] >= 20  # every document split
    assert result.chunks == chunks[CURRENT]  # the result describes the current index
    assert result.timing["rechunk_s"] > 0.0
    table = result.table(None)
    for size in (CURRENT, *SIZES):
        assert f"chunks={size}" in table  # the ranked table names each row's size
    current = result.current
    assert current is not None
    assert current.chunk_max_tokens == CURRENT
    assert result.grid["chunk_max_tokens"] == list(SIZES)


def test_the_recommended_chunk_size_round_trips_into_settings(
    swept: tuple[Settings, SweepResult], tmp_path: Path, embedder: Embedder
) -> None:
    settings, result = swept
    best = result.best
    path = write_recommended(result, tmp_path / "recommended.toml")
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    assert table.keys() == {"retrieval", "chunking"}
    assert table["chunking"] == {"max_tokens": best.chunk_max_tokens, "overlap_tokens": 8}

    loaded = load_settings_file(path)

    assert loaded.chunking.max_tokens == best.chunk_max_tokens
    assert loaded.chunking == result.recommended_chunking()
    assert loaded.retrieval == result.recommended_retrieval()
    # and it changes behaviour: the corpus chunks into exactly the winner's index
    corpus = load_beir(longer_tiny(tmp_path / "beir"), "train")
    chunks, _ids = chunk_corpus(corpus, embedder, loaded)
    assert len(chunks) == best.chunks
    print(
        f"\nchunk-size sweep on beir_tiny train: {len(result.rows)} points, wall {result.wall_s} s "
        f"(re-chunk {result.timing['rechunk_s']} s, embedded now {result.timing['embedded_now']:.0f}); "
        f"winner {best.label}; current {settings.chunking.max_tokens} tokens"
    )
