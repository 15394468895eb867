"""Structure-aware, token-bounded chunking with exact character spans.

A document arrives as normalized text plus *blocks* (parsed elements: paragraphs, titles, list
items, tables) with their character spans and section paths. Chunks never cross a section
boundary unless the chunk so far is tiny (a heading alone), never exceed the embedding model's
token budget (so nothing is truncated at embedding time), and overlap by whole sentences up to
``overlap_tokens``. Every chunk is a span ``[start, end)`` of the document text, so a citation
into a chunk is a citation into the document.

Token counts come from tokenizing the whole document once with offsets; the count of a span is
the number of tokens that start inside it (a bisect), so chunking is linear in document size.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Char offsets (start, end) of each token of a text, special tokens excluded.
TokenOffsets = Callable[[str], list[tuple[int, int]]]

_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|\n+")
_SPECIAL_TOKENS = 2  # [CLS] and [SEP] for BERT-style encoders
_SAFETY = 2  # boundary effects: a span tokenized alone may split one token differently


@dataclass(frozen=True)
class Block:
    """A parsed element's span in the document text, with its place in the structure."""

    start: int
    end: int
    section_path: tuple[str, ...] = ()
    page: int | None = None
    is_title: bool = False


@dataclass(frozen=True)
class ChunkPlan:
    """Where one chunk lies in the document text."""

    start: int
    end: int
    section_path: tuple[str, ...]
    page: int | None


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    section_path: tuple[str, ...]
    page: int | None
    is_title: bool


def hf_token_offsets(tokenizer: object) -> TokenOffsets:
    """Adapt a Hugging Face fast tokenizer (``model.tokenizer``) to :data:`TokenOffsets`."""

    def offsets(text: str) -> list[tuple[int, int]]:
        enc = tokenizer(  # type: ignore[operator]
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
        return [(int(s), int(e)) for s, e in enc["offset_mapping"]]

    return offsets


def paragraph_blocks(text: str) -> list[Block]:
    """Blocks for plain text without parsed structure: paragraphs separated by blank lines."""
    blocks = []
    for m in re.finditer(r"\S(?:.*?\S)?(?=\s*\n\s*\n|\s*\Z)", text, flags=re.S):
        blocks.append(Block(m.start(), m.end()))
    return blocks


class Chunker:
    """Splits documents into token-bounded chunk plans.

    ``max_tokens`` is the model's input limit including special tokens; ``overlap_tokens`` is
    the most context repeated from the previous chunk of the same section.
    """

    def __init__(
        self,
        token_offsets: TokenOffsets,
        *,
        max_tokens: int,
        overlap_tokens: int = 0,
        min_tokens: int = 24,
    ) -> None:
        if max_tokens <= _SPECIAL_TOKENS + _SAFETY + 4:
            raise ValueError(f"max_tokens={max_tokens} is too small to hold any text")
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError("overlap_tokens must be >= 0 and smaller than max_tokens")
        self._offsets = token_offsets
        self.max_tokens = max_tokens
        self.budget = max_tokens - _SPECIAL_TOKENS - _SAFETY
        self.overlap = overlap_tokens
        self.min_tokens = min(min_tokens, self.budget // 2)

    def plan(self, text: str, blocks: Sequence[Block] | None = None) -> list[ChunkPlan]:
        """Chunk plans covering every block of ``text`` (in order, possibly overlapping)."""
        if blocks is None:
            blocks = paragraph_blocks(text)
        blocks = [b for b in blocks if text[b.start : b.end].strip()]
        if not blocks:
            return []
        starts = [s for s, _ in self._offsets(text)]
        counter = _SpanTokens(starts)
        units = self._units(text, blocks, counter)
        return self._pack(units, counter)

    # -- units: blocks, split into sentences and token windows where a block is too long --

    def _units(self, text: str, blocks: Sequence[Block], counter: _SpanTokens) -> list[_Unit]:
        units: list[_Unit] = []
        for b in blocks:
            if counter(b.start, b.end) <= self.budget:
                units.append(_Unit(b.start, b.end, b.section_path, b.page, b.is_title))
                continue
            for s, e in _sentences(text, b.start, b.end):
                if counter(s, e) <= self.budget:
                    units.append(_Unit(s, e, b.section_path, b.page, False))
                else:
                    for ws, we in self._windows(text, s, e, counter):
                        units.append(_Unit(ws, we, b.section_path, b.page, False))
        return units

    def _windows(self, text: str, start: int, end: int, counter: _SpanTokens) -> list[tuple[int, int]]:
        """Split an over-long sentence at token boundaries, preferring word starts."""
        first = bisect_left(counter.starts, start)
        last = bisect_left(counter.starts, end)
        token_starts = counter.starts[first:last]
        out: list[tuple[int, int]] = []
        i = 0
        while i < len(token_starts):
            j = min(i + self.budget, len(token_starts))
            if j < len(token_starts):
                # back off to a token that begins a word, so no word is cut in half
                k = j
                while k > i + self.budget // 2 and not _word_start(text, token_starts[k]):
                    k -= 1
                j = k if _word_start(text, token_starts[k]) else j
            s = token_starts[i] if out else start
            e = token_starts[j] if j < len(token_starts) else end
            seg = text[s:e].rstrip()
            if seg:
                out.append((s, s + len(seg)))
            i = j
        return out

    # -- packing: greedy within a section, sentence-level overlap --

    def _pack(self, units: list[_Unit], counter: _SpanTokens) -> list[ChunkPlan]:
        plans: list[ChunkPlan] = []
        i = 0
        n = len(units)
        while i < n:
            j = i
            while j + 1 < n:
                nxt = units[j + 1]
                same_section = nxt.section_path == units[i].section_path
                tiny = counter(units[i].start, units[j].end) < self.min_tokens
                if not (same_section or tiny or units[j].is_title):
                    break
                if counter(units[i].start, nxt.end) > self.budget:
                    break
                j += 1
            head = next((u for u in units[i : j + 1] if not u.is_title), units[i])
            plans.append(ChunkPlan(units[i].start, units[j].end, head.section_path, units[i].page))
            if j + 1 >= n:
                break
            # overlap: restart at the earliest trailing units of this chunk (same section as the
            # next unit) that fit in the overlap budget, always making progress
            k = j + 1
            if self.overlap and units[j + 1].section_path == units[j].section_path:
                while (
                    k - 1 > i
                    and units[k - 1].section_path == units[j + 1].section_path
                    and not units[k - 1].is_title
                    and counter(units[k - 1].start, units[j].end) <= self.overlap
                    and counter(units[k - 1].start, units[j + 1].end) <= self.budget
                ):
                    k -= 1
            i = k
        return plans


class _SpanTokens:
    """Counts tokens starting inside a character span, from one tokenization of the text."""

    def __init__(self, starts: list[int]) -> None:
        self.starts = starts

    def __call__(self, start: int, end: int) -> int:
        return bisect_left(self.starts, end) - bisect_left(self.starts, start)


def _word_start(text: str, pos: int) -> bool:
    return pos == 0 or text[pos - 1].isspace()


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside ``[start, end)``, trimmed of surrounding whitespace."""
    out: list[tuple[int, int]] = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        _append_trimmed(text, pos, m.end(), out)
        pos = m.end()
    _append_trimmed(text, pos, end, out)
    return out


def _append_trimmed(text: str, s: int, e: int, out: list[tuple[int, int]]) -> None:
    seg = text[s:e]
    stripped = seg.strip()
    if stripped:
        s2 = s + (len(seg) - len(seg.lstrip()))
        out.append((s2, s2 + len(stripped)))
