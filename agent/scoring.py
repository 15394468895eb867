"""How well an evidence sentence answers one part of a question, and whether it may be used.

Three signals, all computed from the question and the asker's *own* evidence:

- **support**: retrieval's grounding measure, ``w * cosine + (1 - w) * coverage`` of the
  question's content words by the sentence (:mod:`retrieval.grounding`); the evidence
  threshold (``retrieval.min_evidence_score``) is calibrated on it.
- **key coverage**: the share of the question's content words found in the sentence or its
  document's title, each word weighted by how rare it is *in the evidence retrieved for this
  part* (``log((n + 1) / (df + 0.5))``). A word that no retrieved sentence contains ("CEO",
  "valuation", "deductible") weighs most, so evidence that talks around the question ("base
  salary" without "CEO") does not count as an answer. Rarity comes from the asker's readable
  evidence only, never from corpus statistics, so forbidden documents cannot move it.
- **usable**: not instruction-like (:mod:`agent.text`), not a bare heading or title, and, for
  questions that ask for a quantity ("how many", "deadline"), containing a number (in digits
  or words) that is not a year or part of a name ("2024", "T2", "FY2027", "NW-1043"); for
  questions about money ("price", "salary", "budget"), containing an amount ("$95", "68.4M",
  "50%"); and naming, itself or in its title, every code of the question ("FY2027", "L5",
  "SEV1"): a sentence about FY2026 answers about a sibling.

A table cell is read with its label: a short label line right before a cell value ("Runtime"
before "Up to 10 hours, depending on payload and duty cycle") counts as that value's context
for key coverage and lexical support, the way a document's title does for key coverage. The
sentences themselves stay exactly as split (they are pre-embedded at ingest).

Cosine alone rates any HR sentence close to any HR question; these checks are what make the
extractive reasoner refuse instead of answering a different question.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from agent.text import answer_sentence, looks_like_instructions
from core.embedding import Embedder
from retrieval.grounding import EvidenceSentence, content_terms, coverage

MIN_KEY_COVERAGE = 0.57
"""A part is answered only by a sentence covering at least this (rarity-weighted) share of it.

Measured on the golden set (docs/benchmarks.md, "Golden set"): 0.60 refused D1 and D4 (0.57-0.59),
0.55 let A3 cite a neighbouring document; 0.57 answers both with refusal accuracy unchanged."""

MIN_ANSWER_SUPPORT = 0.35
"""The support an answering sentence itself needs. The evidence threshold
(``retrieval.min_evidence_score``, calibrated: 0.46) applies to the best support of *any*
evidence sentence for the part, as in :meth:`retrieval.grounding.Grounder.assess`; the sentence
that answers (a table cell, a sentence whose key words are the question's) often scores less
than a heading on the topic. Measured on the golden set (docs/benchmarks.md, "Golden set")."""

STALE_PENALTY = 0.03
"""Between two nearly equal sentences, the one from a fresh document ranks first."""

_QUANTITY = re.compile(
    r"\bhow\s+(many|much|long|old)\b|\bwhat\s+percentage\b|\b(price|cost|salary|salaries|budget|deadline|"
    r"temperature|amount|rate|fee|fees|allowance|stipend|valuation|revenue|deductible|payload|runtime|"
    r"percentage|number|limit)\b",
    re.IGNORECASE,
)
_MONEY_QUESTION = re.compile(
    r"\b(price|prices|priced|cost|costs|salary|salaries|budget|budgets|fee|fees|allowance|stipend|"
    r"valuation|revenue|deductible|bonus|wage|wages|compensation|paid\s+out)\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
# a number of its own: not glued to letters ("T2", "FY2027", "NW-1043", "5th" are names or ranks)
_QUANTITY_NUMBER = re.compile(r"(?<![A-Za-z_])(?<![A-Za-z]-)(?<![\d.,])\d[\d,.]*(?![A-Za-z_\d])")
_YEAR = re.compile(r"^(19|20)\d\d$")
_NUMBER_WORD = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
    r"fifty|hundred|thousand|million|billion|dozen|half|twice|once|single|double|triple)\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"[$€£¥]\s?\d|\d\s?%|\b\d[\d,.]*\s?(?:usd|eur|gbp|pln|zł|dollars?|cents?|euros?|k|m|bn|million|billion)\b",
    re.IGNORECASE,
)
_LABEL_MAX_WORDS = 6
_LABEL_GAP = 4  # characters between a label and its cell: blank lines at most
# Words that shape a question but name nothing to look for ("how *many* days do we *get*"):
# pronouns and determiners ("the cap on *his* hours", "is *any* service degraded"), the asking
# verb of a comparison ("how did revenue *compare* with plan": the answer states both figures),
# and time relative to the asker ("the *next* maintenance": the answer names a date, not "next").
_SCAFFOLDING_WORDS = (
    "many much long often time times get gets got getting happen happens happened tell know need needs "
    "use used make made kind type way thing things like say said mean means exactly currently please "
    "someone somebody anyone anything something right now also our we my me you your there "
    "he him his she her hers them any some every each compare compared comparison next upcoming"
)
SCAFFOLDING = content_terms(_SCAFFOLDING_WORDS)  # stemmed like the terms they are compared with
_MIN_PREFIX = 4
_TERMINAL = re.compile(r"[.!?;)\]\"”’]\s*$")


def expects_number(question: str) -> bool:
    """Whether the question asks for a quantity, so an answer without a digit is no answer."""
    return _QUANTITY.search(question) is not None or expects_money(question)


def expects_money(question: str) -> bool:
    """Whether the question asks about money, so an answer needs an amount."""
    return _MONEY_QUESTION.search(question) is not None


def has_quantity(text: str) -> bool:
    """A number that can answer "how many/much": not a year, not part of a name or code."""
    if _NUMBER_WORD.search(text):
        return True
    return any(not _YEAR.match(m.group(0).rstrip(".,")) for m in _QUANTITY_NUMBER.finditer(text))


def has_amount(text: str) -> bool:
    """An amount of money or a percentage ("$95", "$68.4M", "70 cents", "50%")."""
    return _MONEY.search(text) is not None


def answers_kind(question: str, text: str) -> bool:
    """Whether ``text`` holds the kind of value the question asks for (any text, if no kind)."""
    if expects_money(question):
        return has_amount(text)
    if expects_number(question):
        return has_quantity(text)
    return True


def is_heading(quote: str, title: str) -> bool:
    """A heading, label or the document's title: text that names a topic but says nothing."""
    text = answer_sentence(quote)
    norm = " ".join(text.lower().split())
    if norm == " ".join(title.lower().split()):
        return True
    return not _TERMINAL.search(text) and len(text.split()) < 12 and not _DIGIT.search(text)


def may_answer(quote: str, title: str = "") -> bool:
    """Whether an evidence sentence may be repeated in an answer at all."""
    text = answer_sentence(quote)
    if looks_like_instructions(quote) or len(text) > 600 or len(text.split()) < 4:
        return False
    return not is_heading(quote, title)


@dataclass(frozen=True)
class ScoredSentence:
    """An evidence sentence scored against one part of the question."""

    evidence: EvidenceSentence
    support: float
    semantic: float
    lexical: float
    key_coverage: float
    usable: bool

    @property
    def rank_score(self) -> float:
        penalty = STALE_PENALTY if self.evidence.passage.stale else 0.0
        return self.support + 0.2 * self.key_coverage - penalty

    @property
    def answers(self) -> bool:
        """Usable and on the question's key words: may be an answer sentence for its part."""
        return self.usable and self.key_coverage >= MIN_KEY_COVERAGE


class SupportScorer:
    """Scores a part's evidence sentences (see module docstring)."""

    def __init__(self, embedder: Embedder, semantic_weight: float) -> None:
        self.embedder = embedder
        self.semantic_weight = semantic_weight

    def query_vector(self, query: str) -> npt.NDArray[np.float32]:
        """The query's vector through the embedding cache (a repeated question costs no model call)."""
        vector: npt.NDArray[np.float32] = self.embedder.encode([query])[0]
        return vector

    def score(self, query: str, evidence: Sequence[EvidenceSentence]) -> list[ScoredSentence]:
        """Every sentence scored, best first (by support and key coverage, fresh before stale)."""
        if not evidence:
            return []
        vectors = self.embedder.encode([query, *(e.quote for e in evidence)])
        semantic = np.clip(vectors[1:] @ vectors[0], -1.0, 1.0)
        terms = key_terms(query)
        labels = label_terms(evidence)
        own = [e.terms | label for e, label in zip(evidence, labels, strict=True)]
        contexts = [o | title_terms(e.passage.title) for e, o in zip(evidence, own, strict=True)]
        weights = rarity_weights(terms, contexts)
        total = sum(weights.values())
        out = []
        all_terms = content_terms(query)
        identifiers = identifier_terms(query)
        for e, sem, ctx, terms_with_label in zip(evidence, semantic, contexts, own, strict=True):
            lexical = coverage(all_terms, terms_with_label)
            support = self.semantic_weight * float(sem) + (1.0 - self.semantic_weight) * lexical
            key = sum(w for t, w in weights.items() if matches(t, ctx)) / total if total else 1.0
            usable = (
                may_answer(e.quote, e.passage.title)
                and answers_kind(query, e.quote)
                and all(i in ctx for i in identifiers)
            )
            out.append(ScoredSentence(e, support, float(sem), lexical, key, usable))
        out.sort(key=lambda s: (-s.rank_score, s.evidence.passage.rank, s.evidence.span.start))
        return out


def is_label(quote: str) -> bool:
    """A table label or short heading: a few words, no digit, no sentence punctuation."""
    text = answer_sentence(quote)
    return (
        0 < len(text.split()) <= _LABEL_MAX_WORDS and not _DIGIT.search(text) and not _TERMINAL.search(text)
    )


def is_cell(quote: str) -> bool:
    """A table cell's value: text without sentence punctuation at its end (not prose)."""
    return not _TERMINAL.search(answer_sentence(quote))


def label_terms(evidence: Sequence[EvidenceSentence]) -> list[frozenset[str]]:
    """Per sentence, the terms of the label right before it when it is a table cell (or none)."""
    by_doc: dict[str, list[int]] = {}
    for i, e in enumerate(evidence):
        by_doc.setdefault(e.passage.document_id, []).append(i)
    out: list[frozenset[str]] = [frozenset()] * len(evidence)
    for indexes in by_doc.values():
        ordered = sorted(indexes, key=lambda i: (evidence[i].span.start, evidence[i].span.end))
        for prev, cur in itertools.pairwise(ordered):
            before, after = evidence[prev], evidence[cur]
            adjacent = 0 <= after.span.start - before.span.end <= _LABEL_GAP
            if adjacent and is_label(before.quote) and is_cell(after.quote):
                out[cur] = before.terms
    return out


@functools.lru_cache(maxsize=20_000)
def title_terms(title: str) -> frozenset[str]:
    return content_terms(title)


def key_terms(question: str) -> frozenset[str]:
    """The question's content terms without its scaffolding (falls back to all content terms)."""
    terms = content_terms(question)
    return frozenset(t for t in terms if t not in SCAFFOLDING) or terms


def identifier_terms(question: str) -> frozenset[str]:
    """The question's codes and names with digits ("FY2027", "Q3", "L5", "SEV1", "T2").

    They pick one thing out of a family of near-identical ones (the FY2026 and FY2027 budgets
    share their wording), so a sentence that does not name them, itself or in its title, answers
    about a sibling, however well it covers the other words. Plain numbers and years are not
    identifiers: the answer often states them differently.
    """
    return frozenset(t for t in key_terms(question) if _DIGIT.search(t) and not t.isdigit())


def matches(term: str, context: frozenset[str]) -> bool:
    """``term`` is in ``context``, or shares a stem-like prefix with a word of it.

    Grounding's light stemmer maps "raised" to "rais" but "raise" to "raise"; a shared prefix
    of at least four characters that covers the shorter word bridges such pairs.
    """
    if term in context:
        return True
    if not term.isalpha():  # "fy2023" must never match "fy2027"
        return False
    bare = _without_final_e(term)
    if len(bare) >= 3 and any(w.isalpha() and _without_final_e(w) == bare for w in context):
        return True  # the stemmer cuts "pages" to "pag" but leaves "page": one word
    if len(term) < _MIN_PREFIX:
        return False
    for word in context:
        short, long_ = (term, word) if len(term) <= len(word) else (word, term)
        if (
            word.isalpha()
            and len(short) >= _MIN_PREFIX
            and long_.startswith(short[:-1])
            and len(long_) - len(short) <= 3
        ):
            return True
    return False


def _without_final_e(word: str) -> str:
    return word[:-1] if word.endswith("e") else word


def missing_terms(question: str, context: frozenset[str]) -> list[str]:
    """The question's key terms a context lacks (for a refusal that says what was missing)."""
    return sorted(t for t in key_terms(question) if not matches(t, context))


def rarity_weights(terms: frozenset[str], contexts: Sequence[frozenset[str]]) -> dict[str, float]:
    """``log((n + 1) / (df + 0.5))`` per query term over the evidence contexts."""
    n = len(contexts)
    return {t: math.log((n + 1) / (sum(matches(t, c) for c in contexts) + 0.5)) for t in terms}
