"""Evaluation outputs without engines: per-query CSV, stage table, and the plots as PNG images."""

from __future__ import annotations

import base64
import csv
import io

from pipelines.evaluation import plots
from retrieval.evaluation.metrics import METRICS
from retrieval.evaluation.stages import QueryRow, RetrievalEvaluation
from tests.unit.test_eval_sweep import _result, _row

PNG = b"\x89PNG\r\n\x1a\n"


def evaluation() -> RetrievalEvaluation:
    stages = ("bm25", "dense", "fused", "reranked")
    rows = tuple(
        QueryRow(
            query_id=f"q{i}",
            query=f'question, "quoted" {i}',
            relevant=1,
            metrics=dict.fromkeys(METRICS, 0.5 + i / 10),
            stage_ndcg10=dict.fromkeys(stages, 0.5),
            first_relevant_rank=i + 1,
            top_document="d1",
            ranking=("d1", "d2"),
            search_ms=3.0,
        )
        for i in range(3)
    )
    return RetrievalEvaluation(
        name="t",
        queries=3,
        stages=stages,
        metrics=dict.fromkeys(METRICS, 0.6),
        stage_metrics={s: dict.fromkeys(METRICS, 0.1 * (n + 3)) for n, s in enumerate(stages)},
        rows=rows,
        relevant_scores=(0.9, 0.8, 0.7),
        other_scores=(0.1, 0.2, 0.4, 0.3),
        configuration={},
        timing={"search_ms_p50": 3.0, "search_ms_p95": 3.0},
    )


def test_per_query_csv_has_one_row_per_query_with_every_stage() -> None:
    ev = evaluation()
    rows = list(csv.DictReader(io.StringIO(ev.rows_csv())))
    assert [r["query_id"] for r in rows] == ["q0", "q1", "q2"]
    assert rows[1]["ndcg@10"] == "0.6000"
    assert rows[2]["first_relevant_rank"] == "3"
    assert rows[0]["query"] == 'question, "quoted" 0'  # quoted, not split at the comma
    assert {f"{s}_ndcg@10" for s in ev.stages} <= set(rows[0])
    table = ev.markdown().splitlines()
    assert len(table) == 2 + len(ev.stages)
    assert table[-1].startswith("| reranked | 0.6000")


def test_every_plot_is_a_png_and_embeds_as_markdown() -> None:
    ev = evaluation()
    sweep = _result((_row(1, ndcg=0.8, w=0.6), _row(2, ndcg=0.7, current=True)))
    images = [
        plots.stage_comparison(ev, "t"),
        plots.score_distribution(ev, "t"),
        plots.sweep_by_setting(sweep),
        plots.sweep_quality_latency(sweep),
    ]
    for png in images:
        assert png.startswith(PNG)
        assert 2_000 < len(png) < 400_000  # small enough for the event log
    md = plots.markdown_image(images[0], "stages")
    assert md.startswith("![stages](data:image/png;base64,")
    assert base64.b64decode(md[len("![stages](data:image/png;base64,") : -1]) == images[0]
