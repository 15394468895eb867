"""Audits behind the asset checks: do the stores, the manifest and the settings agree?

Plain functions over the live generation and the manifest, so the CLI, tests and Dagster's
asset checks run the same code:

- :func:`audit_stores`: per source, the chunk ids in each store equal the manifest's (nothing
  missing, nothing orphaned), and each store's total count equals the manifest's (a duplicate
  would show as a surplus: ids are sets, counts are not).
- :func:`audit_acl`: no document of the source has an empty ACL in the manifest, and every
  chunk of the source is reachable through the vector engine's own ACL filter with the union of
  the source's ACL entries (a chunk stored with an empty or stale ACL is not). Keyword stores
  have no query that matches "every chunk", so they are covered by the id agreement and by their
  ACL update being one atomic delete-and-re-add (tantivy) or one update-by-query (OpenSearch).
- :func:`audit_freshness`: the source synced within its ``max_age`` and has no document older.
- :func:`audit_model`: the live generation was embedded with the configured model.

:func:`audit_live` runs the first two over one opening of the live generation (the checks use
it; :func:`audit_stores` and :func:`audit_acl` are it for one source and one audit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.acl import PUBLIC
from core.embedding import resolve_model
from core.settings import Settings
from index.types import AclFilter, KeywordStore, SearchFilter, VectorStore
from pipelines.backends import EmbeddedBackend, ServerBackend
from pipelines.manifest import Manifest, utcnow
from pipelines.progress import Metadata

SAMPLE = 10  # ids listed in a failing audit's message
ACL_REACH_LIMIT = 100_000  # beyond this many chunks per source the ACL reachability probe is skipped


@dataclass
class StoreAudit:
    source_id: str
    live_generation: str | None
    manifest_chunks: int
    vector_chunks: int
    keyword_chunks: int
    manifest_total: int
    vector_total: int
    keyword_total: int
    missing_in_vectors: list[str] = field(default_factory=list)
    orphans_in_vectors: list[str] = field(default_factory=list)
    missing_in_keywords: list[str] = field(default_factory=list)
    orphans_in_keywords: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            not (self.missing_in_vectors or self.orphans_in_vectors)
            and not (self.missing_in_keywords or self.orphans_in_keywords)
            and self.vector_total == self.manifest_total == self.keyword_total
        )

    @property
    def description(self) -> str:
        if self.passed:
            return (
                f"both stores hold exactly the manifest's {self.manifest_chunks} chunks of "
                f"'{self.source_id}' ({self.manifest_total} in all)"
            )
        parts = []
        for label, ids in (
            ("missing in vectors", self.missing_in_vectors),
            ("orphans in vectors", self.orphans_in_vectors),
            ("missing in keywords", self.missing_in_keywords),
            ("orphans in keywords", self.orphans_in_keywords),
        ):
            if ids:
                parts.append(f"{len(ids)} {label} (e.g. {', '.join(ids[:SAMPLE])})")
        if not self.vector_total == self.manifest_total == self.keyword_total:
            parts.append(
                f"totals differ: manifest {self.manifest_total}, vectors {self.vector_total}, "
                f"keywords {self.keyword_total}"
            )
        return f"stores disagree with the manifest for '{self.source_id}': " + "; ".join(parts)

    def metadata(self) -> Metadata:
        return {
            "live generation": self.live_generation or "none",
            "manifest chunks": self.manifest_chunks,
            "vector chunks": self.vector_chunks,
            "keyword chunks": self.keyword_chunks,
            "manifest total": self.manifest_total,
            "vector total": self.vector_total,
            "keyword total": self.keyword_total,
            "missing in vectors": len(self.missing_in_vectors),
            "orphans in vectors": len(self.orphans_in_vectors),
            "missing in keywords": len(self.missing_in_keywords),
            "orphans in keywords": len(self.orphans_in_keywords),
        }


def audit_stores(backend: EmbeddedBackend | ServerBackend, manifest: Manifest, source_id: str) -> StoreAudit:
    return audit_live(backend, manifest, [source_id], acl=False).stores[0]


def _store_audit(
    manifest: Manifest, source_id: str, live: str | None, stores: tuple[VectorStore, KeywordStore] | None
) -> StoreAudit:
    expected = manifest.chunk_ids(source_id=source_id)
    total = manifest.chunk_count()
    if stores is None:
        return StoreAudit(
            source_id, None, len(expected), 0, 0, total, 0, 0, missing_in_vectors=sorted(expected),
            missing_in_keywords=sorted(expected),
        )  # fmt: skip
    vectors, keywords = stores
    return _compare(source_id, live, expected, total, vectors, keywords)


def _compare(
    source_id: str,
    live: str | None,
    expected: set[str],
    total: int,
    vectors: VectorStore,
    keywords: KeywordStore,
) -> StoreAudit:
    in_vectors = vectors.chunk_ids(source_id=source_id)
    in_keywords = keywords.chunk_ids(source_id=source_id)
    return StoreAudit(
        source_id=source_id,
        live_generation=live,
        manifest_chunks=len(expected),
        vector_chunks=len(in_vectors),
        keyword_chunks=len(in_keywords),
        manifest_total=total,
        vector_total=vectors.count(),
        keyword_total=keywords.count(),
        missing_in_vectors=sorted(expected - in_vectors),
        orphans_in_vectors=sorted(in_vectors - expected),
        missing_in_keywords=sorted(expected - in_keywords),
        orphans_in_keywords=sorted(in_keywords - expected),
    )


@dataclass
class AclAudit:
    source_id: str
    documents: int
    chunks: int
    documents_without_acl: list[str] = field(default_factory=list)
    unreachable_chunks: list[str] = field(default_factory=list)
    probed: bool = True

    @property
    def passed(self) -> bool:
        return not self.documents_without_acl and not self.unreachable_chunks

    @property
    def description(self) -> str:
        if self.passed:
            probe = "" if self.probed else " (engine probe skipped: source too large)"
            return f"all {self.chunks} chunks of '{self.source_id}' carry a non-empty ACL{probe}"
        parts = []
        if self.documents_without_acl:
            parts.append(
                f"{len(self.documents_without_acl)} documents have an empty ACL (readable by nobody; "
                f"add a sidecar or default_acl): {', '.join(self.documents_without_acl[:SAMPLE])}"
            )
        if self.unreachable_chunks:
            parts.append(
                f"{len(self.unreachable_chunks)} chunks in the vector store do not carry their "
                f"document's ACL: {', '.join(self.unreachable_chunks[:SAMPLE])}"
            )
        return f"source '{self.source_id}': " + "; ".join(parts)

    def metadata(self) -> Metadata:
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "documents without ACL": len(self.documents_without_acl),
            "chunks unreachable through their ACL": len(self.unreachable_chunks),
            "engine probe": self.probed,
        }


def audit_acl(backend: EmbeddedBackend | ServerBackend, manifest: Manifest, source_id: str) -> AclAudit:
    return audit_live(backend, manifest, [source_id], stores=False).acl[0]


def _acl_audit(
    manifest: Manifest, source_id: str, stores: tuple[VectorStore, KeywordStore] | None
) -> AclAudit:
    docs = manifest.documents(source_id)
    expected = manifest.chunk_ids(source_id=source_id)
    audit = AclAudit(
        source_id,
        documents=len(docs),
        chunks=len(expected),
        documents_without_acl=sorted(d.locator for d in docs.values() if not d.acl),
    )
    terms = sorted({PUBLIC, *(entry for d in docs.values() for entry in d.acl)})
    if not expected:
        return audit
    if len(expected) > ACL_REACH_LIMIT:
        audit.probed = False
        return audit
    if stores is None:
        return audit
    vectors = stores[0]  # exact search: every chunk the filter admits comes back
    flt = SearchFilter(acl=AclFilter(terms=tuple(terms)), source_ids=(source_id,))
    probe = [0.0] * vectors.dimension
    probe[0] = 1.0
    hits = vectors.search(probe, flt, len(expected))
    reachable = {h.chunk.id for h in hits if h.chunk.acl}
    empty = {d.document_id for d in docs.values() if not d.acl}
    should_reach = expected - {c for d in empty for c in manifest.chunk_ids(document_id=d)}
    audit.unreachable_chunks = sorted(should_reach - reachable)
    return audit


@dataclass
class LiveAudit:
    """:func:`audit_stores` and :func:`audit_acl` of some sources, in their order."""

    stores: list[StoreAudit] = field(default_factory=list)
    acl: list[AclAudit] = field(default_factory=list)


def audit_live(
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    source_ids: Sequence[str],
    *,
    stores: bool = True,
    acl: bool = True,
) -> LiveAudit:
    """The store and ACL audits of ``source_ids`` over ONE opening of the live generation.

    Opening it is the dearest part of both (Qdrant Edge loads its segments, ~1 s under load),
    and an unchanged ingest run does little else: the ingest checks open it once per run, not
    once per audit and source. Exact vector search serves both (the store audit only lists ids
    and counts, which search tuning does not change).
    """
    out = LiveAudit()
    live = backend.live()
    with backend.readers(exact=True) as opened:
        for source_id in source_ids:
            if stores:
                out.stores.append(_store_audit(manifest, source_id, live.id if live else None, opened))
            if acl:
                out.acl.append(_acl_audit(manifest, source_id, opened))
    return out


@dataclass
class FreshnessAudit:
    source_id: str
    max_age_days: float
    last_sync_at: datetime | None
    stale_documents: list[str] = field(default_factory=list)
    documents: int = 0
    newest_document_at: datetime | None = None

    @property
    def never_synced(self) -> bool:
        return self.last_sync_at is None

    def passed_at(self, now: datetime) -> bool:
        return self.sync_fresh(now) and not self.stale_documents

    def sync_fresh(self, now: datetime) -> bool:
        return (
            self.last_sync_at is not None
            and (now - self.last_sync_at).total_seconds() <= self.max_age_days * 86400
        )

    def describe(self, now: datetime) -> str:
        if self.passed_at(now):
            return (
                f"source '{self.source_id}' synced recently and no document is older than "
                f"{self.max_age_days:g} days"
            )
        parts = []
        if self.last_sync_at is None:
            parts.append("never synced")
        elif not self.sync_fresh(now):
            parts.append(
                f"last synced {self.last_sync_at:%Y-%m-%d}, more than {self.max_age_days:g} days ago"
            )
        if self.stale_documents:
            parts.append(
                f"{len(self.stale_documents)} of {self.documents} documents older than "
                f"{self.max_age_days:g} days (e.g. {', '.join(self.stale_documents[:SAMPLE])})"
            )
        return f"source '{self.source_id}' is past its freshness limit: " + "; ".join(parts)

    def metadata(self) -> Metadata:
        return {
            "max age (days)": self.max_age_days,
            "last sync": self.last_sync_at.isoformat() if self.last_sync_at else "never",
            "documents": self.documents,
            "stale documents": len(self.stale_documents),
            "newest document": self.newest_document_at.isoformat() if self.newest_document_at else "none",
        }


def audit_freshness(
    settings: Settings, manifest: Manifest, source_id: str, now: datetime | None = None
) -> FreshnessAudit:
    now = now or utcnow()
    source = settings.source(source_id)
    docs = manifest.documents(source_id)
    status = manifest.source_status(source_id)
    cutoff = now - source.max_age
    return FreshnessAudit(
        source_id=source_id,
        max_age_days=source.max_age.total_seconds() / 86400,
        last_sync_at=status.last_sync_at if status else None,
        stale_documents=sorted(d.locator for d in docs.values() if d.updated_at < cutoff),
        documents=len(docs),
        newest_document_at=max((d.updated_at for d in docs.values()), default=None),
    )


@dataclass(frozen=True)
class ModelAudit:
    configured: str
    live_model: str | None
    live_generation: str | None

    @property
    def passed(self) -> bool:
        return self.live_model is None or self.live_model == self.configured

    @property
    def description(self) -> str:
        if self.live_model is None:
            return "no live generation yet"
        if self.passed:
            return f"live generation '{self.live_generation}' was embedded with {self.configured}"
        return (
            f"live generation '{self.live_generation}' was embedded with {self.live_model}, but "
            f"embedding.model is {self.configured}: queries would be embedded with another model. "
            "Run `groundwork ingest --full` to build a generation with the configured model."
        )


def audit_model(settings: Settings, backend: EmbeddedBackend | ServerBackend) -> ModelAudit:
    configured, _ = resolve_model(settings.embedding.model, settings.embedding.allow_download)
    live = backend.live()
    return ModelAudit(configured, live.embedding_model if live else None, live.id if live else None)
