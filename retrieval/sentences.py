"""Sentence boundaries with exact character spans.

Two consumers need sentences: the max-similarity reranker (a SciFact claim usually restates one
sentence of an abstract, so the best single sentence is a sharper signal than the whole chunk) and
citation grounding (a quote is a sentence of the source, cited at its exact offsets). Both need the
*span* of each sentence in the original text, not a re-joined string, so this splitter never
rewrites text: it only finds boundaries. It is a rule-based splitter (no model download, no spaCy):
good enough for abstracts, documentation and tickets, and deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.models import Chunk

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then whitespace.
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
# Paragraph breaks always end a sentence (headings, list items, ticket fields).
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "et al",
        "al",
        "etc",
        "vs",
        "fig",
        "figs",
        "eq",
        "eqs",
        "ref",
        "refs",
        "no",
        "dr",
        "mr",
        "mrs",
        "prof",
        "approx",
        "ca",
        "cf",
        "resp",
        "inc",
        "ltd",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "ph.d",
        "vol",
        "pp",
        "dept",
        "corp",
    }
)
_TOKEN_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


@dataclass(frozen=True, slots=True)
class SentenceSpan:
    """Half-open ``[start, end)`` offsets of one sentence in the text it was split from."""

    start: int
    end: int

    def slice(self, text: str) -> str:
        return text[self.start : self.end]


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` ends an abbreviation or an initial ("J. Smith")."""
    m = _TOKEN_BEFORE.search(text, 0, dot)
    if m is None:
        return False
    raw = m.group(1).rstrip(".")
    if len(raw) == 1 and raw.isupper() and (dot < 2 or text[dot - 2].isspace()):
        return True  # an initial: "J. Smith"
    return raw.lower() in _ABBREVIATIONS


def split_sentences(text: str, *, min_chars: int = 1) -> list[SentenceSpan]:
    """Sentence spans of ``text``, trimmed of surrounding whitespace, in order.

    A boundary is terminal punctuation followed by whitespace, except after a known abbreviation
    or an initial, and except when the next word starts in lower case in a text that otherwise
    uses capitals (lower-case continuations are abbreviations we do not know). All-lower-case
    texts (old test collections such as Cranfield) split at every terminal punctuation.
    Spans shorter than ``min_chars`` are merged into their predecessor.
    """
    if not text.strip():
        return []
    mixed_case = any(c.isupper() for c in text)
    cuts: set[int] = {m.start() for m in _PARAGRAPH.finditer(text)}
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        nxt = re.compile(r"\s*(\S)").match(text, end)
        if nxt is None:
            continue
        following = nxt.group(1)
        if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
            continue
        if mixed_case and following.islower():
            continue
        cuts.add(end)
    spans: list[SentenceSpan] = []
    start = 0
    for cut in [*sorted(cuts), len(text)]:
        s, e = start, cut
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            if spans and e - s < min_chars:
                spans[-1] = SentenceSpan(spans[-1].start, e)
            else:
                spans.append(SentenceSpan(s, e))
        start = cut
    return spans


def sentence_texts(chunk: Chunk, *, include_title: bool = True) -> list[str]:
    """A chunk's evidence units: each sentence, then its title as one more (titles state findings).

    The one split shared by max-similarity, best-sentence BM25, the agent's evidence and the
    pipeline's sentence pre-embedding, so a pre-embedded sentence is exactly one that is scored.
    """
    texts = [s.slice(chunk.text) for s in split_sentences(chunk.text)]
    if include_title and chunk.title.strip():
        texts.append(chunk.title.strip())
    return texts or [chunk.text]
