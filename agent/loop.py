"""The bounded plan-act-observe loop.

::

    while reasoner.next_action(state) is not Finish and the budgets allow:
        run the action through the principal's Toolbox, observe, score, record a Step
    draft = reasoner.compose(state)
    ground every sentence (retrieval.grounding) -> drop unsupported -> check freshness -> result

Budgets: ``max_steps`` tool calls (the plan counts), ``max_seconds`` of wall clock, and
``max_evidence_passages`` passages read. When one runs out the loop stops acting and answers
from what it has, and the trace says which budget ended it.

The loop is the only place that executes tools, and it checks what a reasoner asks for: a
search belongs to a planned part, and only chunks already observed (ids from the index, never
from text) can be opened. Backend errors propagate (the API maps them): one engine down is not
an error (the searcher answers ``degraded``), both down is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

from agent.evidence import ChunkReader, Searcher, SourceCatalog
from agent.reasoners.base import Draft, Reasoner
from agent.result import AgentResult, AnswerSentence, Step, StepKind
from agent.scoring import SupportScorer
from agent.state import (
    Action,
    AgentState,
    Finish,
    ListSources,
    OpenPassage,
    PartEvidence,
    Plan,
    Search,
    chunk_passages,
)
from agent.tools import FreshnessReport, Toolbox
from core.acl import Principal
from core.models import Citation
from core.settings import AgentSettings
from retrieval.freshness import FreshnessPolicy, now
from retrieval.grounding import EvidenceAssessment, GroundedAnswer, Grounder

StepListener = Callable[[Step], None]


class Agent:
    """Answers questions for principals with a reasoner, tools and grounding (see module doc)."""

    def __init__(
        self,
        *,
        searcher: Searcher,
        chunks: ChunkReader,
        sources: SourceCatalog,
        grounder: Grounder,
        reasoner: Reasoner,
        freshness: FreshnessPolicy,
        settings: AgentSettings | None = None,
        top_k: int = 10,
        clock: Callable[[], datetime] = now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.searcher = searcher
        self.chunks = chunks
        self.sources = sources
        self.grounder = grounder
        self.reasoner = reasoner
        self.freshness = freshness
        self.settings = settings or AgentSettings()
        self.top_k = top_k
        self.scorer = SupportScorer(grounder.embedder, grounder.semantic_weight)
        self._clock = clock
        self._monotonic = monotonic

    def toolbox(self, principal: Principal, *, top_k: int | None = None) -> Toolbox:
        """The tools, bound to ``principal`` (the API's citation endpoints use this too)."""
        return Toolbox(
            principal,
            searcher=self.searcher,
            chunks=self.chunks,
            sources=self.sources,
            freshness=self.freshness,
            top_k=top_k or self.top_k,
            clock=self._clock,
        )

    # ------------------------------------------------------------------ the loop

    def run(
        self,
        question: str,
        principal: Principal,
        *,
        top_k: int | None = None,
        trace_id: str | None = None,
        on_step: StepListener | None = None,
    ) -> AgentResult:
        started = self._monotonic()
        run = _Run(self, principal, question, top_k, on_step, started)
        while True:
            action = self.reasoner.next_action(run.state)
            if isinstance(action, Finish):
                break
            exhausted = run.exhausted()
            if exhausted:
                run.record(StepKind.BUDGET, f"{exhausted}: answering from the evidence so far", started)
                break
            run.act(action)
        draft = self.reasoner.compose(run.state)
        return run.finish(draft, trace_id or uuid.uuid4().hex)


class _Run:
    """One question's execution: state, tools, step records."""

    def __init__(
        self,
        agent: Agent,
        principal: Principal,
        question: str,
        top_k: int | None,
        on_step: StepListener | None,
        started: float,
    ) -> None:
        self.agent = agent
        self.settings = agent.settings
        self.tools = agent.toolbox(principal, top_k=top_k)
        self.state = AgentState(question=question)
        self.on_step = on_step
        self.started = started
        self.actions = 0
        self.budget_noted = False

    # ---- bookkeeping

    def elapsed_ms(self, since: float) -> float:
        return max(0.0, (self.agent._monotonic() - since) * 1000)

    def record(self, kind: StepKind, summary: str, t0: float, **fields: object) -> None:
        step = Step.model_validate(
            {
                "index": len(self.state.steps) + 1,
                "kind": kind,
                "summary": summary,
                "elapsed_ms": self.elapsed_ms(t0),
                **fields,
            }
        )
        self.state.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)

    def exhausted(self) -> str | None:
        if self.actions >= self.settings.max_steps:
            return f"step budget of {self.settings.max_steps} reached"
        if self.agent._monotonic() - self.started >= self.settings.max_seconds:
            return f"time budget of {self.settings.max_seconds:g}s reached"
        return None

    def part(self, index: int) -> PartEvidence:
        if not 0 <= index < len(self.state.parts):
            raise ValueError(f"reasoner asked for part {index} of a {len(self.state.parts)}-part plan")
        return self.state.parts[index]

    def rescore(self, index: int) -> None:
        """Score the part's evidence; the verdict is retrieval's (best support vs its threshold)."""
        part = self.state.parts[index]
        part.ranked = self.agent.scorer.score(part.text, self.state.evidence(index))
        best = max((s.support for s in part.ranked), default=0.0)
        threshold = self.agent.grounder.min_evidence_score
        part.assessment = EvidenceAssessment(score=best, threshold=threshold, sufficient=best >= threshold)

    def note_evidence_budget(self, t0: float) -> None:
        if self.state.evidence_full and not self.budget_noted:
            self.budget_noted = True
            self.record(
                StepKind.BUDGET,
                f"evidence budget of {self.settings.max_evidence_passages} passages reached",
                t0,
            )

    # ---- actions

    def act(self, action: Action) -> None:
        self.actions += 1
        t0 = self.agent._monotonic()
        if isinstance(action, Plan):
            self.plan(action, t0)
        elif isinstance(action, Search):
            self.search(action, t0)
        elif isinstance(action, OpenPassage):
            self.open(action, t0)
        elif isinstance(action, ListSources):
            self.state.sources = self.tools.list_sources()
            self.record(
                StepKind.SOURCES,
                f"listed {len(self.state.sources)} source(s) you can read",
                t0,
                found=len(self.state.sources),
            )
        else:  # pragma: no cover - Finish is handled by the caller
            raise TypeError(f"unknown action {action!r}")

    def plan(self, action: Plan, t0: float) -> None:
        if self.state.plan is not None:
            raise ValueError("the question was already planned")
        parts = tuple(p for p in action.parts if p.strip())[: self.settings.max_parts] or (
            self.state.question,
        )
        self.state.plan = parts
        self.state.parts = [PartEvidence(text=p) for p in parts]
        what = "one part" if len(parts) == 1 else f"{len(parts)} parts"
        self.record(StepKind.PLAN, f"planned the question as {what}", t0, found=len(parts))

    def search(self, action: Search, t0: float) -> None:
        part = self.part(action.part)
        # embedded once, through the cache: the search and the sentence scoring share it
        vector = self.agent.scorer.query_vector(action.query)
        response = self.tools.search(action.query, query_vector=vector)
        part.searches.append(action.query)
        added = self.state.add_passages(action.part, response.passages, self.settings.max_evidence_passages)
        self.state.degraded |= response.degraded
        self.rescore(action.part)
        down = f" ({', '.join(response.unavailable)} engine unavailable)" if response.degraded else ""
        self.record(
            StepKind.SEARCH,
            f"searched for part {action.part + 1}: {added} new passage(s), "
            f"best support {part.best:.2f}{down}",
            t0,
            query=action.query,
            part=action.part,
            found=added,
            best_support=round(part.best, 4),
            degraded=response.degraded,
        )
        self.note_evidence_budget(t0)

    def open(self, action: OpenPassage, t0: float) -> None:
        part = self.part(action.part)
        observed = {cid for p in self.state.all_passages() for cid in p.chunk_ids}
        if action.chunk_id not in observed:
            raise ValueError("a reasoner may only open chunks the agent has already found")
        part.opened.add(action.chunk_id)
        opened = self.tools.open_passage(action.chunk_id, window_chars=self.settings.open_window_chars)
        added = 0
        if opened is not None:
            added = self.state.add_passages(action.part, opened.passages, self.settings.max_evidence_passages)
            self.rescore(action.part)
        self.record(
            StepKind.OPEN,
            f"read the text around a passage for part {action.part + 1}: {added} new passage(s), "
            f"best support {part.best:.2f}",
            t0,
            part=action.part,
            found=added,
            best_support=round(part.best, 4),
        )
        self.note_evidence_budget(t0)

    # ---- the answer

    def finish(self, draft: Draft, trace_id: str) -> AgentResult:
        t0 = self.agent._monotonic()
        state = self.state
        grounded: GroundedAnswer | None = None
        if not draft.refused and draft.sentences:
            # per chunk, so the grounder embeds the same (pre-embedded) sentences as the scorer
            evidence = [c for p in state.all_passages() for c in chunk_passages(p)]
            grounded = self.agent.grounder.ground(list(draft.sentences), evidence)
        if grounded is None or not grounded.sentences:
            reason = draft.reason or (
                "None of the drafted sentences is supported by the evidence found for "
                + "; ".join(f"'{q}'" for q in state.searched)
                + "."
            )
            self.record(StepKind.COMPOSE, "refused: not enough evidence", t0)
            return self.result(trace_id, answer=reason, refused=True, reason=reason)

        citations: list[Citation] = []
        index: dict[tuple[str, int, int], int] = {}
        sentences: list[AnswerSentence] = []
        for s in grounded.sentences:
            refs: list[int] = []
            for c in s.citations:
                key = (c.chunk_id, c.span.start, c.span.end)
                if key not in index:
                    index[key] = len(citations)
                    citations.append(c)
                refs.append(index[key] + 1)
            sentences.append(
                AnswerSentence(text=s.text, citations=tuple(dict.fromkeys(refs)), support=s.support)
            )
        dropped = len(grounded.dropped)
        self.record(
            StepKind.COMPOSE,
            f"composed {len(sentences)} sentence(s) with {len(citations)} citation(s)"
            + (f"; dropped {dropped} unsupported" if dropped else ""),
            t0,
            found=len(sentences),
        )

        t1 = self.agent._monotonic()
        reports = self.tools.check_freshness([c.chunk_id for c in citations])
        stale_docs = {r.document_id: r for r in reports if r.stale}
        citations = [c.model_copy(update={"stale": c.document_id in stale_docs}) for c in citations]
        self.record(
            StepKind.FRESHNESS,
            f"checked the freshness of {len(reports)} cited document(s): {len(stale_docs)} stale",
            t1,
            found=len(reports),
        )

        warnings = [_stale_warning(r) for r in stale_docs.values()]
        warnings += [
            f"No sufficient evidence was found for this part of the question: '{p}'."
            for p in draft.unanswered
        ]
        if state.degraded:
            warnings.append("A search engine was unavailable: results come from the other engine alone.")
        body = " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.citations)}".strip() for s in sentences)
        if stale_docs:
            stale_refs = ", ".join(f"[{i}]" for i, c in enumerate(citations, start=1) if c.stale)
            body += f"\n\nNote: {stale_refs} may be out of date (older than the source's freshness limit)."
        answered = [p for p in state.parts if p.sufficient]
        # the evidence score of each answered part, averaged over *all* parts: a question
        # answered in one part of two is at most half as certain as one answered in full
        confidence = (
            sum(p.best for p in answered) / max(1, len(state.parts))
            if answered
            else sum(s.support for s in sentences) / len(sentences)
        )
        return self.result(
            trace_id,
            answer=body,
            sentences=tuple(sentences),
            citations=tuple(citations),
            confidence=max(0.0, min(1.0, confidence)),
            warnings=tuple(warnings),
        )

    def result(
        self,
        trace_id: str,
        *,
        answer: str,
        refused: bool = False,
        reason: str | None = None,
        sentences: tuple[AnswerSentence, ...] = (),
        citations: tuple[Citation, ...] = (),
        confidence: float = 0.0,
        warnings: tuple[str, ...] = (),
    ) -> AgentResult:
        state = self.state
        if refused and state.degraded:
            warnings = (
                *warnings,
                "A search engine was unavailable: results come from the other engine alone.",
            )
        return AgentResult(
            trace_id=trace_id,
            question=state.question,
            answer=answer,
            sentences=sentences,
            citations=citations,
            refused=refused,
            refusal_reason=reason,
            confidence=confidence,
            degraded=state.degraded,
            warnings=warnings,
            searched=state.searched,
            steps=tuple(state.steps),
            reasoner=self.agent.reasoner.name,
            elapsed_ms=self.elapsed_ms(self.started),
        )


def _stale_warning(report: FreshnessReport) -> str:
    return (
        f"'{report.title}' was last updated {report.updated_at:%Y-%m-%d} ({report.age_days:.0f} days ago), "
        f"past its source's freshness limit of {report.max_age_days:.0f} days: it may be out of date."
    )
