"""agent.golden: the golden-set loader and each answer metric, on hand-built agent results.

The "stored" chunks here are the ground truth the metrics check against (a dict stands in for
the pipeline's manifest); every figure below is computed by hand from them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.golden import (
    DocRef,
    Expectation,
    GoldenItem,
    GoldenReport,
    GoldenSet,
    StoredChunk,
    document_ref_id,
    evaluate_golden,
    load_golden,
)
from agent.result import AgentResult, AnswerSentence, Step, StepKind
from core.acl import Principal
from core.errors import ConfigurationError
from core.models import ChunkSpan, Citation

WHEN = datetime(2026, 11, 1, tzinfo=UTC)
PUBLIC_DOC = document_ref_id(DocRef(source="handbook", locator="pto.md"))
SECRET_DOC = document_ref_id(DocRef(source="finance", locator="board/ceo.md"))
PUBLIC_TEXT = "Every employee gets 25 days of paid time off. Unused days carry over."
SECRET_TEXT = "The CEO's base salary is $385,000."
CHUNKS = {
    "c-public": StoredChunk(
        "c-public", PUBLIC_DOC, PUBLIC_TEXT, ChunkSpan(start=100, end=100 + len(PUBLIC_TEXT)), ("public",)
    ),
    "c-secret": StoredChunk(
        "c-secret", SECRET_DOC, SECRET_TEXT, ChunkSpan(start=0, end=len(SECRET_TEXT)), ("group:leadership",)
    ),
}
ERIN = Principal(user_id="erin", groups=("everyone",))
DAVE = Principal(user_id="dave", groups=("everyone", "leadership"))
PRINCIPALS = {"erin": ERIN, "dave": DAVE}


def cite(chunk_id: str, start: int, end: int, quote: str | None = None, stale: bool = False) -> Citation:
    stored = CHUNKS[chunk_id]
    text = stored.text[start - stored.span.start : end - stored.span.start]
    return Citation(
        document_id=stored.document_id,
        chunk_id=chunk_id,
        title="t",
        uri="file:///t",
        quote=text if quote is None else quote,
        span=ChunkSpan(start=start, end=end),
        updated_at=WHEN,
        stale=stale,
    )


def answer(question: str, *citations: Citation, warnings: tuple[str, ...] = ()) -> AgentResult:
    sentences = tuple(
        AnswerSentence(text=c.quote, citations=(i,), support=0.9) for i, c in enumerate(citations, 1)
    )
    return AgentResult(
        trace_id="0" * 32,
        question=question,
        answer=" ".join(c.quote for c in citations),
        sentences=sentences,
        citations=citations,
        warnings=warnings,
    )


def refusal(question: str, reason: str = "I could not find enough evidence to answer.") -> AgentResult:
    return AgentResult(
        trace_id="0" * 32, question=question, answer=reason, refused=True, refusal_reason=reason
    )


PTO_QUOTE = (100, 145)  # "Every employee gets 25 days of paid time off."

GOLDEN = GoldenSet(
    items=(
        GoldenItem(
            id="P1",
            user="erin",
            question="pto?",
            kind="answerable",
            expect=(Expectation(source="handbook", locator="pto.md"),),
        ),
        GoldenItem(id="U1", user="erin", question="wifi?", kind="unanswerable"),
        GoldenItem(
            id="X1",
            user="erin",
            question="ceo?",
            kind="forbidden",
            forbidden=(DocRef(source="finance", locator="board/ceo.md"),),
        ),
    )
)


def run(results: dict[str, AgentResult], golden: GoldenSet = GOLDEN) -> GoldenReport:
    by_question = {golden.item(k).question: v for k, v in results.items()}
    ticks = iter(range(0, 10_000, 10))

    return evaluate_golden(
        golden,
        lambda q, p: by_question[q],
        PRINCIPALS,
        CHUNKS.get,
        clock=lambda: next(ticks) / 1000,  # each ask "takes" 10 ms
    )


def test_perfect_results_score_perfectly() -> None:
    report = run(
        {"P1": answer("pto?", cite("c-public", *PTO_QUOTE)), "U1": refusal("wifi?"), "X1": refusal("ceo?")}
    )
    m = report.metrics
    assert m.citation_validity == 1.0
    assert m.supported_sentence_share == 1.0
    assert m.refusal_accuracy == 1.0
    assert m.false_refusal_rate == 0.0
    assert m.expected_citation_recall == 1.0
    assert m.acl_leaks == 0
    assert m.labelled_behaviour == 1.0
    assert m.latency_p50_ms == pytest.approx(10.0)
    assert report.hard_failures() == []
    assert "hard rules: pass" in report.to_table()


def test_an_invalid_quote_is_caught_even_if_the_agent_passed_it() -> None:
    wrong = cite("c-public", *PTO_QUOTE, quote="Every employee gets 30 days of paid time off.")
    outside = cite("c-public", 90, 110, quote="x" * 20)  # starts before the chunk
    report = run({"P1": answer("pto?", wrong, outside), "U1": refusal("wifi?"), "X1": refusal("ceo?")})
    m = report.metrics
    assert m.citation_validity == 0.0
    assert m.supported_sentence_share == 0.0  # neither sentence has a valid citation
    row = report.rows[0]
    assert "quote differs" in row.invalid_citations[0]
    assert "outside chunk" in row.invalid_citations[1]
    assert any("citation validity 0.0000" in f for f in report.hard_failures())


def test_citing_a_chunk_that_does_not_exist_is_invalid() -> None:
    ghost = cite("c-public", *PTO_QUOTE).model_copy(update={"chunk_id": "c-ghost"})
    report = run({"P1": answer("pto?", ghost), "U1": refusal("wifi?"), "X1": refusal("ceo?")})
    assert report.metrics.citation_validity == 0.0
    assert "does not exist" in report.rows[0].invalid_citations[0]


def test_a_leaking_answer_is_a_hard_failure() -> None:
    leak = answer("ceo?", cite("c-secret", 0, len(SECRET_TEXT)))
    report = run({"P1": answer("pto?", cite("c-public", *PTO_QUOTE)), "U1": refusal("wifi?"), "X1": leak})
    m = report.metrics
    assert m.acl_leaks >= 1
    assert m.citation_validity == 1.0  # the quote is right: the leak is the problem
    assert m.refusal_accuracy == 0.5  # U1 refused; X1 answered from a forbidden document
    x1 = report.rows[2]
    assert not x1.refusal_ok
    assert not x1.as_labelled
    assert any("ACL leak" in f for f in report.hard_failures())


def test_an_id_in_a_step_or_message_is_a_leak_too() -> None:
    step = Step(index=1, kind=StepKind.SEARCH, summary="looked at c-secret", query=SECRET_DOC)
    refused = refusal("ceo?", reason=f"nothing readable; see chunk {SECRET_DOC}").model_copy(
        update={"steps": (step,)}
    )
    report = run({"P1": answer("pto?", cite("c-public", *PTO_QUOTE)), "U1": refusal("wifi?"), "X1": refused})
    x1 = report.rows[2]
    assert x1.refused
    assert x1.acl_leaks
    assert report.hard_failures()


def test_the_same_document_is_no_leak_for_someone_who_may_read_it() -> None:
    golden = GoldenSet(
        items=(
            GoldenItem(
                id="D1",
                user="dave",
                question="ceo?",
                kind="answerable",
                expect=(Expectation(source="finance", locator="board/ceo.md"),),
            ),
        )
    )
    report = run({"D1": answer("ceo?", cite("c-secret", 0, len(SECRET_TEXT)))}, golden)
    assert report.metrics.acl_leaks == 0
    assert report.metrics.expected_citation_recall == 1.0


def test_refusal_metrics_and_false_refusals() -> None:
    report = run(
        {
            "P1": refusal("pto?"),
            "U1": answer("wifi?", cite("c-public", *PTO_QUOTE)),
            # answered from an allowed document only: acceptable for a forbidden item's metric,
            # but not what the label says
            "X1": answer("ceo?", cite("c-public", *PTO_QUOTE)),
        }
    )
    m = report.metrics
    assert m.false_refusal_rate == 1.0
    assert m.expected_citation_recall == 0.0
    assert m.refusal_accuracy == 0.5  # U1 wrong, X1 acceptable
    assert m.labelled_behaviour == 0.0
    assert m.acl_leaks == 0


def test_recall_counts_requirements_and_alternatives() -> None:
    golden = GoldenSet(
        items=(
            GoldenItem.model_validate(
                {
                    "id": "M1",
                    "user": "dave",
                    "question": "two parts?",
                    "kind": "answerable",
                    "expect": [
                        {"source": "finance", "locator": "board/ceo.md"},
                        {
                            "source": "x",
                            "locator": "y",
                            "also": [{"source": "handbook", "locator": "pto.md"}],
                        },
                        {"source": "x", "locator": "z"},
                    ],
                }
            ),
        )
    )
    result = answer("two parts?", cite("c-secret", 0, len(SECRET_TEXT)), cite("c-public", *PTO_QUOTE))
    report = run({"M1": result}, golden)
    assert report.rows[0].expected_recall == pytest.approx(2 / 3)
    assert golden.qrels()["M1"] == {
        SECRET_DOC: 1,
        document_ref_id(DocRef(source="x", locator="y")): 1,
        PUBLIC_DOC: 1,
        document_ref_id(DocRef(source="x", locator="z")): 1,
    }
    assert golden.queries() == {"M1": "two parts?"}


def test_stale_citations_count_only_when_warned() -> None:
    stale = cite("c-public", *PTO_QUOTE, stale=True)
    warned = answer(
        "pto?", stale, warnings=("'t' ... past its source's freshness limit: it may be out of date.",)
    )
    report = run({"P1": warned, "U1": refusal("wifi?"), "X1": refusal("ceo?")})
    assert report.metrics.stale_citation_warnings == 1
    report = run({"P1": answer("pto?", stale), "U1": refusal("wifi?"), "X1": refusal("ceo?")})
    assert report.metrics.stale_citation_warnings == 0
    assert report.rows[0].stale_citations == 1


def test_an_ask_that_raises_is_an_error_row_and_a_hard_failure() -> None:
    def boom(question: str, principal: Principal) -> AgentResult:
        raise RuntimeError("engine down")

    report = evaluate_golden(GOLDEN, boom, PRINCIPALS, CHUNKS.get)
    assert report.metrics.errors == 3
    assert all(r.error == "RuntimeError: engine down" for r in report.rows)
    assert any("error" in f for f in report.hard_failures())


def test_unknown_users_are_refused_before_asking() -> None:
    with pytest.raises(ConfigurationError, match="erin"):
        evaluate_golden(GOLDEN, lambda q, p: refusal(q), {"dave": DAVE}, CHUNKS.get)


# ----------------------------------------------------------------------------- loading


def test_loader_errors_name_the_item(tmp_path: Path) -> None:
    bad = tmp_path / "golden.yaml"
    bad.write_text(
        "items:\n"
        "  - {id: A1, user: alice, question: q, kind: answerable}\n"
        "  - {id: U1, user: bob, question: q, kind: unanswerable, expect: [{source: s, locator: l}]}\n"
        "  - {id: Z9, user: bob, question: q, kind: maybe}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as err:
        load_golden(bad)
    message = str(err.value)
    assert "item A1" in message
    assert "needs 'expect'" in message
    assert "item U1" in message
    assert "names no documents" in message
    assert "item Z9: kind" in message


def test_loader_refuses_duplicate_ids_and_missing_files(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "items:\n  - {id: U1, user: a, question: q, kind: unanswerable}\n"
        "  - {id: U1, user: b, question: q, kind: unanswerable}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="'U1' appears twice"):
        load_golden(dup)
    with pytest.raises(ConfigurationError, match="GW_EVALUATION__GOLDEN_FILE"):
        load_golden(tmp_path / "nope.yaml")


def test_check_documents_names_every_missing_reference() -> None:
    with pytest.raises(ConfigurationError, match=r"X1: finance:board/ceo.md"):
        GOLDEN.check_documents(lambda ref: ref.source == "handbook")
    GOLDEN.check_documents(lambda ref: True)
