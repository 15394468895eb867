"""Retrieval: hybrid search, fusion, reranking, freshness, result shaping, citation grounding.

What the agent and the API call:

- :class:`retrieval.hybrid.HybridRetriever` (``HybridRetriever.from_settings(settings, vectors=...,
  keywords=..., embedder=...)``), whose ``search(query, SearchFilter, top_k=, as_of=)`` returns a
  :class:`retrieval.results.SearchResponse`;
- :class:`retrieval.grounding.Grounder`: ``assess(query, passages)`` (answer or refuse) and
  ``ground(answer_sentences, passages)`` (verified citations, unsupported sentences dropped).
"""

from retrieval.freshness import FreshnessPolicy
from retrieval.grounding import EvidenceAssessment, GroundedAnswer, Grounder, verify_citation
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.results import Passage, RetrievedChunk, SearchResponse, Stage, StageScore

__all__ = [
    "EvidenceAssessment",
    "FreshnessPolicy",
    "FusionConfig",
    "GroundedAnswer",
    "Grounder",
    "HybridRetriever",
    "Passage",
    "RetrievedChunk",
    "SearchResponse",
    "Stage",
    "StageScore",
    "verify_citation",
]
