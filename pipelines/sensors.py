"""A sensor that starts an ingest run for a folder source as soon as the folder changes.

Its cursor holds, per folder source, a hash of the (path, mtime, size) of every file in the
folder, sidecars included (so an ACL change in ``_access.yaml`` triggers a run too). Computing it
is a directory walk with one ``stat`` per file and reads no content, so it is cheap to evaluate
every minute. The run itself still decides, by content hash, what really changed.
"""

import json

import dagster as dg

# define_asset_job's return type; not re-exported at the top level of dagster 1.13
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from core.settings import FolderSource
from pipelines.resources import GroundworkResource
from pipelines.sources.folder import listing_fingerprint

SENSOR_NAME = "folder_changes"


def build_folder_sensor(job: UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Ingest a folder source when any file in it (or a sidecar) is added, changed or removed.",
    )
    def folder_changes(
        context: dg.SensorEvaluationContext, groundwork: GroundworkResource
    ) -> dg.SensorResult:
        settings = groundwork.settings()
        cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for source in settings.pipeline.sources:
            if not isinstance(source, FolderSource):
                continue
            fingerprint = listing_fingerprint(source)
            if cursor.get(source.id) != fingerprint:
                requests.append(
                    dg.RunRequest(
                        run_key=f"{source.id}:{fingerprint}",
                        partition_key=source.id,
                        tags={"groundwork/source": source.id, "groundwork/trigger": "folder-change"},
                    )
                )
                cursor[source.id] = fingerprint
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))

    return folder_changes
