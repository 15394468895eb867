"""The embedding input (title + chunk) and the title-aware chunk budget that keeps it whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.embedding import Embedder
from core.models import Document
from index.chunking import hf_token_offsets
from index.passages import MAX_TITLE_CHARS, TitledChunker, embedding_input, embedding_text, embedding_title
from retrieval.evaluation.indexing import DocumentChunker

pytestmark = pytest.mark.slow

BODY = " ".join(
    f"Section {i}: the Northwind charger at dock {i} draws {i % 5 + 1} kW and is checked every week."
    for i in range(60)
)


def test_embedding_text_puts_the_title_first() -> None:
    assert (
        embedding_text("Expense policy", "Receipts over 50 EUR.") == "Expense policy\n\nReceipts over 50 EUR."
    )
    assert embedding_text("  ", "Receipts.") == "Receipts."  # no title: the text alone
    assert embedding_text(" Padded ", "x") == "Padded\n\nx"


def test_long_titles_are_clipped_at_a_word_boundary() -> None:
    title = " ".join(["pneumonoultramicroscopic"] * 30)  # 749 characters
    head = embedding_title(title)
    assert len(head) <= MAX_TITLE_CHARS
    assert title.startswith(head)
    assert not head.endswith(" ")
    assert head.split(" ")[-1] == "pneumonoultramicroscopic"  # whole words only


def test_title_and_chunk_fit_the_model_window(embedder: Embedder) -> None:
    """What the model sees for every chunk fits its window, however long the title: no truncation."""
    window = 128
    chunker = TitledChunker(hf_token_offsets(embedder.model.tokenizer), window=window, overlap_tokens=16)
    for title in ("", "Docks", "The complete and unabridged operating manual of the charging docks " * 3):
        plans = chunker.plan(title, BODY)
        assert len(plans) > 2
        for p in plans:
            tokens = embedder.count_tokens(embedding_text(title, BODY[p.start : p.end]))
            assert tokens <= window, (title[:20], tokens)
    # a longer title leaves less room: more chunks for the same text
    assert len(chunker.plan("Docks " * 30, BODY)) > len(chunker.plan("", BODY))


def test_evaluation_chunks_and_embeds_like_the_pipeline(embedder: Embedder) -> None:
    """The retrieval evaluation uses the same rules (index.passages), so its figures describe what ships."""
    doc = Document.create(
        source_id="eval",
        locator="d1",
        title="Charging docks",
        uri="beir://x/d1",
        updated_at=datetime(2020, 1, 1, tzinfo=UTC),
        acl=("public",),
        text=BODY,
    )
    evaluated = DocumentChunker(embedder, max_tokens=128, overlap_tokens=16).chunks(doc)
    shipped = TitledChunker(hf_token_offsets(embedder.model.tokenizer), window=128, overlap_tokens=16).plan(
        doc.title, doc.text
    )
    assert [(c.span.start, c.span.end) for c in evaluated] == [(p.start, p.end) for p in shipped]
    assert embedding_input(evaluated[0]) == f"Charging docks\n\n{evaluated[0].text}"
