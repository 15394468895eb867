"""Reasoners decide the next tool call and write the answer; the loop does everything else.

- :class:`~agent.reasoners.extractive.ExtractiveReasoner` (default): deterministic, no model.
- :class:`~agent.reasoners.openai_compatible.OpenAICompatibleReasoner`: the same plan, with the
  answer written by any OpenAI-compatible chat endpoint from fenced evidence.
"""

from agent.reasoners.base import Draft, Reasoner
from agent.reasoners.extractive import ExtractiveReasoner

__all__ = ["Draft", "ExtractiveReasoner", "Reasoner"]
