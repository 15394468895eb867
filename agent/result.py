"""What the agent returns: an answer with citations, or a refusal that says what was searched.

These are the agent's domain values; the API maps them onto its own response schemas.
A refusal is a value (``refused=True`` with a reason), never an exception.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from core.models import Citation


class StepKind(StrEnum):
    """What one step of the loop did (a trace view groups by it)."""

    PLAN = "plan"
    SEARCH = "search"
    OPEN = "open_passage"
    SOURCES = "list_sources"
    FRESHNESS = "check_freshness"
    COMPOSE = "compose"
    BUDGET = "budget"


class Step(BaseModel):
    """One step of the loop: the action taken and a one-line summary of what it observed.

    Summaries are written by the loop from counts, scores and the asker's own question, never
    from retrieved text, so a trace cannot carry a document's injected instructions.
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=1)
    kind: StepKind
    summary: str
    query: str | None = None
    part: int | None = Field(None, description="which part of a multi-part question")
    found: int = Field(0, ge=0, description="passages or chunks observed")
    best_support: float | None = None
    degraded: bool = False
    elapsed_ms: float = Field(0.0, ge=0.0)


class AnswerSentence(BaseModel):
    """One sentence of the answer and the citations (indexes into ``citations``) backing it."""

    model_config = ConfigDict(frozen=True)

    text: str
    citations: tuple[int, ...]
    support: float


class AgentResult(BaseModel):
    """The agent's answer (or refusal) to one question for one principal."""

    model_config = ConfigDict(frozen=True)

    trace_id: str
    question: str
    answer: str
    sentences: tuple[AnswerSentence, ...] = ()
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    refusal_reason: str | None = None
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    degraded: bool = False
    warnings: tuple[str, ...] = ()
    searched: tuple[str, ...] = Field((), description="every query the agent ran")
    steps: tuple[Step, ...] = ()
    reasoner: str = "extractive"
    elapsed_ms: float = 0.0

    @property
    def cited_chunk_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.chunk_id for c in self.citations))
