"""Deterministic planning from the question alone: split it into parts, follow up when thin.

Plans come from the asker's words, never from retrieved text, which is why a document cannot
change them. Every reasoner may share this planner; they differ in how they write the answer.
"""

from __future__ import annotations

import re

from agent.state import Action, AgentState, Finish, ListSources, OpenPassage, Plan, Search
from retrieval.grounding import content_terms

THIN_MARGIN = 0.10
"""A part whose best support is below threshold + this margin gets a follow-up."""

_QUESTION_START = (
    r"(?:what|who|whom|whose|when|where|which|why|how|is|are|was|were|does|do|did|can|could|"
    r"should|would|will|has|have|may|must)\b"
)
_SENTENCE_SPLIT = re.compile(r"(?<=[?;])\s+|\n+")
_AND_SPLIT = re.compile(
    rf",?\s+(?:and|also|plus|as well as)\s+(?:also\s+)?(?={_QUESTION_START})", re.IGNORECASE
)
_WORD = re.compile(r"\w[\w\-']*")


def decompose(question: str, max_parts: int) -> tuple[str, ...]:
    """The parts of a multi-part question ("What is X? And who owns Y?" -> two parts).

    Splits at question marks and semicolons, then at "and" / "also" when another question word
    follows ("what is X and who approves it"). Parts left with almost no content of their own
    ("and who approves it") keep the first part's key terms, so each part searches on its own.
    """
    text = " ".join(question.split())
    pieces: list[str] = []
    for sentence in _SENTENCE_SPLIT.split(text):
        pieces.extend(p.strip(" ,;") for p in _AND_SPLIT.split(sentence))
    parts = [p for p in pieces if p and content_terms(p)]
    if not parts:
        return (text,)
    parts = list(dict.fromkeys(parts))
    if len(parts) > max_parts:
        parts = [*parts[: max_parts - 1], " ".join(parts[max_parts - 1 :])]
    head_terms = _key_words(parts[0])
    out = [parts[0]]
    for p in parts[1:]:
        if len(content_terms(p)) < 2 and head_terms:
            missing = [w for w in head_terms if w.lower() not in p.lower()]
            p = f"{p} ({' '.join(missing[:4])})" if missing else p
        out.append(p)
    return tuple(out)


def _key_words(text: str) -> list[str]:
    """Words of ``text`` that carry content (original spelling, in order)."""
    return [w for w in _WORD.findall(text) if content_terms(w)]


def reformulate(part: str, question: str) -> str:
    """A keyword-only follow-up query: the part's content words, then the question's others."""
    words = _key_words(part)
    seen = {w.lower() for w in words}
    for w in _key_words(question):
        if w.lower() not in seen and len(words) < 10:
            words.append(w)
            seen.add(w.lower())
    return " ".join(words)


def is_thin(state: AgentState, part: int, threshold: float) -> bool:
    p = state.parts[part]
    return not p.candidates() or p.best < threshold + THIN_MARGIN


def next_planned_action(state: AgentState, question: str, *, max_parts: int, threshold: float) -> Action:
    """Plan, search every part, follow thin parts up (open, then reformulate), list sources
    before a refusal, finish. Uses only the question, scores and chunk ids."""
    if state.plan is None:
        return Plan(decompose(question, max_parts))
    for i, part in enumerate(state.parts):
        if not part.searches:
            return Search(part.text, i)
    if state.evidence_full:
        return Finish()
    for i, part in enumerate(state.parts):
        if not is_thin(state, i, threshold):
            continue
        best = part.candidates()[:1] or part.ranked[:1]
        if best and not part.opened and best[0].support >= threshold * 0.5:
            return OpenPassage(best[0].evidence.chunk_id, i)
        follow_up = reformulate(part.text, question)
        if follow_up and follow_up not in part.searches and len(part.searches) < 2:
            return Search(follow_up, i)
    if not any(p.sufficient for p in state.parts) and state.sources is None:
        return ListSources()
    return Finish()
