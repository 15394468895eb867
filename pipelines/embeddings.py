"""Embed stage: vectors for the staged chunks whose text the model has not embedded before.

Vectors do not travel between stages: they go into the embedding cache (model id + text hash
-> vector, :class:`core.embedding.EmbeddingCache`), and the write stage reads them back from
there. So a text is embedded once across runs, sources and generations; a chunk that moved (new
span, same text) or a document whose ACL changed costs no model call, and a new generation can be
rebuilt from the manifest without re-embedding anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.embedding import Embedder
from pipelines.failpoints import failpoint
from pipelines.manifest import Manifest
from pipelines.plans import Stage
from pipelines.progress import Metadata, ProgressObserver, SilentProgress
from pipelines.staging import PlanStore

BATCH = 1024  # texts per cache round trip; a crash loses at most one batch of model work


@dataclass
class EmbedReport:
    source_id: str
    staged: bool = True
    chunks: int = 0
    distinct_texts: int = 0
    new_texts: int = 0  # texts this source's index did not hold before
    embedded: int = 0  # texts the model actually encoded (cache misses)
    seconds: float = 0.0
    model_id: str = ""

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def metadata(self) -> Metadata:
        return {
            "chunks staged": self.chunks,
            "distinct texts": self.distinct_texts,
            "new texts": self.new_texts,
            "chunks embedded": self.embedded,
            "cache hits": self.distinct_texts - self.embedded,
            "seconds": round(self.seconds, 3),
            "chunks per second": round(self.chunks_per_second, 1),
            "model": self.model_id,
        }


def embed_planned(
    manifest: Manifest, source_id: str, embedder: Embedder, progress: ProgressObserver | None = None
) -> EmbedReport:
    """Make sure every staged chunk text has a cached vector; count the model calls."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    store = PlanStore(manifest, source_id)
    report = EmbedReport(source_id, model_id=embedder.model_id)
    if store.require(Stage.CHUNKED, what="embedding") is None:
        report.staged = False
        return report
    records = store.chunks()
    texts = {r.text_hash: r.text for r in records}
    known = manifest.text_hashes(source_id)
    report.chunks = len(records)
    report.distinct_texts = len(texts)
    report.new_texts = sum(1 for h in texts if h not in known)
    progress.stage(source_id, "embed", len(texts))
    before = embedder.encoded_count
    pending = list(texts.values())
    for i in range(0, len(pending), BATCH):
        embedder.encode(pending[i : i + BATCH], progress=progress.advance)
        if i == 0 and len(pending) > BATCH:
            failpoint("mid-embed")
    report.embedded = embedder.encoded_count - before
    report.seconds = time.perf_counter() - started
    store.advance(Stage.EMBEDDED)
    store.add_counts(embedded=report.embedded, new_texts=report.new_texts, embed_seconds=report.seconds)
    return report
