"""Chunk stage: parsed documents to token-bounded, structure-aware chunks with exact spans.

The chunker counts tokens with the embedding model's own tokenizer and never plans a chunk
longer than the model encodes: the window is ``min(chunking.max_tokens, model max length)``
minus the tokens of the document's title, which the embedding input carries in front of every
chunk (:mod:`index.passages`, the same rule the retrieval evaluation chunks by), so nothing is
silently truncated at embedding time. Chunk ids are deterministic (document id, span, text
hash), which is what makes every store write idempotent: writing a chunk twice is writing it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core.embedding import Embedder
from core.ids import chunk_id, content_hash
from core.settings import ChunkingSettings
from index.chunking import hf_token_offsets
from index.passages import TitledChunker
from pipelines.failpoints import failpoint
from pipelines.manifest import ChunkRecord, Manifest
from pipelines.plans import NEEDS_PARSE, Action, Stage
from pipelines.progress import Metadata, ProgressObserver, SilentProgress
from pipelines.staging import PlanStore


@dataclass
class ChunkReport:
    source_id: str
    staged: bool = True
    documents: int = 0
    chunks: int = 0
    max_tokens: int = 0
    seconds: float = 0.0

    def metadata(self) -> Metadata:
        return {
            "documents chunked": self.documents,
            "chunks": self.chunks,
            "token budget": self.max_tokens,
            "seconds": round(self.seconds, 3),
        }


def make_chunker(embedder: Embedder, settings: ChunkingSettings) -> TitledChunker:
    """A chunker bounded by the setting, what the model can encode and each document's title."""
    return TitledChunker(
        hf_token_offsets(embedder.model.tokenizer),
        window=min(settings.max_tokens, embedder.max_tokens),
        overlap_tokens=settings.overlap_tokens,
    )


def chunk_planned(
    manifest: Manifest,
    source_id: str,
    chunker: TitledChunker | Callable[[], TitledChunker],
    progress: ProgressObserver | None = None,
) -> ChunkReport:
    """Chunk every parsed document of the plan; replaces any chunks staged before.

    ``chunker`` may be a factory: building one loads the model's tokenizer, which a run with
    nothing to chunk (the usual scheduled run) should not pay for.
    """
    progress = progress or SilentProgress()
    started = time.perf_counter()
    store = PlanStore(manifest, source_id)
    report = ChunkReport(source_id)
    if store.require(Stage.PARSED, what="chunking") is None:
        report.staged = False
        return report
    todo = [d for d in store.documents(NEEDS_PARSE) if d.status == "parsed" and d.text is not None]
    if todo and not isinstance(chunker, TitledChunker):
        chunker = chunker()
    if isinstance(chunker, TitledChunker):
        report.max_tokens = chunker.window
    # the title the chunks will carry (explicit, parsed, else the indexed one): it shares the window
    untitled = [d.document_id for d in todo if not (d.title or d.parsed_title)]
    indexed = manifest.documents(source_id) if untitled else {}
    progress.stage(source_id, "chunk", len(todo))
    records: list[ChunkRecord] = []
    for doc in todo:
        assert doc.text is not None
        assert isinstance(chunker, TitledChunker)
        title = doc.meta(indexed.get(doc.document_id)).title
        plans = chunker.plan(title, doc.text, doc.blocks or None)
        if not plans:
            store.record_failed(
                doc.document_id,
                "parse",
                "no text to index (only whitespace after parsing)",
                Action.DELETE if doc.action is Action.CHANGE else Action.FAIL,
            )
            progress.advance()
            continue
        for ordinal, p in enumerate(plans):
            text = doc.text[p.start : p.end]
            records.append(
                ChunkRecord(
                    chunk_id=chunk_id(doc.document_id, p.start, p.end, text),
                    document_id=doc.document_id,
                    source_id=source_id,
                    ordinal=ordinal,
                    text=text,
                    text_hash=content_hash(text),
                    start=p.start,
                    end=p.end,
                    section_path=p.section_path,
                    page=p.page,
                )
            )
        report.documents += 1
        progress.advance()
    store.replace_chunks(records)
    report.chunks = len(records)
    report.seconds = time.perf_counter() - started
    store.advance(Stage.CHUNKED)
    store.add_counts(chunks=report.chunks, chunk_seconds=report.seconds)
    failpoint("after-chunk")
    return report
