"""Validation errors become one readable message naming the field (and the limit)."""

from __future__ import annotations

from api.errors import describe_validation


def test_messages_name_the_problem() -> None:
    errors = [
        {
            "type": "json_invalid",
            "loc": ("body", 12),
            "msg": "JSON decode error",
            "ctx": {"error": "Expecting value"},
        },
        {"type": "extra_forbidden", "loc": ("body", "questoin"), "msg": "Extra inputs are not permitted"},
        {"type": "missing", "loc": ("body", "question"), "msg": "Field required"},
        {"type": "int_parsing", "loc": ("body", "top_k"), "msg": "Input should be a valid integer"},
        {"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be a valid dictionary"},
    ]
    message = describe_validation(errors)
    assert "not valid JSON (Expecting value)" in message
    assert "unknown field 'questoin'" in message
    assert "'question' is required" in message
    assert "top_k: Input should be a valid integer" in message
    assert "must be a JSON object" in message


def test_no_errors_is_still_a_message() -> None:
    assert describe_validation([]) == "invalid request"
