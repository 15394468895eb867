"""The ingest assets, one partition per source:

    manifest -> parsed_documents -> chunks -> embeddings -> index_writes -> live_generation

Each asset is a thin wrapper over one stage function (``pipelines.listing``, ``.documents``,
``.chunks``, ``.embeddings``, ``.writes``, ``.promotion``), which the CLI runner and the tests
reach through these same assets.

Nothing heavy goes through Dagster's I/O manager: the assets return no value, only metadata
(:class:`dagster.MaterializeResult`), and the work in flight lives in the staged plan in the
manifest database (documents, text, chunks) and in the embedding cache (vectors). Pickling
thousands of chunks and vectors between steps would cost more than the steps (and duplicate the
cache); with ``deps`` only, a step can run in another process, a failed run can be resumed from
the failed step (the plan is still staged), and the UI shows counts, not blobs.

(No ``from __future__ import annotations`` in the Dagster modules: Dagster reads the parameter
annotations of assets, checks, sensors and resources at definition time and needs real types.)
"""

from collections.abc import Sequence

import dagster as dg

from pipelines.checks import promotion_gate_result, promotion_gate_spec
from pipelines.chunks import chunk_planned, make_chunker
from pipelines.documents import parse_planned
from pipelines.embeddings import embed_planned
from pipelines.gate import GateOutcome, not_gated
from pipelines.listing import list_and_plan
from pipelines.progress import ProgressObserver
from pipelines.promotion import promote_and_commit
from pipelines.resources import GroundworkResource
from pipelines.writes import write_plan

GROUP = "ingest"
ASSET_NAMES = ("manifest", "parsed_documents", "chunks", "embeddings", "index_writes", "live_generation")


class IngestConfig(dg.Config):
    """Run options, set on the ``manifest`` asset and kept in the staged plan for later stages."""

    full: bool = False
    """Re-read, re-parse and re-chunk every document and build a new generation from scratch."""
    allow_mass_delete: bool = False
    """Let this run delete more than pipeline.max_delete_share of a source."""


class PromotionConfig(dg.Config):
    """Options of the promotion step (``ops.live_generation.config``)."""

    allow_regression: bool = False
    """Promote the new generation even if the promotion gate would block it (logged, recorded
    as gate_overridden; answer-level hard rules only with evaluation.gate.override_hard_rules)."""


def source_partitions(source_ids: Sequence[str]) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(source_ids))


def build_ingest_assets(partitions: dg.StaticPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The six ingest assets over ``partitions`` (source ids from the settings)."""

    @dg.asset(
        name="manifest",
        partitions_def=partitions,
        group_name=GROUP,
        description="List the source, diff it against the manifest (content hashes, ACLs, updated_at) "
        "and stage the plan; recovers whatever a crashed run left first. Stops before any deletion "
        "beyond pipeline.max_delete_share.",
    )
    def manifest(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        groundwork: GroundworkResource,
        progress: dg.ResourceParam[ProgressObserver],
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        with groundwork.manifest() as db:
            report = list_and_plan(
                settings,
                groundwork.backend(),
                db,
                context.partition_key,
                full=config.full,
                allow_mass_delete=config.allow_mass_delete,
                run_id=context.run_id,
                progress=progress,
            )
        if report.recovery.action != "none":
            context.log.warning(
                f"recovered from an interrupted run: {report.recovery.action} plan {report.recovery.plan_id}"
            )
        return dg.MaterializeResult(metadata=report.metadata())

    @dg.asset(
        name="parsed_documents",
        partitions_def=partitions,
        group_name=GROUP,
        deps=[manifest],
        description="Parse new and changed documents (unstructured; PDFs with pdfminer) into normalized "
        "text and elements. A document that yields no text is recorded as a failure with its reason.",
    )
    def parsed_documents(
        context: dg.AssetExecutionContext,
        groundwork: GroundworkResource,
        progress: dg.ResourceParam[ProgressObserver],
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with groundwork.manifest() as db:
            report = parse_planned(db, context.partition_key, progress)
        for locator, reason in report.failures:
            context.log.warning(f"cannot parse {locator}: {reason}")
        return dg.MaterializeResult(metadata=report.metadata())

    @dg.asset(
        name="chunks",
        partitions_def=partitions,
        group_name=GROUP,
        deps=[parsed_documents],
        description="Structure-aware chunks bounded by the embedding model's tokenizer, with exact "
        "character spans into the normalized text and deterministic ids.",
    )
    def chunks(
        context: dg.AssetExecutionContext,
        groundwork: GroundworkResource,
        progress: dg.ResourceParam[ProgressObserver],
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        with groundwork.manifest() as db:
            report = chunk_planned(
                db,
                context.partition_key,
                lambda: make_chunker(groundwork.embedder(), settings.chunking),
                progress,
            )
        return dg.MaterializeResult(metadata=report.metadata())

    @dg.asset(
        name="embeddings",
        partitions_def=partitions,
        group_name=GROUP,
        deps=[chunks],
        description="Vectors for chunk inputs (title + text) not embedded before (cache keyed by model "
        "id and text hash), and for their sentences (pipeline.embed_sentences), which questions need.",
    )
    def embeddings(
        context: dg.AssetExecutionContext,
        groundwork: GroundworkResource,
        progress: dg.ResourceParam[ProgressObserver],
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        with groundwork.manifest() as db:
            report = embed_planned(
                db,
                context.partition_key,
                groundwork.embedder(),
                progress,
                embed_sentences=settings.pipeline.embed_sentences,
            )
        return dg.MaterializeResult(metadata=report.metadata())

    @dg.asset(
        name="index_writes",
        partitions_def=partitions,
        group_name=GROUP,
        deps=[embeddings],
        description="Upserts, deletes and in-place ACL updates into both stores: a new generation "
        "(embedded mode, or a full rebuild) or the live index through its aliases (server mode).",
    )
    def index_writes(
        context: dg.AssetExecutionContext,
        groundwork: GroundworkResource,
        progress: dg.ResourceParam[ProgressObserver],
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        with groundwork.manifest() as db:
            report = write_plan(
                settings, groundwork.backend(), db, context.partition_key, groundwork.embedder(), progress
            )
        return dg.MaterializeResult(metadata=report.metadata())

    @dg.asset(
        name="live_generation",
        partitions_def=partitions,
        group_name=GROUP,
        deps=[index_writes],
        check_specs=[promotion_gate_spec()],
        description="Gate the new generation on the golden set (evaluation.gate), promote it (atomic "
        "pointer/alias swap), then commit the manifest; old generations beyond "
        "backend.keep_generations are garbage-collected. A blocked generation is dropped.",
    )
    def live_generation(
        context: dg.AssetExecutionContext,
        config: PromotionConfig,
        groundwork: GroundworkResource,
        progress: dg.ResourceParam[ProgressObserver],
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        with groundwork.manifest() as db:
            report = promote_and_commit(
                settings,
                groundwork.backend(),
                db,
                context.partition_key,
                groundwork.embedder(),
                run_id=context.run_id,
                progress=progress,
                allow_regression=config.allow_regression,
            )
        gate = report.gate
        if gate is not None and gate.outcome is GateOutcome.OVERRIDDEN:
            context.log.warning(f"promotion gate overridden by allow_regression: {gate.describe()}")
        elif gate is not None and gate.blocks:
            context.log.warning(f"{gate.describe()} ({gate.reason})")
        return dg.MaterializeResult(
            metadata=report.metadata(),
            check_results=[promotion_gate_result(gate or not_gated("nothing to promote"))],
        )

    return [manifest, parsed_documents, chunks, embeddings, index_writes, live_generation]
