"""Indexing a BEIR corpus through the real index layer, as the pipeline would.

Each BEIR document becomes a :class:`core.models.Document` (title kept apart, the abstract as
its normalized text), is chunked by :mod:`index.chunking` (token-bounded for the embedding
model, so abstracts longer than the model's window become several chunks), embedded through
the :class:`core.embedding.Embedder` cache (nothing is embedded twice across runs), and written
into a real vector store and a real keyword store: Qdrant Edge + tantivy in a temporary folder
by default, or Qdrant + OpenSearch servers.

What is embedded is :func:`index.passages.embedding_input` (the title, a blank line, then the
chunk text) and the chunk budget is the model window minus the title's tokens, so nothing is
truncated: the same rules as the pipeline, so the figures describe what ships.
Evaluation is at the document level: a document's score is the max over its chunks.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from core.embedding import Embedder, Vectors
from core.models import Chunk, Document
from core.settings import BackendMode, Settings
from index.chunking import hf_token_offsets
from index.keywords_tantivy import TantivyKeywordStore
from index.passages import TitledChunker, embedding_input
from index.types import KeywordStore, VectorStore
from index.vectors_edge import EdgeVectorStore
from retrieval.evaluation.beir import BeirDataset

EVAL_SOURCE = "eval"
EVAL_UPDATED_AT = datetime(2020, 1, 1, tzinfo=UTC)
"""All evaluation documents share one timestamp, so runs are reproducible with a fixed as_of."""
EVAL_ACL = ("public",)


def beir_documents(ds: BeirDataset) -> list[Document]:
    """The corpus as documents of the ``eval`` source, readable by everyone."""
    return [
        Document.create(
            source_id=EVAL_SOURCE,
            locator=d.id,
            title=d.title.strip(),
            uri=f"beir://{ds.name}/{d.id}",
            updated_at=EVAL_UPDATED_AT,
            acl=EVAL_ACL,
            text=d.text.strip(),
        )
        for d in ds.corpus.values()
    ]


class DocumentChunker:
    """Chunks documents for an embedder: the window minus the title's tokens, cached per budget."""

    def __init__(self, embedder: Embedder, *, max_tokens: int, overlap_tokens: int) -> None:
        self.embedder = embedder
        # the pipeline's rule too (index.passages): what is evaluated is what ships
        self._titled = TitledChunker(
            hf_token_offsets(embedder.model.tokenizer),
            window=min(max_tokens, embedder.max_tokens),
            overlap_tokens=overlap_tokens,
        )

    def chunks(self, doc: Document) -> list[Chunk]:
        plans = self._titled.plan(doc.title, doc.text)
        return [
            Chunk.from_document(doc, p.start, p.end, ordinal=i, section_path=p.section_path, page=p.page)
            for i, p in enumerate(plans)
        ]


@dataclass
class EvalIndex:
    """A BEIR corpus in real stores, with the chunk -> BEIR document id map and build timings."""

    vectors: VectorStore
    keywords: KeywordStore
    chunks: list[Chunk]
    beir_id: dict[str, str]  # Groundwork document id -> BEIR corpus id
    timings_s: dict[str, float] = field(default_factory=dict)
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self._cleanup):
            with contextlib.suppress(Exception):
                fn()
        self._cleanup.clear()


def chunk_corpus(
    ds: BeirDataset, embedder: Embedder, settings: Settings
) -> tuple[list[Chunk], dict[str, str]]:
    docs = beir_documents(ds)
    chunker = DocumentChunker(
        embedder, max_tokens=settings.chunking.max_tokens, overlap_tokens=settings.chunking.overlap_tokens
    )
    chunks = [c for d in docs for c in chunker.chunks(d)]
    return chunks, {d.id: d.locator for d in docs}


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk]) -> Vectors:
    """Vectors for the chunks (longest texts grouped together: less padding, same result)."""
    return embedder.encode([embedding_input(c) for c in chunks])


def _server_stores(
    settings: Settings, embedder: Embedder, name: str
) -> tuple[VectorStore, KeywordStore, list[Callable[[], None]]]:
    """A fresh Qdrant collection and OpenSearch index named ``name``, dropped afterwards."""
    from index.keywords_opensearch import OpenSearchKeywordStore, client_from_settings
    from index.vectors_qdrant import QdrantVectorStore, connect, create_generation_collection

    client = connect(settings.backend)
    create_generation_collection(client, name, embedder.dimension)
    vectors = QdrantVectorStore(client, name, model_id=embedder.model_id, dimension=embedder.dimension)
    keywords = OpenSearchKeywordStore.create(client_from_settings(settings.backend), name)

    def drop_collection() -> None:
        client.delete_collection(name)

    return vectors, keywords, [keywords.drop_index, drop_collection, client.close]


def build_index(
    ds: BeirDataset,
    embedder: Embedder,
    settings: Settings,
    *,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    dense: bool = True,
) -> EvalIndex:
    """Chunk, embed (through the cache) and write the corpus into fresh stores.

    ``dense=False`` leaves the vector store empty (BM25-only runs need no embeddings).
    """
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    chunks, beir_id = chunk_corpus(ds, embedder, settings)
    timings["chunk_s"] = time.perf_counter() - t0
    say(
        f"{ds.name}: {len(ds.corpus)} documents -> {len(chunks)} chunks"
        + ("; embedding (cached)" if dense else "")
    )
    t0 = time.perf_counter()
    before = embedder.encoded_count
    vecs = embed_chunks(embedder, chunks) if dense else None
    timings["embed_s"] = time.perf_counter() - t0
    timings["embedded_now"] = float(embedder.encoded_count - before)
    cleanup: list[Callable[[], None]] = []
    t0 = time.perf_counter()
    if settings.backend.mode is BackendMode.SERVER:
        name = f"gw-eval-{ds.name.lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        vectors, keywords, cleanup = _server_stores(settings, embedder, name)
    else:
        root = Path(tempfile.mkdtemp(prefix=f"gw-eval-{ds.name}-", dir=workdir))
        cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))
        vectors = EdgeVectorStore(root / "vectors", model_id=embedder.model_id, dimension=embedder.dimension)
        keywords = TantivyKeywordStore(root / "keywords")
        cleanup.extend([keywords.close, vectors.close])
    if vecs is not None:
        # the stores take numpy matrices too (index.vector_payload.as_matrix); the protocol
        # types the portable form
        vectors.upsert(chunks, cast(Any, vecs))
    keywords.upsert(chunks)
    optimize = getattr(vectors, "optimize", None)
    if callable(optimize):
        optimize()
    timings["write_s"] = time.perf_counter() - t0
    return EvalIndex(vectors, keywords, chunks, beir_id, timings, cleanup)


@contextlib.contextmanager
def indexed(ds: BeirDataset, embedder: Embedder, settings: Settings, **kw: object) -> Iterator[EvalIndex]:
    index = build_index(ds, embedder, settings, **kw)  # type: ignore[arg-type]
    try:
        yield index
    finally:
        index.close()
