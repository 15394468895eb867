"""Recovery: what the next run does with the plan a crashed (or abandoned) run left staged.

Every run starts here, before listing. The staged plan tells how far the crashed run got:

================================================  =========================================
what is staged                                    what recovery does
================================================  =========================================
nothing                                           nothing
a plan whose generation is live                   commit it (promoted, not yet committed)
a plan with a generation that is not live         drop the generation, discard the plan
a plan fully written into the live index          commit it (server mode, not yet committed)
anything else                                     discard the plan
================================================  =========================================

Writes into the live index that stopped half-way are not undone here: the documents they touched
were marked dirty before the first write, and the new plan rewrites every dirty document from
its current source state (:func:`pipelines.plans.diff`). Together: no missing, duplicate,
phantom or ACL-less chunk survives the next successful run.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.backends import EmbeddedBackend, ServerBackend, TargetKind
from pipelines.commit import commit_plan
from pipelines.manifest import Manifest
from pipelines.plans import Stage
from pipelines.staging import PlanStore


@dataclass(frozen=True)
class Recovery:
    action: str  # none | rolled-forward | rolled-back | discarded
    plan_id: str | None = None
    generation_id: str | None = None
    dirty_documents: int = 0


def recover(
    backend: EmbeddedBackend | ServerBackend, manifest: Manifest, source_id: str, *, run_id: str
) -> Recovery:
    store = PlanStore(manifest, source_id)
    plan = store.current()
    dirty = len(store.dirty())
    if plan is None:
        return Recovery("none", dirty_documents=dirty)
    written = plan.stage.order >= Stage.WRITTEN.order
    generation = plan.generation_id
    if generation is not None:
        live = backend.live()
        if written and live is not None and live.id == generation:
            commit_plan(manifest, store, plan, generation_id=generation, run_id=run_id)
            return Recovery("rolled-forward", plan.plan_id, generation, dirty)
        if backend.exists(generation) and (live is None or live.id != generation):
            backend.drop(generation)
        store.discard()
        return Recovery("rolled-back", plan.plan_id, generation, dirty)
    if written and plan.target == TargetKind.LIVE.value:
        commit_plan(manifest, store, plan, generation_id=None, run_id=run_id)
        return Recovery("rolled-forward", plan.plan_id, None, dirty)
    store.discard()
    return Recovery("discarded", plan.plan_id, None, dirty)
