from __future__ import annotations

import itertools

import pytest

from core.embedding import Embedder
from index.chunking import Block, Chunker, hf_token_offsets

pytestmark = pytest.mark.slow

SECTION = "Northwind robots dock every night. The charger draws 3 kW. Operators check the pads weekly. "


@pytest.fixture(scope="module")
def chunker(embedder: Embedder) -> Chunker:
    return Chunker(hf_token_offsets(embedder.model.tokenizer), max_tokens=64, overlap_tokens=16)


def _doc() -> tuple[str, list[Block]]:
    parts: list[tuple[str, tuple[str, ...], bool]] = [
        ("Charging", ("Charging",), True),
        (SECTION * 6, ("Charging",), False),
        ("Safety", ("Safety",), True),
        ("Wear gloves near the dock.", ("Safety",), False),
        ("x" * 900, ("Safety",), False),  # one 'word' far over budget
    ]
    text, blocks = "", []
    for body, path, title in parts:
        if text:
            text += "\n\n"
        blocks.append(Block(len(text), len(text) + len(body.strip()), path, 1, title))
        text += body.strip()
    return text, blocks


def test_chunks_fit_the_model_and_cover_the_text(chunker: Chunker, embedder: Embedder) -> None:
    text, blocks = _doc()
    plans = chunker.plan(text, blocks)
    assert len(plans) > 3
    for p in plans:
        assert embedder.count_tokens(text[p.start : p.end]) <= 64
        assert text[p.start : p.end].strip() == text[p.start : p.end]
    covered = {i for p in plans for i in range(p.start, p.end)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_chunks_respect_sections_and_overlap(chunker: Chunker) -> None:
    text, blocks = _doc()
    plans = chunker.plan(text, blocks)
    charging = [p for p in plans if p.section_path == ("Charging",)]
    assert charging
    assert all(p.end <= blocks[2].start for p in charging)
    assert text[charging[0].start :].startswith("Charging")  # heading stays with its body
    assert any(b.start < a.end for a, b in itertools.pairwise(charging))  # overlap


def test_plan_is_deterministic_and_handles_plain_text(chunker: Chunker) -> None:
    text = "First paragraph here.\n\nSecond one.\n\n\n" + SECTION * 3
    assert chunker.plan(text) == chunker.plan(text)
    assert chunker.plan("   \n\n ") == []
    assert chunker.plan(text)[0].start == 0


def test_invalid_configuration_is_refused(embedder: Embedder) -> None:
    offsets = hf_token_offsets(embedder.model.tokenizer)
    with pytest.raises(ValueError, match="too small"):
        Chunker(offsets, max_tokens=5)
    with pytest.raises(ValueError, match="overlap"):
        Chunker(offsets, max_tokens=64, overlap_tokens=64)
