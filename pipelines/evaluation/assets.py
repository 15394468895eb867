"""Evaluation assets (group ``evaluation``): datasets, retrieval and answer quality, the tuning sweep.

::

    beir_<name> ──> beir_<name>_retrieval_eval          (one pair per evaluation.datasets entry)
    beir_<name>... ──> tuning_sweep                     (datasets with a tuning split)
    live_generation ──> golden_set ─┬─> golden_retrieval_eval
                                    └─> golden_answer_eval  [check: golden_hard_rules]

Retrieval evaluations run the configured retrieval (``settings.retrieval``) through
:func:`retrieval.evaluation.stages.evaluate_retriever`: the same metrics (pytrec_eval) and MaxP
document aggregation as ``groundwork eval``, every stage scored from the same engine lists. A
BEIR set is indexed into temporary embedded stores (embeddings from the cache); the golden set
is searched on the live generation, each question as its user. The answer evaluation asks the
agent the API would build (:mod:`agent.golden`); its check fails on any hard rule (a quote not
at its span, an ACL leak, an error). The tuning sweep writes the recommended ``[retrieval]``
settings file (:mod:`retrieval.evaluation.sweep`).

Outputs (per-query CSV, JSON, PNG plots, the recommended TOML) go to
``<backend.data_dir>/evaluation/<asset>/``; metadata shows the tables and the plots inline.
Golden metadata names item ids, users and figures, never a document, title or text.
"""

import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from agent.golden import GoldenReport, GoldenSet, evaluate_golden
from core.errors import GroundworkError
from core.settings import EvaluationDataset, Settings
from index.types import SearchFilter
from pipelines.evaluation.live import live_services, principals, resolved_golden
from pipelines.resources import GroundworkResource
from retrieval.evaluation.beir import BeirDataset, load_beir
from retrieval.evaluation.metrics import METRICS
from retrieval.evaluation.runner import EVAL_AS_OF, EvalSession
from retrieval.evaluation.stages import RetrievalEvaluation, config_from_settings, evaluate_retriever
from retrieval.evaluation.sweep import SweepResult, run_sweep, write_recommended

EVAL_GROUP = "evaluation"
GOLDEN_ASSETS = ("golden_set", "golden_retrieval_eval", "golden_answer_eval")
SWEEP_ASSET = "tuning_sweep"
HARD_RULES_CHECK = "golden_hard_rules"
INGEST_TAIL = "live_generation"


SHARED_DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
DEFAULT_SMALL_SET = "medline"
"""With no datasets configured, the UI offers this small tuning set when the shared datasets are
present (1,033 abstracts, 30 queries): nothing heavy is embedded by a click that nobody configured."""


def evaluation_datasets(settings: Settings, shared: Path = SHARED_DATASETS) -> tuple[EvaluationDataset, ...]:
    """The configured datasets, else the small default set when it exists, else none."""
    if settings.evaluation.datasets:
        return settings.evaluation.datasets
    small = shared / DEFAULT_SMALL_SET
    if (small / "qrels" / "test.tsv").is_file():
        return (EvaluationDataset(name=DEFAULT_SMALL_SET, path=small, split="test", tuning_set=True),)
    return ()


def dataset_asset_name(ds: EvaluationDataset) -> str:
    return "beir_" + ds.name.replace("-", "_")


def output_dir(settings: Settings, asset: str) -> Path:
    path = Path(settings.backend.data_dir) / "evaluation" / asset
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fail(exc: GroundworkError) -> dg.Failure:
    return dg.Failure(description=str(exc), allow_retries=False)


def retrieval_metadata(ev: RetrievalEvaluation, title: str, out: Path) -> dict[str, object]:
    """Metadata of a retrieval evaluation: the stage table, both plots, the per-query CSV's path."""
    (out / "per_query.csv").write_text(ev.rows_csv(), encoding="utf-8")
    (out / "evaluation.json").write_text(ev.model_dump_json(indent=2), encoding="utf-8")
    from pipelines.evaluation import plots  # matplotlib: ~3 s, paid at materialization, not code load

    stage_png = plots.stage_comparison(ev, title)
    score_png = plots.score_distribution(ev, title)
    (out / "stages.png").write_bytes(stage_png)
    (out / "scores.png").write_bytes(score_png)
    meta: dict[str, object] = {f"{m}": dg.MetadataValue.float(ev.metrics[m]) for m in METRICS}
    meta.update(
        {
            "queries": ev.queries,
            "stages": dg.MetadataValue.md(ev.markdown()),
            "per-stage comparison": dg.MetadataValue.md(plots.markdown_image(stage_png, "per-stage quality")),
            "score distribution": dg.MetadataValue.md(plots.markdown_image(score_png, "score distribution")),
            "configuration": dg.MetadataValue.json(ev.configuration),
            "search ms p50": ev.timing["search_ms_p50"],
            "per-query results": dg.MetadataValue.path(str(out / "per_query.csv")),
        }
    )
    return meta


# ---------------------------------------------------------------------------- BEIR datasets


def _load(ds: EvaluationDataset, split: str) -> BeirDataset:
    return load_beir(ds.path, split)


def build_dataset_assets(datasets: Sequence[EvaluationDataset]) -> list[dg.AssetsDefinition]:
    """For each dataset: the dataset asset (loaded and validated) and its retrieval evaluation."""
    out: list[dg.AssetsDefinition] = []
    for ds in datasets:
        out.extend(_dataset_pair(ds))
    return out


def _dataset_pair(ds: EvaluationDataset) -> list[dg.AssetsDefinition]:
    name = dataset_asset_name(ds)

    @dg.asset(
        name=name,
        group_name=EVAL_GROUP,
        description=f"BEIR-layout dataset {ds.name!r} ({ds.path}): corpus, queries and qrels, "
        "validated; reported split "
        + ds.split
        + (f", tuning split {ds.sweep_split}" if ds.sweep_split else ""),
    )
    def dataset_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:  # type: ignore[type-arg]
        try:
            splits = dict.fromkeys([ds.split, *([ds.sweep_split] if ds.sweep_split else [])])
            loaded = {s: _load(ds, s) for s in splits}
        except GroundworkError as exc:
            raise _fail(exc) from None
        first = loaded[ds.split]
        meta: dict[str, object] = {
            "path": dg.MetadataValue.path(str(ds.path)),
            "documents": len(first.corpus),
            "reported split": ds.split,
            "tuning split": ds.sweep_split or "none",
        }
        for s, d in loaded.items():
            meta[f"{s} queries"] = len(d.queries)
            meta[f"{s} judgments"] = sum(len(j) for j in d.qrels.values())
        return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]

    @dg.asset(
        name=f"{name}_retrieval_eval",
        group_name=EVAL_GROUP,
        deps=[dataset_asset],
        description=f"The configured retrieval on {ds.name!r} ({ds.split} split): nDCG@10, recall@10/100, "
        "MRR@10, MAP per stage (BM25, dense, fused, reranked), per-query results and plots.",
    )
    def retrieval_eval(
        context: dg.AssetExecutionContext, groundwork: GroundworkResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        try:
            data = _load(ds, ds.split)
        except GroundworkError as exc:
            raise _fail(exc) from None
        out = output_dir(settings, f"{name}_retrieval_eval")
        with EvalSession(
            data, settings=settings, embedder=groundwork.embedder(), progress=context.log.info
        ) as session:
            ev = evaluate_dataset(session, settings, name=f"{ds.name} ({ds.split})")
        meta = retrieval_metadata(ev, ds.name, out)
        meta["index s"] = round(session.index_s, 2)
        return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]

    return [dataset_asset, retrieval_eval]


def evaluate_dataset(session: EvalSession, settings: Settings, *, name: str) -> RetrievalEvaluation:
    """``settings.retrieval`` on an indexed BEIR split (BEIR document ids, fixed ``as_of``)."""
    beir_id = session.index.beir_id
    return evaluate_retriever(
        session.retriever(config_from_settings(settings.retrieval)),
        session.dataset.queries,
        session.dataset.qrels,
        filters=session.filter,
        document_key=lambda c: beir_id[c.document_id],
        as_of=EVAL_AS_OF,
        query_vectors=session.query_vectors,
        name=name,
    )


# ---------------------------------------------------------------------------- tuning sweep


class SweepConfig(dg.Config):
    """Which dataset the sweep tunes on (default: the first with a tuning split)."""

    dataset: str = ""
    """A name from evaluation.datasets; empty: the first one with a tuning split."""
    force_test: bool = False
    """Tune on a dataset's reported split anyway (overfits the figure you report)."""


def sweep_target(
    settings: Settings, datasets: Sequence[EvaluationDataset], config: SweepConfig
) -> tuple[EvaluationDataset, str]:
    if config.dataset:
        match = [d for d in datasets if d.name == config.dataset]
        if not match:
            known = ", ".join(d.name for d in datasets) or "none configured"
            raise dg.Failure(f"no evaluation dataset {config.dataset!r} (configured: {known})")
        ds = match[0]
        split = ds.sweep_split or ds.split
        return ds, split
    tunable = [d for d in datasets if d.sweep_split]
    if not tunable:
        raise dg.Failure(
            "no evaluation dataset has a tuning split: add one to [[evaluation.datasets]] with "
            'tuning_split = "train" (or tuning_set = true for a set you never report)'
        )
    ds = tunable[0]
    assert ds.sweep_split is not None
    return ds, ds.sweep_split


def sweep_metadata(result: SweepResult, out: Path) -> dict[str, object]:
    """The ranked table, why the winner wins, both plots, the recommended file."""
    toml_path = write_recommended(result, out / "recommended.toml")
    (out / "sweep.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    (out / "ranked.md").write_text(result.table(None) + "\n", encoding="utf-8")
    from pipelines.evaluation import plots  # matplotlib: ~3 s, paid at materialization, not code load

    by_setting = plots.sweep_by_setting(result)
    latency = plots.sweep_quality_latency(result)
    (out / "by_setting.png").write_bytes(by_setting)
    (out / "quality_latency.png").write_bytes(latency)
    best = result.best
    return {
        "winner": best.label,
        result.metric: dg.MetadataValue.float(best.metrics[result.metric]),
        "why it wins": dg.MetadataValue.md(result.summary().replace("\n", "\n\n")),
        "ranked configurations": dg.MetadataValue.md(result.table(20)),
        "metric by setting": dg.MetadataValue.md(plots.markdown_image(by_setting, "metric by setting")),
        "quality vs latency": dg.MetadataValue.md(plots.markdown_image(latency, "quality vs latency")),
        "recommended settings": dg.MetadataValue.md(
            "```toml\n" + toml_path.read_text(encoding="utf-8") + "```"
        ),
        "recommended file": dg.MetadataValue.path(str(toml_path)),
        "points": len(result.rows),
        "wall s": result.wall_s,
        "dataset": f"{result.dataset} ({result.split}, {result.queries} queries)",
    }


def build_sweep_asset(datasets: Sequence[EvaluationDataset]) -> dg.AssetsDefinition:
    @dg.asset(
        name=SWEEP_ASSET,
        group_name=EVAL_GROUP,
        deps=[dataset_asset_name(d) for d in datasets],
        description="Grid over fusion (RRF k, weighted w and normalization), candidate depth, reranker "
        "and per-document cap on a tuning split (evaluation.sweep); ranked table, plots, and the "
        "recommended [retrieval] settings file (load it with GW_CONFIG_FILE).",
    )
    def tuning_sweep(
        context: dg.AssetExecutionContext, config: SweepConfig, groundwork: GroundworkResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        ds, split = sweep_target(settings, datasets, config)
        force = config.force_test or (ds.tuning_set and split == ds.split)
        try:
            data = _load(ds, split)
            t0 = time.perf_counter()
            with EvalSession(
                data, settings=settings, embedder=groundwork.embedder(), progress=context.log.info
            ) as s:
                result = run_sweep(data, settings=settings, force=force, progress=context.log.info, session=s)
            context.log.info(f"sweep on {ds.name} ({split}): {time.perf_counter() - t0:.1f}s")
        except GroundworkError as exc:
            raise _fail(exc) from None
        return dg.MaterializeResult(metadata=sweep_metadata(result, output_dir(settings, SWEEP_ASSET)))  # type: ignore[arg-type]

    return tuning_sweep


# ---------------------------------------------------------------------------- golden set


def _golden_counts(golden: GoldenSet) -> dict[str, object]:
    kinds: dict[str, int] = {}
    users: dict[str, int] = {}
    for i in golden.items:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
        users[i.user] = users.get(i.user, 0) + 1
    return {
        "items": len(golden.items),
        **{f"{k} items": v for k, v in sorted(kinds.items())},
        "items per user": dg.MetadataValue.json(users),
        "documents referenced": len(golden.document_refs()),
    }


def golden_answer_markdown(report: GoldenReport) -> str:
    return "```\n" + report.to_table() + "\n```"


def build_golden_assets(ingest_tail: str | None) -> list[dg.AssetsDefinition]:
    deps = [ingest_tail] if ingest_tail else []

    @dg.asset(
        name="golden_set",
        group_name=EVAL_GROUP,
        deps=deps,
        description="The golden questions (evaluation.golden_file): per-user answerable questions with "
        "the documents to cite, unanswerable ones and ones answered only in documents the user may "
        "not read. Every document reference is resolved against the live manifest; a dangling one fails.",
    )
    def golden_set(groundwork: GroundworkResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        try:
            golden, manifest = resolved_golden(settings)
        except GroundworkError as exc:
            raise _fail(exc) from None
        manifest.close()
        return dg.MaterializeResult(metadata=_golden_counts(golden))  # type: ignore[arg-type]

    @dg.asset(
        name="golden_retrieval_eval",
        group_name=EVAL_GROUP,
        deps=[golden_set],
        description="The configured retrieval on the live generation over the golden set's answerable "
        "questions, each searched as its user; expected documents are the qrels. Per stage metrics, "
        "per-question results and plots.",
    )
    def golden_retrieval_eval(groundwork: GroundworkResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        embedder = groundwork.embedder()
        try:
            golden, manifest = resolved_golden(settings)
            manifest.close()
            users = principals(settings)
            queries = golden.queries()
            filters = {
                i.id: SearchFilter.for_principal(users[i.user]) for i in golden.items if i.id in queries
            }
            with live_services(settings, groundwork.backend(), embedder) as live:
                ev = evaluate_retriever(
                    live.retriever, queries, golden.qrels(), filters=filters, name="golden set"
                )
        except GroundworkError as exc:
            raise _fail(exc) from None
        out = output_dir(settings, "golden_retrieval_eval")
        meta = retrieval_metadata(ev, "golden set", out)
        user_of = {i.id: i.user for i in golden.items}
        lines = ["| item | user | nDCG@10 | recall@10 | first relevant rank |", "|---|---|---|---|---|"]
        for r in ev.rows:
            lines.append(
                f"| {r.query_id} | {user_of[r.query_id]} | {r.metrics['ndcg@10']:.3f} | "
                f"{r.metrics['recall@10']:.3f} | {r.first_relevant_rank or '-'} |"
            )
        meta["per item"] = dg.MetadataValue.md("\n".join(lines))
        return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]

    @dg.asset(
        name="golden_answer_eval",
        group_name=EVAL_GROUP,
        deps=[golden_set],
        check_specs=[
            dg.AssetCheckSpec(
                HARD_RULES_CHECK,
                asset="golden_answer_eval",
                description="Citation validity 1.00 (every quote at its span), zero ACL leaks, no "
                "item failing with an error.",
            )
        ],
        description="The agent on the live generation answers every golden question as its user: "
        "citation validity, supported-sentence share, refusal accuracy, false refusals, ACL leaks, "
        "stale-citation warnings, latency (agent.golden.evaluate_golden).",
    )
    def golden_answer_eval(groundwork: GroundworkResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        settings = groundwork.settings()
        try:
            golden, manifest = resolved_golden(settings)
            try:
                users = principals(settings)
                with live_services(settings, groundwork.backend(), groundwork.embedder()) as live:
                    agent = live.agent
                    report = evaluate_golden(
                        golden,
                        lambda q, p: agent.run(q, p),
                        users,
                        manifest,
                        document_acl=manifest.document_acl,
                    )
            finally:
                manifest.close()
        except GroundworkError as exc:
            raise _fail(exc) from None
        out = output_dir(settings, "golden_answer_eval")
        (out / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
        (out / "report.txt").write_text(report.to_table() + "\n", encoding="utf-8")
        failures = report.hard_failures()
        m = report.metrics.model_dump()
        meta: dict[str, object] = {
            k: (dg.MetadataValue.float(v) if isinstance(v, float) else v)
            for k, v in m.items()
            if v is not None
        }
        meta["report"] = dg.MetadataValue.md(golden_answer_markdown(report))
        meta["report file"] = dg.MetadataValue.path(str(out / "report.txt"))
        check = dg.AssetCheckResult(
            check_name=HARD_RULES_CHECK,
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(failures) if failures else "hard rules pass",
            metadata={
                "citation_validity": float(m["citation_validity"]),
                "acl_leaks": int(m["acl_leaks"]),
                "errors": int(m["errors"]),
            },
        )
        return dg.MaterializeResult(metadata=meta, check_results=[check])  # type: ignore[arg-type]

    return [golden_set, golden_retrieval_eval, golden_answer_eval]


def build_evaluation_assets(
    datasets: Sequence[EvaluationDataset], *, ingest_tail: str | None = INGEST_TAIL
) -> list[dg.AssetsDefinition]:
    """Every evaluation asset for ``datasets`` (see the module docstring)."""
    return [
        *build_dataset_assets(datasets),
        build_sweep_asset(datasets),
        *build_golden_assets(ingest_tail),
    ]
