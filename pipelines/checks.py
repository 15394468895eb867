"""Asset checks on ``live_generation``: the index agrees with the manifest and the settings.

They run after every ingest run (for its source) and can be run from the UI on their own (then
for every configured source). Logic lives in :mod:`pipelines.audit`; this module only maps it to
Dagster results. Severity: disagreement, missing ACLs and a model mismatch are errors; staleness
is a warning (an old runbook is still worth finding, and retrieval flags it as stale).

``promotion_gate`` is different: it is declared on the ``live_generation`` asset itself (a check
spec) and its result is emitted by that asset, because it reports the decision the promotion
step took for this run's candidate (:mod:`pipelines.gate`): candidate vs live figures, failed
rules, and whether an override promoted it anyway (then the check still fails, as a warning).
"""

import dagster as dg

from core.settings import Settings
from pipelines.audit import audit_acl, audit_freshness, audit_model, audit_stores
from pipelines.gate import GateDecision, GateOutcome
from pipelines.manifest import utcnow
from pipelines.resources import GroundworkResource

PROMOTION_GATE = "promotion_gate"


def promotion_gate_spec() -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        PROMOTION_GATE,
        asset="live_generation",
        description="The run's new generation is no worse than the live one on the golden set "
        "(evaluation.gate.metric within evaluation.gate.tolerance) and breaks no answer-level hard "
        "rule (citation validity 1.00, no ACL leak); otherwise it was not promoted.",
    )


def promotion_gate_result(decision: GateDecision) -> dg.AssetCheckResult:
    """The gate's decision as the ``promotion_gate`` check: an error when it blocked, a warning
    when an override promoted a candidate that failed it, a pass otherwise."""
    overridden = decision.outcome is GateOutcome.OVERRIDDEN
    return dg.AssetCheckResult(
        check_name=PROMOTION_GATE,
        passed=decision.passed,
        severity=dg.AssetCheckSeverity.WARN if overridden else dg.AssetCheckSeverity.ERROR,
        description=decision.describe(),
        metadata=decision.metadata(),
    )


def _sources(context: dg.AssetCheckExecutionContext, settings: Settings) -> list[str]:
    op = context.op_execution_context
    if op.has_partition_key:
        return [op.partition_key]
    return [s.id for s in settings.pipeline.sources]


def build_ingest_checks(live_generation: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=live_generation,
        name="stores_match_manifest",
        description="Both stores hold exactly the manifest's chunk ids (none missing, no orphans) "
        "and the same total count (no duplicates).",
    )
    def stores_match_manifest(
        context: dg.AssetCheckExecutionContext, groundwork: GroundworkResource
    ) -> dg.AssetCheckResult:
        settings = groundwork.settings()
        backend = groundwork.backend()
        with groundwork.manifest() as db:
            audits = [audit_stores(backend, db, s) for s in _sources(context, settings)]
        failing = [a for a in audits if not a.passed]
        metadata: dict[str, object] = {}
        for a in audits:
            metadata.update({f"{a.source_id}: {k}": v for k, v in a.metadata().items()})
        return dg.AssetCheckResult(
            passed=not failing,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(a.description for a in (failing or audits)),
            metadata=metadata,  # type: ignore[arg-type]
        )

    @dg.asset_check(
        asset=live_generation,
        name="chunks_have_acl",
        description="No indexed document has an empty ACL, and every chunk is reachable through the "
        "vector engine's ACL filter with its document's ACL.",
    )
    def chunks_have_acl(
        context: dg.AssetCheckExecutionContext, groundwork: GroundworkResource
    ) -> dg.AssetCheckResult:
        settings = groundwork.settings()
        backend = groundwork.backend()
        with groundwork.manifest() as db:
            audits = [audit_acl(backend, db, s) for s in _sources(context, settings)]
        failing = [a for a in audits if not a.passed]
        metadata: dict[str, object] = {}
        for a in audits:
            metadata.update({f"{a.source_id}: {k}": v for k, v in a.metadata().items()})
        return dg.AssetCheckResult(
            passed=not failing,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(a.description for a in (failing or audits)),
            metadata=metadata,  # type: ignore[arg-type]
        )

    @dg.asset_check(
        asset=live_generation,
        name="source_freshness",
        description="Each source synced within its max_age and holds no document older than that.",
    )
    def source_freshness(
        context: dg.AssetCheckExecutionContext, groundwork: GroundworkResource
    ) -> dg.AssetCheckResult:
        settings = groundwork.settings()
        now = utcnow()
        with groundwork.manifest() as db:
            audits = [audit_freshness(settings, db, s, now) for s in _sources(context, settings)]
        failing = [a for a in audits if not a.passed_at(now)]
        metadata: dict[str, object] = {}
        for a in audits:
            metadata.update({f"{a.source_id}: {k}": v for k, v in a.metadata().items()})
        return dg.AssetCheckResult(
            passed=not failing,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(a.describe(now) for a in (failing or audits)),
            metadata=metadata,  # type: ignore[arg-type]
        )

    @dg.asset_check(
        asset=live_generation,
        name="embedding_model_matches",
        description="The live generation was embedded with the model in embedding.model.",
    )
    def embedding_model_matches(groundwork: GroundworkResource) -> dg.AssetCheckResult:
        audit = audit_model(groundwork.settings(), groundwork.backend())
        return dg.AssetCheckResult(
            passed=audit.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=audit.description,
            metadata={
                "configured model": audit.configured,
                "live model": audit.live_model or "none",
                "live generation": audit.live_generation or "none",
            },
        )

    return [stores_match_manifest, chunks_have_acl, source_freshness, embedding_model_matches]
