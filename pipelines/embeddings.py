"""Embed stage: vectors for the staged chunks whose input the model has not embedded before.

What is embedded for a chunk is :func:`index.passages.embedding_input` (the document title, a
blank line, the chunk text): the input the retrieval evaluation embeds, so its figures describe
what ships.

Vectors do not travel between stages: they go into the embedding cache (model id + text hash
-> vector, :class:`core.embedding.EmbeddingCache`), and the write stage reads them back from
there. So an input is embedded once across runs, sources and generations; a chunk that moved
(new span, same text) or a document whose ACL changed costs no model call, and a new generation
can be rebuilt from the manifest without re-embedding anything.

With ``pipeline.embed_sentences`` (the default) the stage also fills the cache with the
sentence texts of every staged chunk (:func:`retrieval.rerankers.maxsim.sentence_texts`): the
agent and the max-similarity reranker embed those at question time, and a cold question would
otherwise pay for them (seconds on a CPU). Sentences of unchanged chunks are cache hits; an
unchanged corpus stages no chunk, so a second run embeds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.embedding import Embedder
from core.models import Chunk
from index.passages import embedding_input
from pipelines.failpoints import failpoint
from pipelines.manifest import Manifest
from pipelines.plans import Action, Stage
from pipelines.progress import Metadata, ProgressObserver, SilentProgress
from pipelines.staging import PlanStore
from retrieval.rerankers.maxsim import sentence_texts

BATCH = 1024  # texts per cache round trip; a crash loses at most one batch of model work


@dataclass
class EmbedReport:
    source_id: str
    staged: bool = True
    chunks: int = 0
    distinct_texts: int = 0
    new_texts: int = 0  # chunk texts this source's index did not hold before
    embedded: int = 0  # chunk inputs the model actually encoded (cache misses)
    chunk_seconds: float = 0.0
    sentences: int = 0  # distinct sentence texts of the staged chunks (0: embed_sentences off)
    sentences_embedded: int = 0  # of which cache misses
    sentence_seconds: float = 0.0
    seconds: float = 0.0
    model_id: str = ""

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.chunk_seconds if self.chunk_seconds > 0 else 0.0

    def metadata(self) -> Metadata:
        return {
            "chunks staged": self.chunks,
            "distinct texts": self.distinct_texts,
            "new texts": self.new_texts,
            "chunks embedded": self.embedded,
            "cache hits": self.distinct_texts - self.embedded,
            "chunks per second": round(self.chunks_per_second, 1),
            "sentences": self.sentences,
            "sentences_embedded": self.sentences_embedded,
            "sentence seconds": round(self.sentence_seconds, 3),
            "seconds": round(self.seconds, 3),
            "model": self.model_id,
        }


def staged_chunks(manifest: Manifest, store: PlanStore) -> list[Chunk]:
    """The chunks this plan writes, with the payload (title) they will carry: the staged chunks
    of added and changed documents, and the committed ones of rewritten documents."""
    planned = store.documents()
    indexed = manifest.documents(store.source_id)
    metas = {p.document_id: p.meta(indexed.get(p.document_id)) for p in planned}
    chunks = [r.to_chunk(metas[r.document_id]) for r in store.chunks() if r.document_id in metas]
    rewrites = [p.document_id for p in planned if p.action is Action.REWRITE]
    chunks += [r.to_chunk(metas[r.document_id]) for r in manifest.chunk_records(document_ids=rewrites)]
    return chunks


def embed_planned(
    manifest: Manifest,
    source_id: str,
    embedder: Embedder,
    progress: ProgressObserver | None = None,
    *,
    embed_sentences: bool = True,
) -> EmbedReport:
    """Make sure every staged chunk input (and, optionally, every sentence of a staged chunk)
    has a cached vector; count the model calls."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    store = PlanStore(manifest, source_id)
    report = EmbedReport(source_id, model_id=embedder.model_id)
    if store.require(Stage.CHUNKED, what="embedding") is None:
        report.staged = False
        return report
    chunks = staged_chunks(manifest, store)
    inputs = list(dict.fromkeys(embedding_input(c) for c in chunks))
    known = manifest.text_hashes(source_id)
    report.chunks = len(chunks)
    report.distinct_texts = len(inputs)
    report.new_texts = len({c.text_hash for c in chunks} - known)
    progress.stage(source_id, "embed", len(inputs))
    report.embedded = _encode_batched(embedder, inputs, progress.advance, failpoint_at="mid-embed")
    report.chunk_seconds = time.perf_counter() - started
    if embed_sentences and chunks:
        sentences_started = time.perf_counter()
        sentences = list(dict.fromkeys(t for c in chunks for t in sentence_texts(c)))
        report.sentences = len(sentences)
        progress.stage(source_id, "sentences", len(sentences))
        report.sentences_embedded = _encode_batched(embedder, sentences, progress.advance)
        report.sentence_seconds = time.perf_counter() - sentences_started
    report.seconds = time.perf_counter() - started
    store.advance(Stage.EMBEDDED)
    store.add_counts(
        embedded=report.embedded,
        new_texts=report.new_texts,
        sentences_embedded=report.sentences_embedded,
        embed_seconds=report.seconds,
    )
    return report


def _encode_batched(
    embedder: Embedder,
    texts: Iterable[str],
    advance: Callable[[int], None],
    *,
    failpoint_at: str | None = None,
) -> int:
    """Encode through the cache in batches; returns how many texts the model actually encoded.

    Shortest first: texts of similar length share a model batch, so less padding is encoded
    (the vectors are the same in any order)."""
    pending = sorted(texts, key=len)
    before = embedder.encoded_count
    for i in range(0, len(pending), BATCH):
        embedder.encode(pending[i : i + BATCH], progress=advance)
        if failpoint_at is not None and i == 0 and len(pending) > BATCH:
            failpoint(failpoint_at)
    return embedder.encoded_count - before
