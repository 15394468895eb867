"""The deterministic planner: decomposition and follow-up queries come from the question only."""

from __future__ import annotations

from agent.reasoners.planning import decompose, reformulate


def test_single_question_is_one_part() -> None:
    assert decompose("How many approvals does a production deploy need?", 4) == (
        "How many approvals does a production deploy need?",
    )


def test_question_marks_split_parts() -> None:
    parts = decompose("What is the PTO policy? Who approves time off requests?", 4)
    assert parts == ("What is the PTO policy?", "Who approves time off requests?")


def test_and_before_a_question_word_splits() -> None:
    parts = decompose("What is the guest wifi network called and when does the password rotate?", 4)
    assert parts == ("What is the guest wifi network called", "when does the password rotate?")


def test_and_inside_a_noun_phrase_does_not_split() -> None:
    parts = decompose("When do deploys happen on Tuesdays and Thursdays?", 4)
    assert parts == ("When do deploys happen on Tuesdays and Thursdays?",)


def test_a_part_without_content_borrows_the_first_parts_key_words() -> None:
    parts = decompose("What is the deploy process and who approves it?", 4)
    assert parts[0] == "What is the deploy process"
    assert parts[1].startswith("who approves it")
    assert "deploy" in parts[1]
    assert "process" in parts[1]


def test_parts_are_capped() -> None:
    q = "What is A1? What is B2? What is C3? What is D4? What is E5?"
    parts = decompose(q, 3)
    assert len(parts) == 3
    assert parts[-1] == "What is C3? What is D4? What is E5?"


def test_empty_or_stopword_question_is_kept_whole() -> None:
    assert decompose("   what is it?  ", 4) == ("what is it?",)


def test_reformulation_is_keywords_of_the_part_then_the_question() -> None:
    assert reformulate("who approves it", "What is the deploy process and who approves it?") == (
        "approves deploy process"
    )
