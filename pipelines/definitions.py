"""The Dagster code location: one :class:`dagster.Definitions` for Groundwork's ingestion.

``dagster dev`` (see ``[tool.dagster]`` in pyproject.toml) loads :func:`defs` lazily, at code
location load rather than import. The partitions (one per source) and the schedules come from the
settings: ``GW_CONFIG_FILE`` when set, else ``./groundwork.toml`` when present, else the demo
corpus in ``examples/groundwork.toml``, so a fresh clone shows a working graph.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

# define_asset_job's return type; not re-exported at the top level of dagster 1.13
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from core.settings import Settings
from pipelines.assets import GROUP, build_ingest_assets, source_partitions
from pipelines.checks import build_ingest_checks
from pipelines.evaluation import EVAL_GROUP, SWEEP_ASSET, build_evaluation_assets, evaluation_datasets
from pipelines.progress import SilentProgress
from pipelines.resources import GroundworkResource
from pipelines.schedules import build_schedules
from pipelines.sensors import build_folder_sensor

JOB_NAME = "ingest"
EVAL_JOB_NAME = "evaluate"
TUNE_JOB_NAME = "tune"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = PROJECT_ROOT / "examples" / "groundwork.toml"


def build_ingest_job(partitions: dg.StaticPartitionsDefinition) -> UnresolvedAssetJobDefinition:
    # In-process: the six steps are a chain (nothing to parallelize within a source), and one
    # process loads the embedding model once instead of once per step.
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.groups(GROUP),
        partitions_def=partitions,
        executor_def=dg.in_process_executor,
        description="List, parse, chunk, embed and index one source, then promote and check.",
    )


def build_evaluation_jobs() -> list[UnresolvedAssetJobDefinition]:
    """``evaluate``: every evaluation asset but the sweep; ``tune``: the sweep (heavier, on demand)."""
    sweep = dg.AssetSelection.assets(SWEEP_ASSET)
    return [
        dg.define_asset_job(
            EVAL_JOB_NAME,
            selection=dg.AssetSelection.groups(EVAL_GROUP) - sweep,
            executor_def=dg.in_process_executor,
            description="Evaluate the configured retrieval and the agent: datasets, golden set, metrics.",
        ),
        dg.define_asset_job(
            TUNE_JOB_NAME,
            selection=sweep,
            executor_def=dg.in_process_executor,
            description="Sweep retrieval settings on a tuning split; writes the recommended settings file.",
        ),
    ]


def build_definitions(settings: Settings, resource: GroundworkResource | None = None) -> dg.Definitions:
    """Assets, checks, job, schedules and sensor for the sources in ``settings``."""
    partitions = source_partitions([s.id for s in settings.pipeline.sources])
    assets = build_ingest_assets(partitions)
    checks = build_ingest_checks(assets[-1])
    job = build_ingest_job(partitions)
    evaluation = build_evaluation_assets(evaluation_datasets(settings), ingest_tail=assets[-1].key.path[-1])
    return dg.Definitions(
        assets=[*assets, *evaluation],
        asset_checks=checks,
        jobs=[job, *build_evaluation_jobs()],
        schedules=build_schedules(settings, job),
        sensors=[build_folder_sensor(job)],
        resources={
            "groundwork": resource or GroundworkResource.for_settings(settings),
            "progress": SilentProgress(),
        },
    )


def default_config_file() -> Path | None:
    """The settings file this code location uses (see the module docstring)."""
    if os.environ.get("GW_CONFIG_FILE"):
        return Path(os.environ["GW_CONFIG_FILE"])
    local = Path.cwd() / "groundwork.toml"
    if local.is_file():
        return local
    return DEMO_CONFIG if DEMO_CONFIG.is_file() else None


@dg.definitions
def defs() -> dg.Definitions:
    config = default_config_file()
    resource = GroundworkResource(config_file=str(config) if config else None)
    return build_definitions(resource.settings(), resource)
