"""Write stage: apply a staged plan to both stores (vectors first, then keywords).

Why each write is safe to repeat: chunk ids are deterministic, an upsert of an existing id
replaces it, deleting a document that is not there is a no-op, and an ACL update sets values
rather than adding to them. So whatever a crash interrupted, applying the same plan (or a newer
one) again converges. What makes the *next* run know it has to is decided before writing:

- a new generation (``clone``/``rebuild``) is recorded in the plan before the first write; the
  next run drops it if it was never promoted (:mod:`pipelines.recovery`);
- writes into the live generation (server mode) first mark every document they touch as dirty;
  the next run rewrites dirty documents from scratch, whatever the manifest says.

Vectors (of :func:`index.passages.embedding_input`: title and chunk text) come from the
embedding cache (the embed stage filled it); a miss (a cleared cache, a rebuild for a new
model) is embedded here and counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from core.embedding import Embedder
from core.models import Chunk
from core.settings import Settings
from index.passages import embedding_input
from pipelines.backends import EmbeddedBackend, ServerBackend, TargetKind, WriteTarget
from pipelines.failpoints import failpoint
from pipelines.manifest import IndexedDocument, Manifest
from pipelines.plans import WRITES, Action, PlannedDocument, Stage, check_mass_delete
from pipelines.progress import Metadata, ProgressObserver, SilentProgress
from pipelines.staging import PlanStore

BATCH = 1024  # chunks per store call: big enough to amortize tantivy's commit
OPTIMIZE_AFTER = 5000  # a copied generation that received this many points gets its index rebuilt


@dataclass
class WriteReport:
    source_id: str
    staged: bool = True
    target: str = "none"
    generation_id: str | None = None
    base_generation: str | None = None
    upserted: int = 0
    deleted_documents: int = 0
    acl_updated_documents: int = 0
    acl_updated_chunks: int = 0
    embedded: int = 0
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.upserted / self.seconds if self.seconds > 0 else 0.0

    def metadata(self) -> Metadata:
        return {
            "target": self.target,
            "generation": self.generation_id or ("live" if self.target == TargetKind.LIVE else "none"),
            "chunks upserted": self.upserted,
            "documents deleted or replaced": self.deleted_documents,
            "documents with ACL updated": self.acl_updated_documents,
            "chunks with ACL updated": self.acl_updated_chunks,
            "chunks embedded while writing": self.embedded,
            "seconds": round(self.seconds, 3),
            "chunks per second": round(self.chunks_per_second, 1),
        }


def model_dimension(backend: EmbeddedBackend | ServerBackend, embedder: Embedder) -> int:
    """The embedding dimension, without loading the model when the live generation already says
    it (a run that only deletes or updates ACLs needs no model at all)."""
    live = backend.live()
    if live is not None and live.embedding_model == embedder.model_id:
        return live.dimension
    return embedder.dimension


def choose_target(
    backend: EmbeddedBackend | ServerBackend, model_id: str, dimension: int, *, full: bool
) -> TargetKind:
    live = backend.live()
    if full or live is None or (live.embedding_model, live.dimension) != (model_id, dimension):
        return TargetKind.REBUILD
    return TargetKind.LIVE if isinstance(backend, ServerBackend) else TargetKind.CLONE


def write_plan(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    source_id: str,
    embedder: Embedder,
    progress: ProgressObserver | None = None,
) -> WriteReport:
    """Apply the staged (embedded) plan of ``source_id``; writes nothing when nothing changed."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    store = PlanStore(manifest, source_id)
    report = WriteReport(source_id)
    plan = store.require(Stage.EMBEDDED, what="writing")
    if plan is None:
        report.staged = False
        return report
    planned = store.documents()
    indexed = manifest.documents(source_id)
    # parse failures of changed documents turn into deletions: check the guard again
    check_mass_delete(
        source_id, planned, indexed, settings.pipeline.max_delete_share, allowed=plan.allow_mass_delete
    )
    if plan.stage.order >= Stage.WRITTEN.order:
        # a re-executed step: the plan is applied already (promotion has not run yet)
        report.target = plan.target or "none"
        report.generation_id = plan.generation_id
        report.base_generation = plan.base_generation
        return report
    if not plan.full and not any(p.action in WRITES for p in planned):
        store.advance(Stage.WRITTEN, target="none", generation_id=None, base_generation=None)
        report.seconds = time.perf_counter() - started
        return report
    with backend.writer_lock():
        _drop_unpromoted(backend, plan.generation_id)
        dimension = model_dimension(backend, embedder)
        kind = choose_target(backend, embedder.model_id, dimension, full=plan.full)
        if kind is TargetKind.LIVE:
            store.mark_dirty(p.document_id for p in planned if p.action in WRITES)
        target = backend.open_target(kind, embedder.model_id, dimension)
        # recorded before the first write, so a crash leaves a generation the next run can drop
        store.set_fields(
            generation_id=target.generation_id, base_generation=target.base_generation, target=kind.value
        )
        failpoint("after-generation-created")
        try:
            apply_to_target(target, manifest, store, planned, indexed, embedder, report, progress)
            target.finish(optimize=kind is TargetKind.REBUILD or report.upserted >= OPTIMIZE_AFTER)
        except BaseException:
            target.abandon()
            raise
        if target.generation_id is not None:
            backend.record(
                target.generation_id, chunk_count=target_chunk_count(manifest, store, planned, indexed)
            )
    report.target = kind.value
    report.generation_id = target.generation_id
    report.base_generation = target.base_generation
    report.seconds = time.perf_counter() - started
    store.advance(Stage.WRITTEN)
    store.add_counts(
        upserted=report.upserted,
        documents_replaced=report.deleted_documents,
        acl_updated=report.acl_updated_documents,
        write_embedded=report.embedded,
        write_seconds=report.seconds,
    )
    return report


def _drop_unpromoted(backend: EmbeddedBackend | ServerBackend, generation_id: str | None) -> None:
    """A generation an earlier attempt of this plan built but never promoted is garbage."""
    if generation_id is None or not backend.exists(generation_id):
        return
    live = backend.live()
    if live is None or live.id != generation_id:
        backend.drop(generation_id)


def apply_to_target(
    target: WriteTarget,
    manifest: Manifest,
    store: PlanStore,
    planned: list[PlannedDocument],
    indexed: dict[str, IndexedDocument],
    embedder: Embedder,
    report: WriteReport,
    progress: ProgressObserver,
) -> None:
    by_action: dict[Action, list[PlannedDocument]] = {a: [] for a in Action}
    for p in planned:
        by_action[p.action].append(p)
    if target.kind is TargetKind.REBUILD:
        progress.stage(store.source_id, "write", target_chunk_count(manifest, store, planned, indexed))
        _upsert(target, rebuild_chunks(manifest, store, planned, indexed), embedder, report, progress)
        return
    # replace = delete the document's chunks, then upsert its new ones
    replaced = [p.document_id for p in planned if p.action in (Action.CHANGE, Action.REWRITE, Action.DELETE)]
    replaced += [p.document_id for p in by_action[Action.ADD] if p.dirty]
    new_chunks = list(_planned_chunks(manifest, store, planned, indexed))
    progress.stage(store.source_id, "write", len(new_chunks) + len(by_action[Action.ACL]))
    if replaced:
        target.vectors.delete_documents(replaced)
        target.keywords.delete_documents(replaced)
        report.deleted_documents = len(replaced)
    _upsert(target, new_chunks, embedder, report, progress)
    for p in by_action[Action.ACL]:
        meta = p.meta(indexed.get(p.document_id))
        report.acl_updated_chunks += target.vectors.update_acl(p.document_id, meta.acl, meta.updated_at)
        target.keywords.update_acl(p.document_id, meta.acl, meta.updated_at)
        report.acl_updated_documents += 1
        progress.advance()


def _upsert(
    target: WriteTarget,
    chunks: Iterable[Chunk],
    embedder: Embedder,
    report: WriteReport,
    progress: ProgressObserver,
) -> None:
    before = embedder.encoded_count
    for batch in chunk_batches(chunks, BATCH):
        vectors = embedder.encode([embedding_input(c) for c in batch])
        target.vectors.upsert(batch, cast(Sequence[Sequence[float]], vectors))  # an ndarray
        failpoint("between-stores")  # vectors hold this batch, keywords do not
        target.keywords.upsert(batch)
        report.upserted += len(batch)
        progress.advance(len(batch))
        failpoint("mid-write")  # both stores hold some of the plan's chunks, not all
    report.embedded += embedder.encoded_count - before


def _planned_chunks(
    manifest: Manifest, store: PlanStore, planned: list[PlannedDocument], indexed: dict[str, IndexedDocument]
) -> Iterator[Chunk]:
    """The chunks the plan (re)writes: new ones of added/changed documents, committed ones of rewrites."""
    metas = {p.document_id: p.meta(indexed.get(p.document_id)) for p in planned}
    parsed = {
        p.document_id for p in planned if p.action in (Action.ADD, Action.CHANGE) and p.status == "parsed"
    }
    for record in store.chunks(parsed):
        yield record.to_chunk(metas[record.document_id])
    rewrites = [p.document_id for p in planned if p.action is Action.REWRITE]
    for record in manifest.chunk_records(document_ids=rewrites):
        yield record.to_chunk(metas[record.document_id])


def rebuild_chunks(
    manifest: Manifest, store: PlanStore, planned: list[PlannedDocument], indexed: dict[str, IndexedDocument]
) -> Iterator[Chunk]:
    """Everything the index holds once the plan is applied: other sources as committed, this
    source's untouched documents as committed, and this plan's documents as planned."""
    source_id = store.source_id
    yield from manifest.indexed_chunks(exclude_sources=(source_id,))
    by_id = {p.document_id: p for p in planned}
    # a FAIL of an indexed document keeps it (a transient failure); a definitive one is a DELETE
    replaced = {p.document_id for p in planned if p.action in (Action.ADD, Action.CHANGE, Action.DELETE)}
    keep = [d for d in indexed if d not in replaced]
    for record in manifest.chunk_records(document_ids=keep):
        p = by_id.get(record.document_id)
        meta = p.meta(indexed[record.document_id]) if p is not None else indexed[record.document_id]
        yield record.to_chunk(meta)
    parsed = {
        p.document_id for p in planned if p.action in (Action.ADD, Action.CHANGE) and p.status == "parsed"
    }
    for record in store.chunks(parsed):
        yield record.to_chunk(by_id[record.document_id].meta(indexed.get(record.document_id)))


def target_chunk_count(
    manifest: Manifest, store: PlanStore, planned: list[PlannedDocument], indexed: dict[str, IndexedDocument]
) -> int:
    """How many chunks the whole index holds once this plan is committed."""
    removed = {p.document_id for p in planned if p.action in (Action.ADD, Action.CHANGE, Action.DELETE)}
    parsed = {
        p.document_id for p in planned if p.action in (Action.ADD, Action.CHANGE) and p.status == "parsed"
    }
    kept = manifest.chunk_count() - sum(indexed[d].chunk_count for d in removed if d in indexed)
    return kept + len(store.chunks(parsed))


def chunk_batches(chunks: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    for c in chunks:
        batch.append(c)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
