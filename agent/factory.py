"""Build an :class:`agent.loop.Agent` from settings over parts the caller opened."""

from __future__ import annotations

from agent.evidence import ChunkReader, Searcher, SourceCatalog
from agent.loop import Agent
from agent.reasoners.base import Reasoner
from agent.reasoners.extractive import ExtractiveReasoner
from core.embedding import Embedder
from core.settings import AgentSettings, Settings
from retrieval.freshness import FreshnessPolicy
from retrieval.grounding import Grounder


def build_reasoner(agent_settings: AgentSettings, threshold: float) -> Reasoner:
    """The reasoner ``agent.reasoner`` names (the extractive one unless configured otherwise)."""
    if agent_settings.reasoner == "openai":
        from agent.reasoners.openai_compatible import OpenAICompatibleReasoner

        return OpenAICompatibleReasoner(agent_settings, threshold=threshold)
    return ExtractiveReasoner(
        threshold=threshold,
        max_parts=agent_settings.max_parts,
        sentences_per_part=agent_settings.sentences_per_part,
        max_sentences=agent_settings.max_answer_sentences,
    )


def build_agent(
    settings: Settings,
    *,
    searcher: Searcher,
    chunks: ChunkReader,
    sources: SourceCatalog,
    embedder: Embedder,
    agent_settings: AgentSettings | None = None,
) -> Agent:
    """The agent the settings describe: budgets from ``settings.agent`` (``agent_settings``
    replaces that section, for tests), threshold from ``retrieval.min_evidence_score``."""
    agent_settings = agent_settings or settings.agent
    # one citation per sentence: the sentence's own source, not a near-duplicate (an older
    # version of a policy says something close, and citing it would be wrong)
    grounder = Grounder(
        embedder, min_evidence_score=settings.retrieval.min_evidence_score, max_citations_per_sentence=1
    )
    return Agent(
        searcher=searcher,
        chunks=chunks,
        sources=sources,
        grounder=grounder,
        reasoner=build_reasoner(agent_settings, grounder.min_evidence_score),
        freshness=FreshnessPolicy.from_settings(settings),
        settings=agent_settings,
        top_k=settings.retrieval.top_k,
    )
