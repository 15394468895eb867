"""Promotion stage: make the run's generation live, then commit the manifest.

Order matters for crash safety: promote first, commit second. A crash between the two leaves a
live generation the manifest does not describe yet; the next run sees that the plan's generation
is live and commits the plan it finds staged (roll forward, :mod:`pipelines.recovery`). The
other order could leave a manifest describing a generation that never went live.

Promotion re-checks, under the writer lock, that the live generation is still the one the new
generation was copied from. If another run promoted in between (two sources ingesting at once),
the copy would silently drop that run's changes, so the plan is written again on top of the new
live generation first (a ``rebase``; cheap: vectors are cached).

The promotion gate (:mod:`pipelines.gate`) evaluates the candidate against the live generation
*before* the writer lock is taken: the golden answer suite and the retrieval figures take tens of
seconds, and holding the lock that long would stall every other writer (another source's write
stage, its promotion). The decision is recorded with exactly what it was made on: the plan id,
the candidate generation and the live generation id (in server mode also a token of the other
sources' writes, since their incremental writes change the live index without changing its id).
Under the lock, the decision is used only if all of these are unchanged; if the live generation
moved meanwhile (another run promoted), the candidate is rebased when needed and evaluated again
*under the lock* (see :func:`promote_and_commit` for why not refuse), so the generation that goes
live is always the one evaluated, against the one that was live when it was swapped in.

A blocked candidate is dropped and the plan discarded, in that order, without a commit: the
manifest keeps describing the live generation, so the next run diffs the source against it, finds
the same changes again and builds (and gates) a new candidate. A blocked candidate is therefore
never promoted later by recovery or by a retry, and no source change is lost. A crash between
the drop and the discard leaves a plan whose generation is gone, which recovery discards
(:mod:`pipelines.recovery`); a crash during the evaluation leaves an unpromoted generation, which
recovery drops.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.embedding import Embedder
from core.settings import BackendMode, Settings
from index.types import GenerationInfo
from pipelines.backends import EmbeddedBackend, ServerBackend, TargetKind
from pipelines.commit import commit_plan
from pipelines.errors import StalePlanError
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
    gate_reevaluated: bool = False  # the live generation moved during the unlocked evaluation
    lock_seconds: float = 0.0  # how long promotion held the writer lock (the gate runs outside it)

    def metadata(self) -> Metadata:
        gate = self.gate or not_gated("nothing to promote: the run built no new generation")
        return {
            **self.summary.metadata(),
            **gate.metadata(),
            "gate re-evaluated under the writer lock": self.gate_reevaluated,
            "writer lock seconds": round(self.lock_seconds, 3),
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


@dataclass(frozen=True)
class _Evaluated:
    """A gate decision and exactly what it was made on; it stands only while all of it holds."""

    plan_id: str
    candidate: str
    live: str | None
    live_writes: tuple[str, ...]
    decision: GateDecision

    def holds(self, plan: Plan, live_id: str | None, live_writes: tuple[str, ...]) -> bool:
        return (self.plan_id, self.candidate, self.live, self.live_writes) == (
            plan.plan_id,
            plan.generation_id,
            live_id,
            live_writes,
        )


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
        gate = functools.partial(
            evaluate_promotion,
            settings,
            backend,
            manifest,
            store,
            embedder,
            allow_regression=allow_regression,
        )
        rebase = functools.partial(_rebase, settings, backend, manifest, store, embedder, report, progress)
        # outside the writer lock: other writers proceed while the candidate is evaluated
        evaluated = _evaluate_unlocked(backend, manifest, store, plan, gate, rebase)
        locked_at = time.perf_counter()
        with backend.writer_lock():
            plan = _same_plan(backend, store, plan)
            generation = plan.generation_id
            live = backend.live()
            live_id = live.id if live else None
            writes = _live_writes(backend, manifest, source_id)
            # server mode: other sources wrote into the live index meanwhile; a rebuilt candidate
            # lacks their changes just as a copy of a demoted generation would
            written_meanwhile = evaluated is not None and evaluated.live_writes != writes
            if (
                generation is not None
                and live_id != generation
                and (written_meanwhile or _needs_rebase(backend, plan, live_id))
            ):
                plan = rebase()
                generation = plan.generation_id
            if generation is not None and live_id != generation:
                if evaluated is not None and evaluated.holds(plan, live_id, writes):
                    report.gate = evaluated.decision
                else:
                    # The live generation (or the candidate) changed since the evaluation: decide
                    # again, here, under the lock. Refusing ("re-run the ingest") was the other
                    # option; re-evaluating is safer: the run ends with a decision made on exactly
                    # the pair that is swapped (never a stale one), it cannot starve (a refused
                    # re-run can lose the same race again while other sources keep promoting), and
                    # the work already done (candidate written, plan staged) is not thrown away.
                    # It costs the old behaviour, the lock held for one evaluation, only when
                    # writers actually raced; the live figure is then usually a cache hit (the run
                    # that promoted cached its candidate's figure under the new live id).
                    report.gate = gate(candidate=generation, live=live)
                    report.gate_reevaluated = True
                if report.gate.blocks:
                    report.lock_seconds = time.perf_counter() - locked_at
                    return _block(report, backend, store, plan, generation, live_id, started)
                failpoint("before-promote")
                backend.promote(generation)
                report.promoted = True
                report.previous_generation = live_id
                failpoint("after-promote")
        report.lock_seconds = time.perf_counter() - locked_at
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


class _Gate(Protocol):
    def __call__(self, *, candidate: str, live: GenerationInfo | None) -> GateDecision: ...


def _evaluate_unlocked(
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    store: PlanStore,
    plan: Plan,
    gate: _Gate,
    rebase: Callable[[], Plan],
) -> _Evaluated | None:
    """Evaluate the candidate against the live generation without holding the writer lock.

    A candidate copied from a generation that is no longer live is rebased first (under the
    lock, briefly: a write with cached vectors), so the evaluation is of what would go live.
    Returns None when there is nothing to evaluate (the plan's generation is live already).
    """
    live = backend.live()
    live_id = live.id if live else None
    if plan.generation_id not in (None, live_id) and _needs_rebase(backend, plan, live_id):
        with backend.writer_lock():
            plan = _same_plan(backend, store, plan)
            live = backend.live()
            live_id = live.id if live else None
            if plan.generation_id not in (None, live_id) and _needs_rebase(backend, plan, live_id):
                plan = rebase()
    candidate = plan.generation_id
    if candidate is None or candidate == live_id:
        return None
    # read before the evaluation: a write that lands during it changes the token
    writes = _live_writes(backend, manifest, store.source_id)
    decision = gate(candidate=candidate, live=live)
    return _Evaluated(plan.plan_id, candidate, live_id, writes, decision)


def _needs_rebase(backend: EmbeddedBackend | ServerBackend, plan: Plan, live_id: str | None) -> bool:
    """The candidate was copied from a generation that is no longer live, or it vanished (a
    concurrent run's garbage collection while no reader held it open)."""
    assert plan.generation_id is not None
    return live_id != plan.base_generation or not backend.exists(plan.generation_id)


def _rebase(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    store: PlanStore,
    embedder: Embedder,
    report: PromotionReport,
    progress: ProgressObserver | None,
) -> Plan:
    """Write the plan again on top of the live generation (the caller holds the writer lock)."""
    plan = store.require(Stage.WRITTEN, what="promotion")
    assert plan is not None
    assert plan.generation_id is not None
    if backend.exists(plan.generation_id):
        backend.drop(plan.generation_id)
    store.advance(Stage.EMBEDDED, generation_id=None, base_generation=None, target=None)
    write_plan(settings, backend, manifest, store.source_id, embedder, progress)
    report.rebased = True
    rebased = store.require(Stage.WRITTEN, what="promotion")
    assert rebased is not None
    return rebased


def _same_plan(backend: EmbeddedBackend | ServerBackend, store: PlanStore, plan: Plan) -> Plan:
    """The staged plan, re-read; it must still be ``plan`` (another run of the same source may
    have replaced or committed it while the lock was not held)."""
    current = store.current()
    if current is not None and current.plan_id == plan.plan_id and current.stage is Stage.WRITTEN:
        return current
    generation = plan.generation_id
    live = backend.live()
    orphan = generation is not None and (current is None or current.generation_id != generation)
    if (
        orphan
        and generation is not None
        and backend.exists(generation)
        and (live is None or live.id != generation)
    ):
        backend.drop(generation)  # this run's candidate: no plan references it any more
    raise StalePlanError(
        f"source '{store.source_id}': the staged plan changed while its candidate was being "
        f"evaluated (another run of this source staged or committed its own): nothing was "
        "promoted by this run; run the ingest of this source again"
    )


def _live_writes(
    backend: EmbeddedBackend | ServerBackend, manifest: Manifest, source_id: str
) -> tuple[str, ...]:
    """What other sources wrote into the live index, as a token that changes with every write.

    Embedded runs never write into the live generation (every change is a new generation, so its
    id is enough). Server-mode incremental runs do, through the aliases, keeping the id: they
    mark their documents dirty before writing and record their run at commit, so both go in.
    """
    if backend.mode is not BackendMode.SERVER:
        return ()
    synced = manifest.conn.execute(
        "SELECT source_id, last_run_id FROM sources WHERE source_id != ? ORDER BY source_id",
        (source_id,),
    ).fetchall()
    dirty = manifest.conn.execute(
        "SELECT source_id, document_id FROM dirty_documents WHERE source_id != ? "
        "ORDER BY source_id, document_id",
        (source_id,),
    ).fetchall()
    return tuple(f"sync:{s}:{r}" for s, r in synced) + tuple(f"dirty:{s}:{d}" for s, d in dirty)


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
