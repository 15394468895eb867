"""One schedule per source, on the source's own cron (``schedule`` in its settings).

A scheduled run is the whole ingest job for that source's partition: a run over an unchanged
source lists it, finds nothing to do and writes nothing, so frequent schedules are cheap.
Schedules start stopped, as Dagster's do; turn them on in the UI or with ``dagster schedule start``.
"""

import dagster as dg

# define_asset_job's return type; not re-exported at the top level of dagster 1.13
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from core.settings import Settings


def schedule_name(source_id: str) -> str:
    """A valid Dagster name for a source's schedule (source ids may contain '-')."""
    return f"ingest_{source_id.replace('-', '_')}_schedule"


def build_schedules(settings: Settings, job: UnresolvedAssetJobDefinition) -> list[dg.ScheduleDefinition]:
    return [_schedule_for(source.id, source.schedule, job) for source in settings.pipeline.sources]


def _schedule_for(source_id: str, cron: str, job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=schedule_name(source_id),
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        description=f"Re-index source '{source_id}' ({cron}, UTC).",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        stamp = context.scheduled_execution_time
        return dg.RunRequest(
            run_key=f"{source_id}:{stamp.isoformat() if stamp else 'manual'}",
            partition_key=source_id,
            tags={"groundwork/source": source_id, "groundwork/trigger": "schedule"},
        )

    return _schedule
