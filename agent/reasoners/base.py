"""The reasoner contract: choose the next action, then write a draft the loop will ground.

A reasoner never executes tools and never sees a principal: it returns an
:data:`agent.state.Action` and the loop runs it through the principal's
:class:`agent.tools.Toolbox`. Its draft is plain sentences; the loop grounds every sentence in
the evidence (retrieval's :class:`retrieval.grounding.Grounder`) and drops unsupported ones, so
a reasoner cannot make the agent cite something it did not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent.state import Action, AgentState


@dataclass(frozen=True)
class Draft:
    """An answer before grounding, or a refusal with its reason."""

    sentences: tuple[str, ...] = ()
    refused: bool = False
    reason: str | None = None
    unanswered: tuple[str, ...] = ()  # parts of the question left without enough evidence


@runtime_checkable
class Reasoner(Protocol):
    name: str

    def next_action(self, state: AgentState) -> Action:
        """The next step given what is known so far; :class:`agent.state.Finish` to stop."""
        ...

    def compose(self, state: AgentState) -> Draft:
        """The answer (or refusal) from the evidence in ``state``."""
        ...
