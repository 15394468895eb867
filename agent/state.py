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
from agent.scoring import ScoredSentence
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
        """Enough evidence, and at least one sentence that may answer this part."""
        return self.assessment is not None and self.assessment.sufficient and bool(self.candidates())

    def candidates(self) -> list[ScoredSentence]:
        """Sentences that may answer this part, best first."""
        return [s for s in self.ranked if s.answers]


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
                sentences = self._sentences[key] = evidence_sentences([passage])
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
