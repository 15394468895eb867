"""Sentence spans: exact offsets, abbreviations, initials, lower-case collections."""

from __future__ import annotations

from retrieval.sentences import split_sentences


def _texts(text: str) -> list[str]:
    return [s.slice(text) for s in split_sentences(text)]


def test_spans_slice_the_original_text() -> None:
    text = "  Alpha beta. Gamma (n = 3) delta!  Epsilon?\n\nZeta"
    spans = split_sentences(text)
    assert [s.slice(text) for s in spans] == ["Alpha beta.", "Gamma (n = 3) delta!", "Epsilon?", "Zeta"]
    assert all(text[s.start : s.end] == s.slice(text) for s in spans)


def test_abbreviations_and_initials_do_not_split() -> None:
    text = "Smith et al. showed that J. Doe was right, e.g. in Fig. 2 of the paper. Next one."
    assert _texts(text) == [
        "Smith et al. showed that J. Doe was right, e.g. in Fig. 2 of the paper.",
        "Next one.",
    ]


def test_units_ending_a_sentence_still_split() -> None:
    text = "It fell to 1.2 microm2/ms. In the capsule it was similar."
    assert len(_texts(text)) == 2


def test_lower_case_collections_split_at_every_period() -> None:
    text = "an experimental study of a wing . the results were intended in part ."
    assert _texts(text) == ["an experimental study of a wing .", "the results were intended in part ."]


def test_empty_and_whitespace() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n ") == []
