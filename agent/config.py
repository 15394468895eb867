"""The agent's own settings: budgets and which reasoner answers.

``core.settings.Settings`` has no ``agent`` section yet, so these are read from the
environment with the same conventions (``GW_AGENT__MAX_STEPS=12``,
``GW_AGENT__REASONER=openai``, ``GW_AGENT__OPENAI_BASE_URL=http://127.0.0.1:8080``). The model
is shaped so it can move into ``Settings`` as ``agent: AgentSettings`` unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Budgets of the loop and the reasoner choice."""

    model_config = SettingsConfigDict(env_prefix="GW_AGENT__", extra="forbid", frozen=True)

    reasoner: Literal["extractive", "openai"] = Field(
        "extractive",
        description="'extractive' (deterministic, no model) or 'openai' (any compatible endpoint)",
    )
    max_steps: int = Field(10, ge=2, le=50, description="tool calls per question, the plan included")
    max_seconds: float = Field(20.0, gt=0, le=300, description="wall-clock budget of one question")
    max_evidence_passages: int = Field(40, ge=1, le=500, description="passages the agent may read")
    max_parts: int = Field(4, ge=1, le=10, description="parts a multi-part question is split into")
    max_answer_sentences: int = Field(6, ge=1, le=30)
    sentences_per_part: int = Field(2, ge=1, le=10)
    open_window_chars: int = Field(800, ge=0, le=20_000, description="context around an opened chunk")
    openai_base_url: str | None = Field(
        None, description="e.g. http://127.0.0.1:8080 (vLLM, llama.cpp, Ollama)"
    )
    openai_model: str | None = None
    openai_api_key: str | None = None
    openai_timeout_s: float = Field(30.0, gt=0, le=600)
    openai_max_tokens: int = Field(512, ge=16, le=8192)

    @model_validator(mode="after")
    def _openai_needs_endpoint(self) -> AgentSettings:
        if self.reasoner == "openai" and not (self.openai_base_url and self.openai_model):
            raise ValueError(
                "agent.reasoner is 'openai' but GW_AGENT__OPENAI_BASE_URL and GW_AGENT__OPENAI_MODEL "
                "are not both set: set them, or use GW_AGENT__REASONER=extractive"
            )
        return self
