"""What the bi-encoder embeds for a chunk, and the chunk budget that keeps that input whole.

A chunk is embedded with its document's title in front (``title``, a blank line, the chunk
text): the title carries the topic a mid-document chunk often never names. The pipeline (what
ships) and the retrieval evaluation (what the quality figures describe) both embed
:func:`embedding_input`, so the two cannot drift; a change here changes every cache key, i.e.
a one-time re-embed of every corpus.

Because the title shares the model window with the chunk, a document's chunks are planned with
the window minus the title's tokens (:class:`TitledChunker`): nothing is truncated at
embedding time. A WordPiece tokenizer never merges across whitespace, so the tokens of
``title + "\\n\\n" + text`` are the title's plus the text's.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.models import Chunk
from index.chunking import Block, Chunker, ChunkPlan, TokenOffsets

MAX_TITLE_CHARS = 300
"""Longer titles are clipped (at a word boundary) in the embedding input: a title is a topic,
not content, and must leave most of the window to the chunk. No SciFact title is longer."""
MIN_TEXT_TOKENS = 64
"""The smallest chunk budget, whatever the title (a title of more than window - 64 tokens is the
one case where the model would truncate the input; MAX_TITLE_CHARS makes it very unlikely)."""


def embedding_title(title: str) -> str:
    """The title as it goes into the embedding input: stripped, clipped to MAX_TITLE_CHARS."""
    head = title.strip()
    if len(head) <= MAX_TITLE_CHARS:
        return head
    cut = head[:MAX_TITLE_CHARS]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_TITLE_CHARS // 2 else cut).rstrip()


def embedding_text(title: str, text: str) -> str:
    """The bi-encoder input for ``text`` of a document titled ``title``."""
    head = embedding_title(title)
    return f"{head}\n\n{text}" if head else text


def embedding_input(chunk: Chunk) -> str:
    """What the bi-encoder embeds for a chunk: its document title, a blank line, its text."""
    return embedding_text(chunk.title, chunk.text)


class TitledChunker:
    """Plans a document's chunks so that title + chunk fits the model window.

    ``window`` is the model's input limit in tokens (special tokens included), already bounded
    by the ``chunking.max_tokens`` setting; the overlap is at most a quarter of a chunk.
    One :class:`Chunker` per budget is kept (titles of equal token length share one).
    """

    def __init__(self, token_offsets: TokenOffsets, *, window: int, overlap_tokens: int) -> None:
        self.window = window
        self.overlap = overlap_tokens
        self._offsets = token_offsets
        self._chunkers: dict[int, Chunker] = {}

    def budget(self, title: str) -> int:
        """Tokens left to the chunk text once the title is in the input."""
        head = embedding_title(title)
        title_tokens = len(self._offsets(head)) if head else 0
        return max(self.window - title_tokens, MIN_TEXT_TOKENS)

    def chunker(self, budget: int) -> Chunker:
        if budget not in self._chunkers:
            self._chunkers[budget] = Chunker(
                self._offsets, max_tokens=budget, overlap_tokens=min(self.overlap, budget // 4)
            )
        return self._chunkers[budget]

    def plan(self, title: str, text: str, blocks: Sequence[Block] | None = None) -> list[ChunkPlan]:
        """Chunk plans of ``text`` (see :meth:`Chunker.plan`) sized for ``title``."""
        return self.chunker(self.budget(title)).plan(text, blocks)
