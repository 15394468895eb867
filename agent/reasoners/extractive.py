"""The default reasoner: extractive and deterministic, no model beyond the embedder.

It plans with :mod:`agent.reasoners.planning` and answers with the best-supported sentences of
the evidence itself, so every answer sentence is a (link-free) quote of a source the asker may
read. Per part of the question it takes the best sentence and up to ``sentences_per_part - 1``
more that are nearly as good and say something new; parts without enough evidence are named,
and with no part answered it refuses, saying what it searched and where.
"""

from __future__ import annotations

import re

from agent.reasoners.base import Draft
from agent.reasoners.planning import next_planned_action
from agent.scoring import ScoredSentence, missing_terms
from agent.state import Action, AgentState, PartEvidence
from agent.text import answer_sentence
from retrieval.grounding import content_terms

_WORD = re.compile(r"\w[\w\-']*")

NEAR_BEST = 0.12
"""A further sentence must score within this of the part's best one."""

_REDUNDANT = 0.6
"""Two sentences sharing more than this share of content terms say the same thing."""


def _redundant(a: ScoredSentence, b: ScoredSentence) -> bool:
    """Two sentences that say the same thing. Sentences stating different figures never do:
    two rows of one table share their column labels ("Specification: Payload; Tern T2: 60 kg",
    "Specification: Runtime; Tern T2: Up to 10 hours") but answer different things."""
    ta, tb = a.evidence.terms, b.evidence.terms
    if not ta or not tb:
        return a.evidence.quote.strip() == b.evidence.quote.strip()
    if _figures(ta) != _figures(tb):
        return False
    return len(ta & tb) / min(len(ta), len(tb)) > _REDUNDANT


def _figures(terms: frozenset[str]) -> frozenset[str]:
    return frozenset(t for t in terms if t.isdigit())


def _unmatched_words(part: PartEvidence) -> list[str]:
    """The asker's own words that the closest evidence sentence (and its title) lacks."""
    if not part.ranked:
        return []
    top = part.ranked[0].evidence
    missing = set(missing_terms(part.text, top.terms | content_terms(top.passage.title)))
    words = [w for w in _WORD.findall(part.text) if content_terms(w) & missing]
    return list(dict.fromkeys(words))


def refusal_reason(state: AgentState, threshold: float) -> str:
    """What was searched, where, and why the evidence fell short (no document text)."""
    queries = "; ".join(f"'{q}'" for q in state.searched) or "nothing"
    best = max((p.best for p in state.parts), default=0.0)
    where = ""
    if state.sources:
        names = ", ".join(s.source_id for s in state.sources)
        where = f" in the sources you can read ({names})"
    if best < threshold:
        why = f"the best supporting sentence scored {best:.2f}, below the evidence threshold {threshold:.2f}"
    else:
        words = [w for p in state.parts for w in _unmatched_words(p)]
        why = "the closest passages do not address " + (
            ", ".join(f"'{w}'" for w in dict.fromkeys(words)) if words else "the question"
        )
    return (
        f"I could not find enough evidence to answer. I searched for {queries}{where}; {why}. "
        "Try rephrasing, or ask someone with access to the right documents."
    )


class ExtractiveReasoner:
    """Answers with the evidence's own best-supported sentences (see module docstring)."""

    name = "extractive"

    def __init__(
        self,
        *,
        threshold: float,
        max_parts: int = 4,
        sentences_per_part: int = 2,
        max_sentences: int = 6,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"evidence threshold must be within [0, 1], got {threshold}")
        if sentences_per_part < 1 or max_sentences < 1 or max_parts < 1:
            raise ValueError("max_parts, sentences_per_part and max_sentences must be >= 1")
        self.threshold = threshold
        self.max_parts = max_parts
        self.sentences_per_part = sentences_per_part
        self.max_sentences = max_sentences

    def next_action(self, state: AgentState) -> Action:
        return next_planned_action(state, state.question, max_parts=self.max_parts, threshold=self.threshold)

    def select(self, state: AgentState) -> list[list[ScoredSentence]]:
        """The chosen sentences per part (empty for parts without enough evidence)."""
        chosen: list[list[ScoredSentence]] = []
        used: list[ScoredSentence] = []
        budget = self.max_sentences
        for part in state.parts:
            picks: list[ScoredSentence] = []
            if part.sufficient:
                candidates = part.candidates()
                best = candidates[0].rank_score if candidates else 0.0
                for s in candidates:
                    if len(picks) >= self.sentences_per_part or budget <= 0:
                        break
                    if picks and (s.support < self.threshold or s.rank_score < best - NEAR_BEST):
                        break
                    if any(_redundant(s, u) for u in used):
                        continue
                    picks.append(s)
                    used.append(s)
                    budget -= 1
            # read in document order within a part: earlier text first
            picks.sort(key=lambda s: (s.evidence.passage.rank, s.evidence.span.start))
            chosen.append(picks)
        return chosen

    def compose(self, state: AgentState) -> Draft:
        chosen = self.select(state)
        if not any(chosen):
            return Draft(refused=True, reason=refusal_reason(state, self.threshold))
        sentences = tuple(answer_sentence(s.evidence.quote) for picks in chosen for s in picks)
        unanswered = tuple(p.text for p, picks in zip(state.parts, chosen, strict=True) if not picks)
        return Draft(sentences=sentences, unanswered=unanswered)
