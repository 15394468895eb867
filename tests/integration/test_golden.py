"""The golden set (examples/golden.yaml) against the demo corpus, ingested once per session.

Every item is asked as its user through the in-process agent; the answers are checked against
the pipeline's manifest, not the agent's own checks: no ACL leak anywhere, every quote at its
span, refusals as labelled, expected documents cited. Items the agent still gets wrong are
listed in KNOWN_MISSES with the reason (they count in the metrics; the test says when one is
fixed, so the list only shrinks).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from agent.golden import (
    DocRef,
    GoldenReport,
    GoldenSet,
    ManifestChunks,
    document_ref_id,
    evaluate_golden,
    load_golden,
)
from agent.result import AgentResult
from api.services import Services, build_services
from core.acl import Principal
from core.embedding import Embedder
from core.models import Chunk, ChunkSpan
from index.manifest_reader import manifest_path
from retrieval.rerankers.maxsim import sentence_texts
from tests.integration.demo_corpus import REPO, DemoCorpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOLDEN_FILE = REPO / "examples" / "golden.yaml"

# answerable items the extractive agent refuses today, and why (general causes, not per item)
KNOWN_MISSES = {
    # the runway sentence of the board notes is not retrieved for the question at all
    "D3": "'runway' is stated as months in a sentence without 'reported'/'board'",
    # "Partially degraded service." is too short to answer; the component row lacks 'service'
    "F4": "the status page names the degraded component, never a degraded 'service'",
    # unanswerable, yet answered: an org-chart row names the Kraków team lead and 'traffic manager'
    "U5": "key coverage is met by 'Kraków' and 'manager' in one org-chart row about something else",
}

# answered, but (also) from a document that does not hold the answer
KNOWN_WRONG_CITATIONS = {
    # the review's CSAT row covers every key word but its support is 0.32, under
    # MIN_ANSWER_SUPPORT (0.35); before 'her' became scaffolding, "Visible to Erin Walsh, her
    # manager ..." answered from the right document without the figure
    "B5": "the promotion part is answered from the handbook's generic promotion sentence",
}


@pytest.fixture(scope="module")
def manifest(demo_corpus: DemoCorpus) -> Iterator[ManifestChunks]:
    chunks = ManifestChunks(manifest_path(demo_corpus.settings.backend.data_dir))
    yield chunks
    chunks.close()


@pytest.fixture(scope="module")
def services(demo_corpus: DemoCorpus, embedder: Embedder) -> Iterator[Services]:
    built = build_services(demo_corpus.settings, embedder=embedder)
    yield built
    built.close()


@pytest.fixture(scope="module")
def golden() -> GoldenSet:
    return load_golden(GOLDEN_FILE)


def doc_id_of(demo: DemoCorpus) -> object:
    def resolve(ref: DocRef) -> str:
        return document_ref_id(DocRef(source=ref.source, locator=demo.web_url(ref.locator)))

    return resolve


@pytest.fixture(scope="module")
def report(
    golden: GoldenSet, services: Services, manifest: ManifestChunks, demo_corpus: DemoCorpus
) -> GoldenReport:
    principals = {u: services.users.principal(u) for u in {i.user for i in golden.items}}

    def ask(question: str, principal: Principal) -> AgentResult:
        return services.agent.run(question, principal)

    return evaluate_golden(
        golden,
        ask,
        principals,
        manifest,
        document_acl=manifest.document_acl,
        doc_id_of=doc_id_of(demo_corpus),  # type: ignore[arg-type]
    )


def test_every_reference_names_a_document_of_the_demo_corpus(
    golden: GoldenSet, manifest: ManifestChunks, demo_corpus: DemoCorpus
) -> None:
    resolve = doc_id_of(demo_corpus)
    golden.check_documents(lambda ref: manifest.document_acl(resolve(ref)) is not None)  # type: ignore[operator]
    typo = DocRef(source="hr", locator="policies/time-off-policy-2024.md")
    assert manifest.document_acl(document_ref_id(typo)) is None  # so a typo would fail the check


def test_hard_rules_hold(report: GoldenReport) -> None:
    assert report.metrics.acl_leaks == 0, [r.acl_leaks for r in report.rows if r.acl_leaks]
    assert report.metrics.citation_validity == 1.0, [r.invalid_citations for r in report.rows]
    assert report.metrics.errors == 0, [r.error for r in report.rows if r.error]
    assert report.hard_failures() == []


def test_refusals_as_labelled(report: GoldenReport) -> None:
    wrong = [
        f"{r.id} ({'refused' if r.refused else 'answered'})"
        for r in report.rows
        if not r.as_labelled and r.id not in KNOWN_MISSES
    ]
    assert not wrong, report.to_table()
    fixed = [r.id for r in report.rows if r.id in KNOWN_MISSES and r.as_labelled]
    assert not fixed, f"now answered as labelled, remove from KNOWN_MISSES: {fixed}"


def test_answers_cite_the_expected_documents(report: GoldenReport, golden: GoldenSet) -> None:
    answered = [r for r in report.rows if r.kind == "answerable" and not r.refused]
    assert answered
    missing = [r.id for r in answered if r.expected_recall is not None and r.expected_recall < 1.0]
    assert set(missing) <= set(KNOWN_WRONG_CITATIONS), report.to_table()
    unwarned = [r.id for r in report.rows if r.stale_citations and not r.stale_warned]
    assert not unwarned, f"stale sources cited without a warning: {unwarned}"
    fresh = [r.id for r in report.rows if golden.item(r.id).stale and not r.refused and not r.stale_citations]
    assert not fresh, f"answers that should cite a stale source (and warn) did not: {fresh}"


def test_an_ask_embeds_no_evidence_sentence_the_ingest_did_not(
    services: Services, manifest: ManifestChunks, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every text the agent embeds is a query, an answer sentence, or one of
    ``sentence_texts(chunk)`` of a stored chunk: what the pipeline pre-embeds at ingest."""
    embedded: list[str] = []
    original = embedder.encode

    def recording(texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        embedded.extend(texts)
        return original(texts, progress)

    monkeypatch.setattr(embedder, "encode", recording)
    principal = services.users.principal("frank")
    result = services.agent.run("What is the Tern T2's payload and runtime?", principal)
    # every committed chunk with its title, read straight from the manifest (what ingest embedded)
    with contextlib.closing(sqlite3.connect(f"file:{manifest.path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT c.chunk_id, c.document_id, c.source_id, c.text, c.span_start, c.span_end, d.title "
            "FROM chunks c JOIN documents d ON d.document_id = c.document_id"
        ).fetchall()
    prefilled: set[str] = set()
    for chunk_id, doc_id, source_id, text, start, end, title in rows:
        chunk = Chunk(
            id=chunk_id,
            document_id=doc_id,
            source_id=source_id,
            text=text,
            span=ChunkSpan(start=start, end=end),
            title=title,
            acl=("public",),
            updated_at=datetime.now(UTC),
        )
        prefilled.update(sentence_texts(chunk))
    own = {result.question, *result.searched, *(s.text for s in result.sentences)}
    cold = [t for t in dict.fromkeys(embedded) if t not in prefilled and t not in own]
    assert embedded
    assert not cold, f"{len(cold)} evidence text(s) not pre-embedded at ingest: {cold[:3]}"
