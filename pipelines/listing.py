"""Listing stage: recover from a crashed run, list the source, diff it against the manifest, stage a plan.

This is the only stage that talks to the source (files, HTTP, the ticket export); everything
after it works from the staged plan. The mass-delete guard runs here, before anything is staged,
so a broken listing (an unmounted folder that looks empty) stops the run before any store is
touched; it runs again before writing, when parse failures may have added deletions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from core.settings import Settings
from pipelines.backends import EmbeddedBackend, ServerBackend
from pipelines.failpoints import failpoint
from pipelines.manifest import Manifest
from pipelines.plans import ListingCounts, check_mass_delete, diff, known_documents
from pipelines.progress import Metadata, ProgressObserver, SilentProgress
from pipelines.recovery import Recovery, recover
from pipelines.sources import list_source
from pipelines.staging import PlanStore


@dataclass
class ListingReport:
    source_id: str
    kind: str
    counts: ListingCounts
    recovery: Recovery
    plan_id: str = ""
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def metadata(self) -> Metadata:
        c = self.counts
        return {
            "source kind": self.kind,
            "documents seen": c.seen,
            "documents added": c.added,
            "documents changed": c.changed + c.rewritten,
            "documents with ACL changed": c.acl_changed,
            "documents deleted": c.deleted,
            "documents failed": c.failed,
            "documents unchanged": c.unchanged,
            "documents repaired": c.repaired,
            "recovery": self.recovery.action,
            "seconds": round(self.seconds, 3),
            "listing failures": "\n".join(f"{loc}: {why}" for loc, why in self.failures[:50]) or "none",
        }


def list_and_plan(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    source_id: str,
    *,
    full: bool = False,
    allow_mass_delete: bool = False,
    run_id: str = "",
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
    progress: ProgressObserver | None = None,
) -> ListingReport:
    progress = progress or SilentProgress()
    started = time.perf_counter()
    source = settings.source(source_id)
    progress.stage(source_id, "list", None)
    recovery = recover(backend, manifest, source_id, run_id=run_id)
    store = PlanStore(manifest, source_id)
    listing = list_source(
        source, known_documents(manifest, source_id), full=full, transport=transport, now=now
    )
    indexed = manifest.documents(source_id)
    planned, counts = diff(
        source_id, listing, indexed, manifest.failures(source_id), store.dirty(), full=full
    )
    check_mass_delete(
        source_id, planned, indexed, settings.pipeline.max_delete_share, allowed=allow_mass_delete
    )
    plan = store.stage_new(planned, counts, full=full, allow_mass_delete=allow_mass_delete, run_id=run_id)
    seconds = time.perf_counter() - started
    store.add_counts(listing_seconds=seconds)
    failpoint("after-listing")
    return ListingReport(
        source_id=source_id,
        kind=source.kind,
        counts=counts,
        recovery=recovery,
        plan_id=plan.plan_id,
        seconds=seconds,
        failures=[(f.locator, f.reason) for f in listing.failures],
    )
