"""``groundwork ingest``: the ingest assets, run in-process, with a progress bar and a summary.

For users who do not want the Dagster UI: :func:`run_ingest` materializes the same six assets
and four checks with :func:`dagster.materialize`, one source partition after the other, in this
process (the model loads once). Runs go to the Dagster instance in ``DAGSTER_HOME`` when that is
set (so they show in the UI's history), else to a throw-away in-memory instance.

The CLI layer calls :func:`ingest_command` (progress bar, summary table, exit code) and
:func:`failures_command` (the failures listing); both take a rich console and return an exit code.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.embedding import Embedder
from core.settings import Settings
from pipelines.assets import build_ingest_assets, source_partitions
from pipelines.checks import build_ingest_checks
from pipelines.manifest import Failure, Manifest
from pipelines.progress import ProgressObserver, SilentProgress
from pipelines.promotion import RunSummary
from pipelines.resources import GroundworkResource, register_embedder

FINAL_ASSET = "live_generation"


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceRun:
    """One source's ingest run: what happened, what the checks say."""

    source_id: str
    status: str  # ok | stopped (mass-delete guard) | blocked (promotion gate) | failed
    run_id: str
    summary: RunSummary | None = None
    generation: str | None = None
    error: str | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def checks_passed(self) -> bool:
        return all(c.passed or c.severity == "WARN" for c in self.checks)


@dataclass
class IngestReport:
    sources: list[SourceRun]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" and s.checks_passed for s in self.sources)

    def source(self, source_id: str) -> SourceRun:
        return next(s for s in self.sources if s.source_id == source_id)


def run_ingest(
    settings: Settings,
    source_id: str | None = None,
    full: bool = False,
    allow_mass_delete: bool = False,
    *,
    allow_regression: bool = False,
    progress: ProgressObserver | None = None,
    instance: dg.DagsterInstance | None = None,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Ingest one source (``source_id``) or every configured source, in order.

    A source stopped by the mass-delete guard, blocked by the promotion gate or failing does not
    stop the others; see each :class:`SourceRun`'s ``status`` and ``error``. ``allow_regression``
    promotes new generations the gate would block (logged; see :mod:`pipelines.gate`).
    ``embedder`` lets a caller share a loaded model.
    """
    started = time.perf_counter()
    ids = [settings.source(source_id).id] if source_id else [s.id for s in settings.pipeline.sources]
    if embedder is not None:
        register_embedder(settings, embedder)
    partitions = source_partitions([s.id for s in settings.pipeline.sources])
    assets = build_ingest_assets(partitions)
    checks = build_ingest_checks(assets[-1])
    resources = {
        "groundwork": GroundworkResource.for_settings(settings),
        "progress": progress or SilentProgress(),
    }
    run_config = {
        "ops": {
            "manifest": {"config": {"full": full, "allow_mass_delete": allow_mass_delete}},
            "live_generation": {"config": {"allow_regression": allow_regression}},
        },
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    if instance is None and os.environ.get("DAGSTER_HOME"):
        instance = dg.DagsterInstance.get()
    runs = []
    with contextlib.ExitStack() as stack:
        if instance is None:
            # one throw-away instance for every source: making one (an in-memory SQLite with its
            # migrations stamped) cost more than an unchanged source's whole run
            instance = stack.enter_context(dg.DagsterInstance.ephemeral())
        for sid in ids:
            result = dg.materialize(
                [*assets, *checks],
                partition_key=sid,
                resources=resources,
                run_config=run_config,
                instance=instance,
                raise_on_error=False,
                tags={"groundwork/source": sid, "groundwork/trigger": "cli"},
            )
            runs.append(_source_run(sid, result))
    return IngestReport(runs, time.perf_counter() - started)


def _source_run(source_id: str, result: dg.ExecuteInProcessResult) -> SourceRun:
    run = SourceRun(source_id=source_id, status="ok" if result.success else "failed", run_id=result.run_id)
    for event in result.all_events:
        if event.event_type is dg.DagsterEventType.STEP_FAILURE and run.error is None:
            data = event.step_failure_data
            error = data.error if data is not None else None
            cause = error.cause if error is not None and error.cause is not None else error
            message = cause.message.strip() if cause is not None else "step failed"
            run.error = message.split(": ", 1)[1] if message.startswith(("pipelines.", "core.")) else message
            if cause is not None and "MassDeleteError" in (cause.cls_name or ""):
                run.status = "stopped"
        if event.event_type is dg.DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            run.metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    for evaluation in result.get_asset_check_evaluations():
        run.checks.append(
            CheckOutcome(
                name=evaluation.check_name,
                passed=evaluation.passed,
                severity=evaluation.severity.value,
                description=evaluation.description or "",
                metadata={k: v.value for k, v in evaluation.metadata.items()},
            )
        )
    final = run.metadata.get(FINAL_ASSET)
    if final is not None:
        listed = run.metadata.get("manifest", {})
        counts = {
            "seen": final.get("documents seen", listed.get("documents seen", 0)),
            "added": final.get("documents added", 0),
            "changed": final.get("documents changed", 0),
            "acl_changed": final.get("documents with ACL changed", 0),
            "deleted": final.get("documents deleted", 0),
            "failed": final.get("documents failed", 0),
            "unchanged": final.get("documents unchanged", 0),
            "embedded": final.get("chunks embedded", 0),
            "upserted": final.get("chunks written", 0),
        }
        run.summary = RunSummary.from_counts(counts, float(final.get("run seconds", 0.0)))
        generation = final.get("live generation")
        run.generation = str(generation) if generation not in (None, "unchanged") else None
        if final.get("gate") == "blocked" and run.status == "ok":
            run.status = "blocked"
            run.error = (
                "the promotion gate blocked the new generation; the live one stays (the "
                "promotion_gate check below says why and what overrides it)"
            )
    return run


# --------------------------------------------------------------------------- failures listing


def list_failures(settings: Settings, source_id: str | None = None) -> list[Failure]:
    """Documents that could not be indexed, with their reasons (``groundwork failures``)."""
    if source_id is not None:
        settings.source(source_id)  # an unknown id is a ConfigurationError naming the known ones
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        return manifest.failures(source_id)


def failures_table(failures: Sequence[Failure]) -> Table:
    table = Table(title=f"{len(failures)} documents not indexed", show_lines=False)
    for column in ("source", "document", "stage", "reason", "since"):
        table.add_column(column, overflow="fold")
    for f in failures:
        table.add_row(f.source_id, f.locator, f.stage, f.reason, f"{f.first_seen:%Y-%m-%d %H:%M}")
    return table


def failures_command(settings: Settings, source_id: str | None, console: Console) -> int:
    """Print the failures listing; exit code 0 (failures are data, not an error of this command)."""
    failures = list_failures(settings, source_id)
    if not failures:
        console.print("[green]no failures: every listed document is indexed[/]")
        return 0
    console.print(failures_table(failures))
    return 0


# --------------------------------------------------------------------------- rich output


class RichProgress:
    """A :class:`ProgressObserver` drawing one bar per (source, stage); stages with nothing to do
    show as done at once."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def stage(self, source_id: str, stage: str, total: int | None) -> None:
        self.finish()
        if total == 0:
            self._progress.add_task(f"{source_id}: {stage}", total=1, completed=1)
            return
        self._task = self._progress.add_task(f"{source_id}: {stage}", total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        """Mark the current bar complete (a stage of unknown size ends when the next begins)."""
        if self._task is not None:
            task = self._progress.tasks[self._task]
            total = task.total if task.total is not None else 1
            self._progress.update(self._task, total=total, completed=total)
            self._task = None


@contextmanager
def rich_progress(console: Console) -> Iterator[RichProgress]:
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        observer = RichProgress(progress)
        yield observer
        observer.finish()


def summary_table(report: IngestReport) -> Table:
    table = Table(title=f"groundwork ingest ({report.seconds:.1f} s)")
    for column, justify in (
        ("source", "left"),
        ("status", "left"),
        ("seen", "right"),
        ("added", "right"),
        ("changed", "right"),
        ("acl", "right"),
        ("deleted", "right"),
        ("failed", "right"),
        ("embedded", "right"),
        ("written", "right"),
        ("s", "right"),
        ("chunks/s", "right"),
        ("checks", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for run in report.sources:
        s = run.summary or RunSummary()
        status = {"ok": "[green]ok[/]", "stopped": "[yellow]stopped[/]", "blocked": "[red]blocked[/]"}.get(
            run.status, "[red]failed[/]"
        )
        failing = [c for c in run.checks if not c.passed]
        checks = (
            "[green]pass[/]"
            if run.checks and not failing
            else ", ".join(f"[{'yellow' if c.severity == 'WARN' else 'red'}]{c.name}[/]" for c in failing)
            or "-"
        )
        table.add_row(
            run.source_id,
            status,
            str(s.seen),
            str(s.added),
            str(s.changed),
            str(s.acl_changed),
            str(s.deleted),
            str(s.failed),
            str(s.chunks_embedded),
            str(s.chunks_written),
            f"{s.seconds:.1f}",
            f"{s.chunks_per_second:.0f}",
            checks,
        )
    return table


def print_report(report: IngestReport, console: Console) -> None:
    console.print(summary_table(report))
    for run in report.sources:
        if run.error:
            style = "yellow" if run.status == "stopped" else "red"
            console.print(f"[{style}]{run.source_id}: {run.error}[/]")
        gate = run.metadata.get(FINAL_ASSET, {})
        if gate.get("gate_overridden"):
            console.print(f"[yellow]{run.source_id}: promotion gate overridden (--allow-regression)[/]")
        for check in run.checks:
            if not check.passed:
                style = "yellow" if check.severity == "WARN" else "red"
                console.print(f"[{style}]{run.source_id}: check {check.name}: {check.description}[/]")
        failed = run.summary.failed if run.summary else 0
        if failed:
            console.print(
                f"{run.source_id}: {failed} documents failed; `groundwork failures --source {run.source_id}`"
            )


def ingest_command(
    settings: Settings,
    source_id: str | None,
    full: bool,
    allow_mass_delete: bool,
    console: Console,
    *,
    show_progress: bool = True,
    allow_regression: bool = False,
) -> int:
    """``groundwork ingest``: 0 when every source ran and no error-severity check failed,
    1 otherwise (a stopped, blocked or failed source, a failing check)."""
    if show_progress and console.is_terminal:
        with rich_progress(console) as observer:
            report = run_ingest(
                settings,
                source_id,
                full,
                allow_mass_delete,
                allow_regression=allow_regression,
                progress=observer,
            )
    else:
        report = run_ingest(settings, source_id, full, allow_mass_delete, allow_regression=allow_regression)
    print_report(report, console)
    return 0 if report.ok else 1
