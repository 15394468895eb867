"""The promotion gate on the demo corpus (embedded backend, real engines, the packaged model).

One module-scoped ingest of a copy of the demo corpus (folders and tickets; the gate off, so the
first build is not gated source by source), then, in order:

(a) a good change (one new handbook page), materialized through Dagster: gated, promoted, the
    ``promotion_gate`` check passes with both figures;
(b) a deliberately worse generation (six of thirteen finance documents deleted, the ones most
    golden questions cite) through ``run_ingest``: blocked, the live generation id unchanged, the
    check fails with both figures, search still answers from the old generation; the next run
    is blocked again (never promoted later) and still sees the deletions (nothing lost);
(c) the same with ``allow_regression``: promoted, ``gate_overridden`` recorded, a warning logged;
(d) nothing the gate reports names a document a golden item's user may not read.

The tests share the corpus copy and run in file order (each builds on the state the previous one
left: that is the point of a promotion history).
"""

from __future__ import annotations

import json
import logging
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from filelock import FileLock, Timeout

import pipelines.promotion
from agent.golden import GoldenSet, load_golden
from core.acl import Principal
from core.embedding import Embedder
from core.ids import document_id
from core.settings import GateSettings, Settings, load_settings
from index.types import SearchFilter
from pipelines.assets import build_ingest_assets, source_partitions
from pipelines.backends import open_backend, pipeline_dir
from pipelines.checks import build_ingest_checks, promotion_gate_result
from pipelines.gate import GateDecision, GateOutcome, evaluate_promotion
from pipelines.ingest import SourceRun, run_ingest
from pipelines.manifest import Manifest
from pipelines.progress import SilentProgress
from pipelines.resources import GroundworkResource
from pipelines.staging import PlanStore
from retrieval.hybrid import HybridRetriever
from tests.fixtures.pipeline.flow import copy_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
GOLDEN = EXAMPLES / "golden.yaml"
USERS = EXAMPLES / "users.yaml"
METRIC = "ndcg_cut_10"

# finance documents most golden questions cite (C1-C3, D1-D5): 6 of 13, under the mass-delete guard
DROPPED = (
    "board/board-meeting-notes-2026-10-21.md",
    "board/executive-compensation-2026.pdf",
    "board/series-c-term-sheet-summary.docx",
    "budget/fy2027-budget-summary.pdf",
    "budget/q3-2026-budget-vs-actuals.html",
    "tax/rd-tax-credit-2025.pdf",
)
CAROL = Principal(user_id="carol", groups=("everyone", "finance"))


@dataclass
class Gated:
    root: Path
    settings: Settings  # the gate on
    embedder: Embedder
    outputs: list[str]  # every text the gate reported (metadata, check descriptions), for (d)

    def live_id(self) -> str:
        live = open_backend(self.settings).live()
        assert live is not None
        return live.id


def _settings(root: Path, embedder: Embedder, *, gate: bool) -> Settings:
    config = tomllib.loads((EXAMPLES / "groundwork.toml").read_text(encoding="utf-8"))
    sources = []
    for source in config["pipeline"]["sources"]:
        if source["kind"] == "web":
            continue  # the status pages need an HTTP server, and no golden question the gate needs
        source = dict(source)
        folder = "corpus" if source["kind"] == "folder" else "tickets"
        source["path"] = str(root / folder / Path(source["path"]).name)
        sources.append(source)
    return load_settings(
        backend={"data_dir": str(root / "data")},
        embedding=embedder.settings.model_dump(),
        pipeline={"sources": sources},
        api={"users_file": str(USERS)},
        evaluation={"golden_file": str(GOLDEN), "gate": {"enabled": gate, "metric": METRIC}},
    )


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Gated:
    root = copy_demo(tmp_path_factory.mktemp("gate"))
    report = run_ingest(_settings(root, embedder, gate=False), embedder=embedder)
    assert all(s.status == "ok" for s in report.sources), [(s.source_id, s.error) for s in report.sources]
    assert report.sources[-1].metadata["live_generation"]["gate"] == "not gated"
    return Gated(root, _settings(root, embedder, gate=True), embedder, [])


def _texts(metadata: dict[str, Any]) -> list[str]:
    return [f"{k}: {v}" for k, v in metadata.items()]


def _seconds(metadata: dict[str, Any]) -> str:
    timings = {k.removeprefix("gate "): v for k, v in metadata.items() if k.startswith("gate seconds")}
    return ", ".join(f"{k} {v}" for k, v in timings.items())


def _figures(metadata: dict[str, Any]) -> tuple[float, float]:
    candidate, live = metadata[f"gate candidate {METRIC}"], metadata[f"gate live {METRIC}"]
    assert isinstance(candidate, float), metadata
    assert isinstance(live, float), metadata
    return candidate, live


def _search_documents(settings: Settings, embedder: Embedder, question: str) -> set[str]:
    backend = open_backend(settings)
    with backend.readers() as stores:
        assert stores is not None
        retriever = HybridRetriever.from_settings(
            settings, vectors=stores[0], keywords=stores[1], embedder=embedder
        )
        try:
            response = retriever.search(question, SearchFilter.for_principal(CAROL))
        finally:
            retriever.close()
    return {r.chunk.document_id for r in response.results}


def test_a_good_change_is_promoted_through_dagster(gated: Gated) -> None:
    before = gated.live_id()
    page = gated.root / "corpus" / "handbook" / "bike-storage.md"
    page.write_text(
        "# Bike storage\n\nBicycles may be stored in the basement cage of the north building. "
        "Ask reception for a cage badge; badges are returned when you leave the company.\n",
        encoding="utf-8",
    )
    settings = gated.settings
    assets = build_ingest_assets(source_partitions([s.id for s in settings.pipeline.sources]))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*assets, *build_ingest_checks(assets[-1])],
        partition_key="handbook",
        resources={"groundwork": GroundworkResource.for_settings(settings), "progress": SilentProgress()},
        instance=instance,
        raise_on_error=False,
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    gate = checks["promotion_gate"]
    assert gate.passed, gate.description
    assert {k: v.value for k, v in gate.metadata.items()}["gate"] == "passed"
    metadata = {
        k: v.value for k, v in result.asset_materializations_for_node("live_generation")[0].metadata.items()
    }
    candidate, live = _figures(metadata)
    assert candidate >= live - 0.02
    assert live > 0.3  # the golden set finds its documents in the demo corpus
    assert metadata["gate citation validity"] == 1.0
    assert metadata["gate acl leaks"] == 0
    assert metadata["promoted"] is True
    assert metadata["gate_overridden"] is False
    assert gated.live_id() != before
    assert all(checks[name].passed for name in ("stores_match_manifest", "chunks_have_acl"))
    gated.outputs += [*_texts(metadata), gate.description or ""]
    print(f"\ngate on a good change: {_seconds(metadata)}, {METRIC} {candidate} vs {live}")


def test_b_a_worse_generation_is_blocked_and_the_live_one_stays(gated: Gated) -> None:
    settings, embedder = gated.settings, gated.embedder
    before = gated.live_id()
    question = load_golden(GOLDEN).item("C1").question
    dropped_ids = {document_id("finance", locator) for locator in DROPPED}
    assert dropped_ids & _search_documents(settings, embedder, question)
    for locator in DROPPED:
        (gated.root / "corpus" / "finance" / locator).unlink()

    report = run_ingest(settings, "finance", embedder=embedder)

    run = report.source("finance")
    assert run.status == "blocked", run.error
    assert not report.ok
    gate = next(c for c in run.checks if c.name == "promotion_gate")
    assert not gate.passed
    assert gate.severity == "ERROR"
    candidate, live = _figures(gate.metadata)
    assert candidate < live - 0.02, (candidate, live)
    assert gate.metadata["gate live figure cached"] is True  # computed when (a) promoted it
    assert METRIC in gate.metadata["gate failed rules"]
    assert gate.metadata["gate"] == "blocked"
    assert gated.live_id() == before
    metadata = run.metadata["live_generation"]
    assert metadata["promoted"] is False
    assert metadata["blocked generation"] not in {g.id for g in open_backend(settings).catalog.generations()}
    # the live generation still answers from the deleted documents, and the manifest still has them
    assert dropped_ids & _search_documents(settings, embedder, question)
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        assert dropped_ids <= set(manifest.documents("finance"))
        assert PlanStore(manifest, "finance").current() is None
    gated.outputs += _texts(metadata) + _texts(gate.metadata) + [gate.description]
    print(f"\ngate blocking a worse generation (live figure cached): {_seconds(gate.metadata)}")

    again = run_ingest(settings, "finance", embedder=embedder).source("finance")
    assert again.status == "blocked"  # a blocked candidate is never promoted by a later run
    assert again.metadata["manifest"]["documents deleted"] == len(DROPPED)  # nor are changes lost
    assert gated.live_id() == before


def test_c_the_override_promotes_and_says_so(gated: Gated) -> None:
    settings, embedder = gated.settings, gated.embedder
    before = gated.live_id()
    instance = dg.DagsterInstance.ephemeral()

    report = run_ingest(settings, "finance", embedder=embedder, allow_regression=True, instance=instance)

    run = report.source("finance")
    assert run.status == "ok", run.error
    metadata = run.metadata["live_generation"]
    assert metadata["gate_overridden"] is True
    assert metadata["gate"] == "overridden"
    assert metadata["promoted"] is True
    candidate, live = _figures(metadata)
    assert candidate < live - 0.02
    gate = next(c for c in run.checks if c.name == "promotion_gate")
    assert (gate.passed, gate.severity) == (False, "WARN")  # promoted, and the numbers stay visible
    assert report.ok  # a warning does not fail the CLI
    assert gated.live_id() != before
    warnings = [
        e.user_message
        for e in instance.all_logs(run.run_id)
        if e.level in (logging.WARNING, "WARNING") and "overridden" in e.user_message
    ]
    assert warnings, "the override is logged as a warning in the run log"
    dropped_ids = {document_id("finance", locator) for locator in DROPPED}
    assert not dropped_ids & _search_documents(settings, embedder, load_golden(GOLDEN).item("C1").question)
    gated.outputs += [*_texts(metadata), gate.description, *warnings]


def _forbidden_markers(settings: Settings, golden: GoldenSet) -> list[str]:
    """Ids, locators, titles and sentences of every document a golden item names that the item's
    user may not read."""
    principals = {
        u["id"]: Principal(user_id=u["id"], groups=tuple(u.get("groups") or ()))
        for u in yaml.safe_load(USERS.read_text(encoding="utf-8"))["users"]
    }
    markers: set[str] = set()
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        documents = manifest.documents()
        for item in golden.items:
            for ref in item.refs():
                doc = documents.get(document_id(ref.source, ref.locator))
                if doc is None or principals[item.user].may_read(doc.acl):
                    continue
                markers.update({doc.document_id, doc.locator, doc.title})
                for record in manifest.chunk_records(document_ids=[doc.document_id]):
                    markers.add(record.chunk_id)
                    markers.update(s.strip() for s in record.text.split(".") if len(s.strip()) >= 40)
    return sorted(markers)


def test_d_the_gate_never_reports_what_a_golden_user_may_not_read(gated: Gated, tmp_path: Path) -> None:
    # A golden set with a forbidden item per user plus a mislabelled "answerable" one whose expected
    # document its user may not read (erin asking for the CEO's pay): retrieval as erin must not
    # find it, and no output of the gate may name it.
    raw = yaml.safe_load(GOLDEN.read_text(encoding="utf-8"))
    raw["items"].append(
        {
            "id": "GATE-LEAK1",
            "user": "erin",
            "question": "What is the CEO's 2026 base salary and target bonus?",
            "kind": "answerable",
            "expect": [{"source": "hr", "locator": "confidential/compensation-bands-2026.pdf"}],
        }
    )
    golden_file = tmp_path / "golden.yaml"
    golden_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    settings = load_settings(
        **{
            **json.loads(gated.settings.model_dump_json()),
            "evaluation": {"golden_file": str(golden_file), "gate": {"metric": METRIC}},
        }
    )
    golden = load_golden(golden_file)
    assert any(i.kind == "forbidden" for i in golden.items)
    backend = open_backend(settings)
    live = backend.live()
    assert live is not None
    with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
        # the live generation gated against itself: no plan is staged, so its content is the manifest's
        decision = evaluate_promotion(
            settings,
            backend,
            manifest,
            PlanStore(manifest, "hr"),
            gated.embedder,
            candidate=live.id,
            live=live,
        )
    assert decision.outcome is GateOutcome.PASSED, decision.describe()
    assert decision.candidate is not None
    assert decision.candidate.per_item["GATE-LEAK1"] == 0.0
    assert decision.answer_metrics["acl leaks"] == 0
    check = promotion_gate_result(decision)
    outputs = [*gated.outputs, *_texts(decision.metadata()), check.description or ""]
    outputs += _texts({k: v.value for k, v in check.metadata.items()})
    reported = "\n".join(outputs)
    markers = _forbidden_markers(settings, golden)
    assert len(markers) > 10  # the golden set does name documents its users may not read
    leaked = [m for m in markers if m in reported]
    assert not leaked, leaked[:5]
    print(f"\ngate of the live generation against itself: {_seconds(decision.metadata())}")


def test_the_gate_reports_itself_as_not_gated_without_a_golden_set(gated: Gated) -> None:
    settings = load_settings(
        **{**json.loads(gated.settings.model_dump_json()), "evaluation": {"golden_file": None}}
    )
    page = gated.root / "corpus" / "handbook" / "bike-storage.md"
    page.write_text(
        page.read_text(encoding="utf-8") + "\nCages are cleared every August.\n", encoding="utf-8"
    )
    run = run_ingest(settings, "handbook", embedder=gated.embedder).source("handbook")
    assert run.status == "ok", run.error
    metadata = run.metadata["live_generation"]
    assert metadata["gate"] == "not gated"
    assert "no golden set" in str(metadata["gate reason"])
    assert metadata["promoted"] is True
    assert next(c for c in run.checks if c.name == "promotion_gate").passed


def test_the_override_does_not_cover_hard_rules_unless_settings_say_so(gated: Gated) -> None:
    # require_golden without a golden set is a hard rule failing before any evaluation runs
    base = json.loads(gated.settings.model_dump_json())
    backend = open_backend(gated.settings)
    live = backend.live()
    assert live is not None

    def decide(gate: dict[str, Any], allow_regression: bool) -> GateOutcome:
        settings = load_settings(**{**base, "evaluation": {"golden_file": None, "gate": gate}})
        with Manifest.for_data_dir(settings.backend.data_dir) as manifest:
            decision = evaluate_promotion(
                settings,
                backend,
                manifest,
                PlanStore(manifest, "hr"),
                gated.embedder,
                candidate=live.id,
                live=live,
                allow_regression=allow_regression,
            )
        return decision.outcome

    assert decide({"require_golden": True}, allow_regression=False) is GateOutcome.BLOCKED
    assert decide({"require_golden": True}, allow_regression=True) is GateOutcome.BLOCKED
    overridable = {"require_golden": True, "override_hard_rules": True}
    assert decide(overridable, allow_regression=True) is GateOutcome.OVERRIDDEN
    assert decide({"enabled": False, "require_golden": True}, allow_regression=False) is GateOutcome.NOT_GATED


def test_gate_metric_names_are_checked() -> None:
    assert GateSettings(metric="ndcg@10").metric == "ndcg_cut_10"
    assert GateSettings(metric="mrr@10").metric == "recip_rank"
    with pytest.raises(ValueError, match="not one of"):
        GateSettings(metric="ndcg@5")


# --------------------------------------------------------------------------- the writer lock
# The gate evaluates outside the writer lock. The hook is the gate itself: a wrapper around the
# real evaluate_promotion (the evaluation still runs in full) that, while the evaluation is in
# progress, tries to take the writer lock's file lock the way another process would (a new file
# descriptor, non-blocking: flock conflicts across descriptors even within one process).


class LockProbe:
    """Wraps the gate; records, per evaluation, the source and whether the writer lock was free."""

    def __init__(self, settings: Settings, during: dict[str, Callable[[], None]] | None = None) -> None:
        self.lock_path = pipeline_dir(settings) / "index-writer.lock"
        self.during = dict(during or {})  # source id -> a concurrent writer, run once mid-evaluation
        self.calls: list[tuple[str, bool]] = []
        self._gate = evaluate_promotion

    def lock_is_free(self) -> bool:
        probe = FileLock(str(self.lock_path))
        try:
            probe.acquire(blocking=False)
        except Timeout:
            return False
        probe.release()
        return True

    def __call__(self, *args: Any, **kwargs: Any) -> GateDecision:
        store: PlanStore = args[3]
        self.calls.append((store.source_id, self.lock_is_free()))
        writer = self.during.pop(store.source_id, None)
        if writer is not None:
            writer()
        return self._gate(*args, **kwargs)


def _page(gated: Gated, relative: str, text: str) -> str:
    path = gated.root / "corpus" / relative
    path.write_text(text, encoding="utf-8")
    source, locator = relative.split("/", 1)
    return document_id(source, locator)


def test_e_the_gate_evaluates_without_holding_the_writer_lock(
    gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = LockProbe(gated.settings)
    monkeypatch.setattr(pipelines.promotion, "evaluate_promotion", probe)
    _page(
        gated,
        "handbook/quiet-rooms.md",
        "# Quiet rooms\n\nThe quiet rooms on the second floor are for focused work and calls that "
        "need privacy. Book them for at most two hours through the room calendar.\n",
    )
    before = gated.live_id()

    run = run_ingest(gated.settings, "handbook", embedder=gated.embedder).source("handbook")

    assert run.status == "ok", run.error
    assert probe.calls == [("handbook", True)]  # evaluated once, and the lock was free meanwhile
    metadata = run.metadata["live_generation"]
    assert metadata["gate"] == "passed"
    assert metadata["promoted"] is True
    assert metadata["gate re-evaluated under the writer lock"] is False
    assert gated.live_id() != before
    # the lock was held only for the re-check and the swap, not for the evaluation
    assert metadata["writer lock seconds"] < metadata["gate seconds"]
    gated.outputs += _texts(metadata)
    print(
        f"\ngate outside the lock: gate {metadata['gate seconds']} s, writer lock held "
        f"{metadata['writer lock seconds']} s"
    )


def test_f_a_live_generation_that_moves_during_the_evaluation_is_re_evaluated_under_the_lock(
    gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, embedder = gated.settings, gated.embedder
    finance_doc = _page(
        gated,
        "finance/policies/parking-reimbursement.md",
        "# Parking reimbursement\n\nParking at client sites is reimbursed up to 40 EUR a day "
        "against a receipt, filed within thirty days in the expense tool.\n",
    )
    handbook_doc = _page(
        gated,
        "handbook/lockers.md",
        "# Lockers\n\nLockers on the third floor are assigned by the facilities desk for one year; "
        "bring your badge to get a key.\n",
    )
    concurrent: list[SourceRun] = []

    def another_writer() -> None:
        # a real second writer (its own Dagster run, in its own thread) promotes while finance's
        # candidate is being evaluated; with the lock held by the gate it could not even start
        def ingest() -> None:
            concurrent.append(run_ingest(settings, "handbook", embedder=embedder).source("handbook"))

        thread = threading.Thread(target=ingest, name="concurrent-handbook-ingest")
        thread.start()
        thread.join(timeout=600)
        assert not thread.is_alive(), "the concurrent writer did not finish: is the lock held?"

    probe = LockProbe(settings, during={"finance": another_writer})
    monkeypatch.setattr(pipelines.promotion, "evaluate_promotion", probe)
    before = gated.live_id()

    run = run_ingest(settings, "finance", embedder=embedder).source("finance")

    assert run.status == "ok", run.error
    assert len(concurrent) == 1
    assert concurrent[0].status == "ok", concurrent[0].error
    moved_to = concurrent[0].metadata["live_generation"]["live generation"]
    assert moved_to != before
    # finance evaluated unlocked, handbook evaluated (unlocked) and promoted meanwhile, then
    # finance saw the live generation moved and evaluated again with the lock held
    assert probe.calls == [("finance", True), ("handbook", True), ("finance", False)]
    metadata = run.metadata["live_generation"]
    assert metadata["gate re-evaluated under the writer lock"] is True
    assert metadata["rebased"] is True  # the candidate had been copied from the old live generation
    assert metadata["gate live generation"] == moved_to  # decided against what it replaced
    assert metadata["previous generation"] == moved_to
    assert metadata["promoted"] is True
    assert metadata["gate"] == "passed"
    # the generation that went live holds both runs' changes: nothing the other writer did is lost
    assert gated.live_id() == metadata["live generation"]
    assert finance_doc in _search_documents(settings, embedder, "parking at client sites reimbursed")
    assert handbook_doc in _search_documents(settings, embedder, "lockers third floor facilities desk")
    gated.outputs += _texts(metadata)
    print(f"\nlive moved during the gate: re-evaluated under the lock ({_seconds(metadata)})")
