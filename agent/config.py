"""Compatibility re-export: the agent's settings are ``core.settings.AgentSettings`` (``settings.agent``)."""

from __future__ import annotations

from core.settings import AgentSettings

__all__ = ["AgentSettings"]
