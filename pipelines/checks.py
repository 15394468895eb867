"""Asset checks on ``live_generation``: the index agrees with the manifest and the settings.

They run after every ingest run (for its source) and can be run from the UI on their own (then
for every configured source). Logic lives in :mod:`pipelines.audit`; this module only maps it to
Dagster results. Severity: disagreement, missing ACLs and a model mismatch are errors; staleness
is a warning (an old runbook is still worth finding, and retrieval flags it as stale).

``stores_match_manifest`` and ``chunks_have_acl`` are two checks computed in one step
(``live_index_checks``, a multi-asset check that can run either alone): both need the live
generation open, and opening it is most of what an unchanged run costs.

``promotion_gate`` is different: it is declared on the ``live_generation`` asset itself (a check
spec) and its result is emitted by that asset, because it reports the decision the promotion
step took for this run's candidate (:mod:`pipelines.gate`): candidate vs live figures, failed
rules, and whether an override promoted it anyway (then the check still fails, as a warning).
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

import dagster as dg

from core.settings import Settings
from pipelines.audit import AclAudit, StoreAudit, audit_freshness, audit_live, audit_model
from pipelines.gate import GateDecision, GateOutcome
from pipelines.manifest import utcnow
from pipelines.progress import Metadata
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


STORES_MATCH_MANIFEST = "stores_match_manifest"
CHUNKS_HAVE_ACL = "chunks_have_acl"


class _SourceAudit(Protocol):
    @property
    def source_id(self) -> str: ...
    def metadata(self) -> Metadata: ...


A = TypeVar("A", bound=_SourceAudit)


def _sources(context: dg.AssetCheckExecutionContext, settings: Settings) -> list[str]:
    op = context.op_execution_context
    if op.has_partition_key:
        return [op.partition_key]
    return [s.id for s in settings.pipeline.sources]


def _per_source_result(
    check_name: str,
    audits: Sequence[A],
    passed: Callable[[A], bool],
    describe: Callable[[A], str],
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    """One check over several sources: it passes when every source does; the description names
    the failing sources (all of them when none fails); metadata is keyed ``"<source>: <name>"``."""
    failing = [a for a in audits if not passed(a)]
    metadata: dict[str, object] = {}
    for a in audits:
        metadata.update({f"{a.source_id}: {k}": v for k, v in a.metadata().items()})
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not failing,
        severity=severity,
        description="; ".join(describe(a) for a in (failing or audits)),
        metadata=metadata,  # type: ignore[arg-type]
    )


def build_ingest_checks(live_generation: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.multi_asset_check(
        name="live_index_checks",
        specs=[
            dg.AssetCheckSpec(
                STORES_MATCH_MANIFEST,
                asset=live_generation.key,
                description="Both stores hold exactly the manifest's chunk ids (none missing, no "
                "orphans) and the same total count (no duplicates).",
            ),
            dg.AssetCheckSpec(
                CHUNKS_HAVE_ACL,
                asset=live_generation.key,
                description="No indexed document has an empty ACL, and every chunk is reachable "
                "through the vector engine's ACL filter with its document's ACL.",
            ),
        ],
        can_subset=True,
    )
    def live_index_checks(
        context: dg.AssetCheckExecutionContext, groundwork: GroundworkResource
    ) -> Iterator[dg.AssetCheckResult]:
        # one step for both checks, so the live generation is opened once per run (it was the
        # dearest part of an unchanged re-run when each check opened it)
        selected = {key.name for key in context.selected_asset_check_keys}
        settings = groundwork.settings()
        with groundwork.manifest() as db:
            audit = audit_live(
                groundwork.backend(),
                db,
                _sources(context, settings),
                stores=STORES_MATCH_MANIFEST in selected,
                acl=CHUNKS_HAVE_ACL in selected,
            )
        results: list[tuple[str, Sequence[StoreAudit | AclAudit]]] = [
            (STORES_MATCH_MANIFEST, audit.stores),
            (CHUNKS_HAVE_ACL, audit.acl),
        ]
        for name, audits in results:
            if name in selected:
                yield _per_source_result(
                    name, audits, lambda a: a.passed, lambda a: a.description, dg.AssetCheckSeverity.ERROR
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
        return _per_source_result(
            "source_freshness",
            audits,
            lambda a: a.passed_at(now),
            lambda a: a.describe(now),
            dg.AssetCheckSeverity.WARN,
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

    return [live_index_checks, source_freshness, embedding_model_matches]
