"""Promotion stage: make the run's generation live, then commit the manifest.

Order matters for crash safety: promote first, commit second. A crash between the two leaves a
live generation the manifest does not describe yet; the next run sees that the plan's generation
is live and commits the plan it finds staged (roll forward, :mod:`pipelines.recovery`). The
other order could leave a manifest describing a generation that never went live.

Promotion re-checks, under the writer lock, that the live generation is still the one the new
generation was copied from. If another run promoted in between (two sources ingesting at once),
the copy would silently drop that run's changes, so the plan is written again on top of the new
live generation first (a ``rebase``; cheap: vectors are cached).

The promotion gate (:mod:`pipelines.gate`) runs after the rebase and before the swap, under the
writer lock, so it evaluates exactly the generation that would go live against exactly the one
that is live. A blocked candidate is dropped and the plan discarded, in that order, without a
commit: the manifest keeps describing the live generation, so the next run diffs the source
against it, finds the same changes again and builds (and gates) a new candidate. A blocked
candidate is therefore never promoted later by recovery or by a retry, and no source change is
lost. A crash between the drop and the discard leaves a plan whose generation is gone, which
recovery discards (:mod:`pipelines.recovery`); a crash during the evaluation leaves an unpromoted
generation, which recovery drops.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.embedding import Embedder
from core.settings import Settings
from pipelines.backends import EmbeddedBackend, ServerBackend, TargetKind
from pipelines.commit import commit_plan
from pipelines.failpoints import failpoint
from pipelines.gate import GateDecision, evaluate_promotion, not_gated
from pipelines.manifest import Manifest, utcnow
from pipelines.plans import Plan, Stage, outcome_counts
from pipelines.progress import Metadata, ProgressObserver
from pipelines.staging import PlanStore
from pipelines.writes import write_plan


@dataclass(frozen=True)
class RunSummary:
    """One source's run in the numbers a user asks for."""

    seen: int = 0
    added: int = 0
    changed: int = 0
    acl_changed: int = 0
    deleted: int = 0
    failed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_written: int = 0
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_counts(cls, counts: Mapping[str, float], seconds: float) -> RunSummary:
        n = {k: int(v) for k, v in counts.items()}
        return cls(
            seen=n.get("seen", 0),
            added=n.get("added", 0),
            changed=n.get("changed", 0) + n.get("rewritten", 0),
            acl_changed=n.get("acl_changed", 0),
            deleted=n.get("deleted", 0),
            failed=n.get("failed", 0) + n.get("parse_failed", 0),
            unchanged=n.get("unchanged", 0),
            chunks_embedded=n.get("embedded", 0) + n.get("write_embedded", 0),
            chunks_written=n.get("upserted", 0),
            seconds=seconds,
        )

    def metadata(self) -> Metadata:
        return {
            "documents seen": self.seen,
            "documents added": self.added,
            "documents changed": self.changed,
            "documents with ACL changed": self.acl_changed,
            "documents deleted": self.deleted,
            "documents failed": self.failed,
            "documents unchanged": self.unchanged,
            "chunks embedded": self.chunks_embedded,
            "chunks written": self.chunks_written,
            "run seconds": round(self.seconds, 3),
            "chunks per second": round(self.chunks_per_second, 1),
        }


@dataclass
class PromotionReport:
    source_id: str
    staged: bool = True
    generation_id: str | None = None
    promoted: bool = False
    previous_generation: str | None = None
    rebased: bool = False
    dropped_generations: list[str] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    failures: int = 0
    seconds: float = 0.0
    summary: RunSummary = field(default_factory=RunSummary)
    gate: GateDecision | None = None
    blocked_generation: str | None = None

    def metadata(self) -> Metadata:
        gate = self.gate or not_gated("nothing to promote: the run built no new generation")
        return {
            **self.summary.metadata(),
            **gate.metadata(),
            "blocked generation": self.blocked_generation or "none",
            "promoted": self.promoted,
            "live generation": self.generation_id or "unchanged",
            "previous generation": self.previous_generation or "none",
            "rebased": self.rebased,
            "garbage-collected generations": ", ".join(self.dropped_generations) or "none",
            "documents indexed": self.documents,
            "chunks indexed": self.chunks,
            "documents failing": self.failures,
            "seconds": round(self.seconds, 3),
        }


def promote_and_commit(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    source_id: str,
    embedder: Embedder,
    *,
    run_id: str,
    progress: ProgressObserver | None = None,
    allow_regression: bool = False,
) -> PromotionReport:
    """Gate, promote and commit the staged plan of ``source_id`` (see the module docstring);
    ``allow_regression`` promotes a candidate the gate would block (recorded in the report)."""
    started = time.perf_counter()
    store = PlanStore(manifest, source_id)
    report = PromotionReport(source_id)
    plan = store.require(Stage.WRITTEN, what="promotion")
    if plan is None:
        report.staged = False
        return report
    generation = plan.generation_id
    if generation is None:
        report.gate = not_gated(
            "the run wrote into the live index (server mode, incremental): there is no candidate to gate"
            if plan.target == TargetKind.LIVE.value
            else "nothing to promote: the run changed nothing"
        )
    if generation is not None:
        with backend.writer_lock():
            live = backend.live()
            live_id = live.id if live else None
            if live_id != generation and live_id != plan.base_generation:
                backend.drop(generation)
                store.advance(Stage.EMBEDDED, generation_id=None, base_generation=None, target=None)
                generation = write_plan(
                    settings, backend, manifest, source_id, embedder, progress
                ).generation_id
                report.rebased = True
                plan = store.require(Stage.WRITTEN, what="promotion")
                assert plan is not None
            if generation is not None and live_id != generation:
                report.gate = evaluate_promotion(
                    settings,
                    backend,
                    manifest,
                    store,
                    embedder,
                    candidate=generation,
                    live=backend.live(),
                    allow_regression=allow_regression,
                )
                if report.gate.blocks:
                    return _block(report, backend, store, plan, generation, live_id, started)
                failpoint("before-promote")
                backend.promote(generation)
                report.promoted = True
                report.previous_generation = live_id
                failpoint("after-promote")
    outcome = outcome_counts(store.documents())
    counts = commit_plan(manifest, store, plan, generation_id=generation, run_id=run_id)
    elapsed = plan.counts.get("listing_seconds", 0.0) + (utcnow() - plan.created_at).total_seconds()
    report.summary = RunSummary.from_counts(
        {**plan.counts, **outcome, "rewritten": 0, "parse_failed": 0}, elapsed
    )
    failpoint("after-commit")
    report.generation_id = generation
    report.documents, report.chunks, report.failures = counts.documents, counts.chunks, counts.failures
    if report.promoted:
        report.dropped_generations = backend.gc()
    report.seconds = time.perf_counter() - started
    return report


def _block(
    report: PromotionReport,
    backend: EmbeddedBackend | ServerBackend,
    store: PlanStore,
    plan: Plan,
    generation: str,
    live_id: str | None,
    started: float,
) -> PromotionReport:
    """Keep the live generation: drop the blocked candidate, then discard the plan (no commit)."""
    outcome = outcome_counts(store.documents())
    elapsed = plan.counts.get("listing_seconds", 0.0) + (utcnow() - plan.created_at).total_seconds()
    report.summary = RunSummary.from_counts(
        {**plan.counts, **outcome, "rewritten": 0, "parse_failed": 0}, elapsed
    )
    backend.drop(generation)
    failpoint("after-gate-drop")
    store.discard()
    report.blocked_generation = generation
    report.generation_id = live_id
    manifest = store.manifest
    report.documents = manifest.document_count(store.source_id)
    report.chunks = manifest.chunk_count(store.source_id)
    report.failures = len(manifest.failures(store.source_id))
    report.seconds = time.perf_counter() - started
    return report
