"""Citation grounding: every answer sentence cites exact spans, or it is dropped.

Given answer sentences and the evidence passages they were written from, grounding

1. splits the evidence into sentences with exact offsets (:mod:`retrieval.sentences`);
2. scores each answer sentence against each evidence sentence: cosine with the bi-encoder
   (paraphrase) blended with lexical coverage (the share of the answer sentence's stemmed
   content words the evidence sentence contains: numbers and names must really be there);
3. keeps a sentence only when its best support reaches ``min_support``, and cites the
   supporting evidence sentence: document id, chunk id, the character span in the *document's*
   normalized text (chunk span start + offset inside the chunk), the quote, updated_at, stale;
4. verifies every citation: the quote must equal the source text at its span, or
   :class:`retrieval.errors.CitationMismatchError` is raised (a bug, never shipped).

Before any answer is written, :meth:`Grounder.assess` says whether the evidence is strong
enough to answer at all: the best query-to-evidence-sentence support must reach
``min_evidence_score``, a threshold calibrated on data (see docs/benchmarks.md, "Evidence
threshold", and ``retrieval.evaluation.calibration``). A refusal is a value, not an exception.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.embedding import Embedder
from core.models import ChunkSpan, Citation
from retrieval.errors import CitationMismatchError
from retrieval.results import Passage
from retrieval.sentences import split_sentences

SEMANTIC_WEIGHT = 0.7
"""Share of the support score that is cosine similarity; the rest is lexical coverage."""

DEFAULT_MIN_SUPPORT = 0.55
"""An answer sentence needs this support to stay. On the fixture corpus supported paraphrases
score 0.85-0.95 and an invented sentence 0.26; not calibrated on a public set."""

CALIBRATED_MIN_EVIDENCE_SCORE = 0.46
"""The refusal threshold calibrated on SciFact train (bench/calibrate_evidence.py; figures in
docs/benchmarks.md): it refuses 10% of answerable claims, 1.7% of off-topic questions are
answered. The default of ``RetrievalSettings.min_evidence_score`` should equal it."""

_WORD = re.compile(r"\w\w+|\d")
_STOP_WORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with what which who whom whose when where why how does do "
    "did has have had been being were from than its can could would should may might also"
)
_STOP = frozenset(_STOP_WORDS.split())


def _stem(word: str) -> str:
    """A light English stemmer: plurals and common suffixes (enough for coverage, no model)."""
    for suffix in (
        "ational",
        "ization",
        "iveness",
        "fulness",
        "ousness",
        "ations",
        "ation",
        "ments",
        "ment",
        "ness",
        "ities",
        "ity",
        "ings",
        "ing",
        "ies",
        "ied",
        "edly",
        "ed",
        "es",
        "ly",
        "s",
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)]
    return word


def content_terms(text: str) -> frozenset[str]:
    """Stemmed, lower-cased content words and numbers of ``text`` (stop words removed)."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP)


def coverage(claim: frozenset[str], evidence: frozenset[str]) -> float:
    """Share of the claim's content terms that the evidence contains (1.0 for an empty claim)."""
    if not claim:
        return 1.0
    return len(claim & evidence) / len(claim)


class SentenceSupport(BaseModel):
    """How well one answer sentence is supported, and the citations that support it."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="position of the sentence in the answer as given")
    text: str
    support: float
    semantic: float
    lexical: float
    supported: bool
    citations: tuple[Citation, ...] = ()


class EvidenceAssessment(BaseModel):
    """Whether the retrieved evidence is strong enough to answer at all."""

    model_config = ConfigDict(frozen=True)

    score: float = Field(description="best query-to-evidence-sentence support")
    threshold: float
    sufficient: bool
    best_quote: Citation | None = None


class GroundedAnswer(BaseModel):
    """The supported sentences with citations, what was dropped, and the evidence verdict."""

    model_config = ConfigDict(frozen=True)

    sentences: tuple[SentenceSupport, ...]
    dropped: tuple[SentenceSupport, ...]
    assessment: EvidenceAssessment | None = None

    @property
    def citations(self) -> tuple[Citation, ...]:
        return tuple(c for s in self.sentences for c in s.citations)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True, slots=True)
class EvidenceSentence:
    """One sentence of an evidence passage, located in its document and chunk."""

    passage: Passage
    chunk_id: str
    span: ChunkSpan  # in the document's normalized text
    quote: str
    terms: frozenset[str]


def verify_quote(
    document_id: str, quote: str, span: ChunkSpan, source_text: str, source_start: int = 0
) -> None:
    """Raise :class:`CitationMismatchError` unless ``quote`` is ``source_text`` at ``span``.

    ``source_text`` is the document's text from ``source_start`` on (the whole document, a
    chunk or a passage): the span is in document offsets.
    """
    found = source_text[span.start - source_start : span.end - source_start]
    if span.start < source_start or found != quote or found.encode() != quote.encode():
        raise CitationMismatchError(document_id, span.start, span.end, quote, found)


def verify_citation(citation: Citation, document_text: str) -> None:
    """Check a citation against the full normalized text of its document."""
    verify_quote(citation.document_id, citation.quote, citation.span, document_text)


def evidence_sentences(passages: Sequence[Passage]) -> list[EvidenceSentence]:
    """Every sentence of the passages, each attributed to the chunk that holds it.

    A sentence lying in several (overlapping) chunks is cited from the first; one that straddles
    two touching chunks is clipped to the chunk holding most of it, so a quote always lies
    inside the chunk it cites.
    """
    out: list[EvidenceSentence] = []
    for p in passages:
        for s in split_sentences(p.text):
            start, end = p.span.start + s.start, p.span.start + s.end
            best, overlap = 0, -1
            for i, cs in enumerate(p.chunk_spans):
                o = min(end, cs.end) - max(start, cs.start)
                if o > overlap:
                    best, overlap = i, o
            if overlap <= 0:
                continue
            cs = p.chunk_spans[best]
            start, end = max(start, cs.start), min(end, cs.end)
            quote = p.text[start - p.span.start : end - p.span.start]
            if not quote.strip():
                continue
            out.append(
                EvidenceSentence(
                    p, p.chunk_ids[best], ChunkSpan(start=start, end=end), quote, content_terms(quote)
                )
            )
    return out


class Grounder:
    """Scores support with the bi-encoder plus lexical coverage, cites, verifies, decides."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        min_support: float = DEFAULT_MIN_SUPPORT,
        min_evidence_score: float = CALIBRATED_MIN_EVIDENCE_SCORE,
        semantic_weight: float = SEMANTIC_WEIGHT,
        max_citations_per_sentence: int = 2,
    ) -> None:
        if not 0.0 <= semantic_weight <= 1.0:
            raise ValueError("semantic_weight must be within [0, 1]")
        if max_citations_per_sentence < 1:
            raise ValueError("max_citations_per_sentence must be >= 1")
        self.embedder = embedder
        self.min_support = min_support
        self.min_evidence_score = min_evidence_score
        self.semantic_weight = semantic_weight
        self.max_citations = max_citations_per_sentence

    def _support_matrix(
        self, claims: Sequence[str], evidence: Sequence[EvidenceSentence]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(combined, semantic, lexical) matrices of shape (claims, evidence sentences)."""
        cv = self.embedder.encode(list(claims))
        ev = self.embedder.encode([e.quote for e in evidence])
        semantic = np.clip(cv @ ev.T, -1.0, 1.0).astype(np.float64)
        terms = [content_terms(c) for c in claims]
        lexical = np.array([[coverage(t, e.terms) for e in evidence] for t in terms], dtype=np.float64)
        combined = self.semantic_weight * semantic + (1.0 - self.semantic_weight) * lexical
        return combined, semantic, lexical

    def _cite(self, e: EvidenceSentence, stale: bool | None = None) -> Citation:
        citation = Citation(
            document_id=e.passage.document_id,
            chunk_id=e.chunk_id,
            title=e.passage.title,
            uri=e.passage.uri,
            quote=e.quote,
            span=e.span,
            updated_at=e.passage.updated_at,
            stale=e.passage.stale if stale is None else stale,
        )
        verify_quote(
            citation.document_id, citation.quote, citation.span, e.passage.text, e.passage.span.start
        )
        return citation

    def assess(self, query: str, passages: Sequence[Passage]) -> EvidenceAssessment:
        """The best support any evidence sentence gives the query, against the threshold."""
        evidence = evidence_sentences(passages)
        if not evidence:
            return EvidenceAssessment(score=0.0, threshold=self.min_evidence_score, sufficient=False)
        combined, _, _ = self._support_matrix([query], evidence)
        j = int(np.argmax(combined[0]))
        score = float(combined[0, j])
        return EvidenceAssessment(
            score=score,
            threshold=self.min_evidence_score,
            sufficient=score >= self.min_evidence_score,
            best_quote=self._cite(evidence[j]),
        )

    def ground(
        self,
        answer_sentences: Sequence[str],
        passages: Sequence[Passage],
        *,
        query: str | None = None,
    ) -> GroundedAnswer:
        """Cite each answer sentence from the passages; drop those the evidence does not support.

        With ``query`` the evidence is also assessed (see :meth:`assess`); an insufficient
        verdict drops every sentence, since nothing may be claimed from weak evidence.
        """
        assessment = self.assess(query, passages) if query is not None else None
        evidence = evidence_sentences(passages)
        claims = [s.strip() for s in answer_sentences]
        kept: list[SentenceSupport] = []
        dropped: list[SentenceSupport] = []
        if not claims:
            return GroundedAnswer(sentences=(), dropped=(), assessment=assessment)
        if evidence:
            combined, semantic, lexical = self._support_matrix(claims, evidence)
        for i, text in enumerate(claims):
            if not evidence or not text:
                dropped.append(
                    SentenceSupport(
                        index=i, text=text, support=0.0, semantic=0.0, lexical=0.0, supported=False
                    )
                )
                continue
            order = np.argsort(-combined[i], kind="stable")
            j = int(order[0])
            support = float(combined[i, j])
            ok = support >= self.min_support and (assessment is None or assessment.sufficient)
            cites = (
                tuple(
                    self._cite(evidence[int(k)])
                    for k in order[: self.max_citations]
                    if combined[i, int(k)] >= self.min_support
                )
                if ok
                else ()
            )
            item = SentenceSupport(
                index=i,
                text=text,
                support=support,
                semantic=float(semantic[i, j]),
                lexical=float(lexical[i, j]),
                supported=ok,
                citations=cites,
            )
            (kept if ok else dropped).append(item)
        return GroundedAnswer(sentences=tuple(kept), dropped=tuple(dropped), assessment=assessment)
