"""What the loop knows while it works: the plan, each part's evidence, the steps so far.

Reasoners read an :class:`AgentState` and return an :data:`Action`; only the loop changes the
state. Evidence sentences are scored against the part they were found for by
:mod:`agent.scoring` (retrieval's support measure plus key-word coverage), so "enough
evidence" means the same thing in the agent and in grounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.result import Step
from agent.scoring import MIN_ANSWER_SUPPORT, ScoredSentence
from agent.tools import SourceView
from retrieval.grounding import EvidenceAssessment, EvidenceSentence, evidence_sentences
from retrieval.results import Passage

# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Plan:
    """Split the question into parts, each searched on its own."""

    parts: tuple[str, ...]


@dataclass(frozen=True)
class Search:
    query: str
    part: int


@dataclass(frozen=True)
class OpenPassage:
    """Read the text around a chunk already found (its neighbours in the document)."""

    chunk_id: str
    part: int


@dataclass(frozen=True)
class ListSources:
    pass


@dataclass(frozen=True)
class Finish:
    pass


Action = Plan | Search | OpenPassage | ListSources | Finish


# ---------------------------------------------------------------------------- evidence


def _passage_key(p: Passage) -> tuple[str, int, int]:
    return (p.document_id, p.span.start, p.span.end)


def chunk_passages(passage: Passage) -> list[Passage]:
    """``passage`` as one passage per chunk, so sentences are split within each chunk's text.

    Evidence sentences must be exactly the strings the pipeline pre-embeds for every chunk
    (:func:`retrieval.rerankers.maxsim.sentence_texts`: ``split_sentences(chunk.text)``), or an
    ask embeds them cold. Splitting the stitched passage instead could cut a chunk's first or
    last sentence differently. A sentence repeated by two overlapping chunks has the same
    document span in both, and callers keep it once.
    """
    if len(passage.chunk_ids) == 1:
        return [passage]
    out: list[Passage] = []
    for chunk_id, span in zip(passage.chunk_ids, passage.chunk_spans, strict=True):
        start = span.start - passage.span.start
        out.append(
            passage.model_copy(
                update={
                    "chunk_ids": (chunk_id,),
                    "chunk_spans": (span,),
                    "text": passage.text[start : start + span.end - span.start],
                    "span": span,
                }
            )
        )
    return out


@dataclass
class PartEvidence:
    """Everything found for one part of the question."""

    text: str
    searches: list[str] = field(default_factory=list)
    passages: dict[tuple[str, int, int], Passage] = field(default_factory=dict)
    opened: set[str] = field(default_factory=set)
    ranked: list[ScoredSentence] = field(default_factory=list)
    assessment: EvidenceAssessment | None = None

    @property
    def best(self) -> float:
        return self.assessment.score if self.assessment else 0.0

    @property
    def sufficient(self) -> bool:
        """Enough evidence (best support vs the calibrated threshold), and a sentence that may
        answer this part with at least :data:`agent.scoring.MIN_ANSWER_SUPPORT` of its own."""
        a = self.assessment
        return a is not None and a.sufficient and bool(self.candidates())

    def candidates(self) -> list[ScoredSentence]:
        """Sentences that may answer this part, best first."""
        return [s for s in self.ranked if s.answers and s.support >= MIN_ANSWER_SUPPORT]


@dataclass
class AgentState:
    """The loop's working memory for one question."""

    question: str
    plan: tuple[str, ...] | None = None
    parts: list[PartEvidence] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    sources: list[SourceView] | None = None
    degraded: bool = False
    evidence_full: bool = False
    passages_read: int = 0
    _sentences: dict[tuple[str, int, int], list[EvidenceSentence]] = field(default_factory=dict)

    def evidence(self, part: int) -> list[EvidenceSentence]:
        """The part's evidence sentences, each span once; passages are split only once per run."""
        out: list[EvidenceSentence] = []
        seen: set[tuple[str, int, int]] = set()
        for key, passage in self.parts[part].passages.items():
            sentences = self._sentences.get(key)
            if sentences is None:
                sentences = self._sentences[key] = evidence_sentences(chunk_passages(passage))
            for e in sentences:
                span = (e.passage.document_id, e.span.start, e.span.end)
                if span not in seen:
                    seen.add(span)
                    out.append(e)
        return out

    @property
    def searched(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q for p in self.parts for q in p.searches))

    def all_passages(self) -> list[Passage]:
        seen: dict[tuple[str, int, int], Passage] = {}
        for part in self.parts:
            for key, p in part.passages.items():
                seen.setdefault(key, p)
        return list(seen.values())

    def add_passages(self, part: int, passages: Sequence[Passage], limit: int) -> int:
        """Add passages to a part within the evidence budget; returns how many were new."""
        target = self.parts[part]
        added = 0
        for p in passages:
            key = _passage_key(p)
            if key in target.passages:
                continue
            if self.passages_read >= limit:
                self.evidence_full = True
                break
            target.passages[key] = p
            self.passages_read += 1
            added += 1
        return added
