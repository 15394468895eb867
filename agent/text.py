"""Retrieved text is data: fence it, never obey it, never let it add a link to an answer.

Three defences, each simple enough to reason about:

1. **Plans never read document text.** Reasoners choose tool calls from the question, scores
   and ids only (see :mod:`agent.reasoners`); this module is for the text that does reach an
   answer or a model prompt.
2. **Instruction-like sentences are never answer sentences.** :func:`looks_like_instructions`
   recognises text addressed to an assistant ("ignore previous instructions", role markers,
   fake tool calls). Such a sentence may still be *retrieved* (it is a real sentence of a
   real document) but the agent never repeats it.
3. **No links from documents.** :func:`strip_links` removes URLs and markdown links from any
   sentence that goes into an answer; a citation's ``uri`` comes from the index metadata,
   never from text, and its ``quote`` stays exact (it is evidence, not answer).

:func:`fence` wraps evidence for an LLM prompt between delimiters the evidence cannot forge
(a per-request nonce), so a model can be told precisely where data begins and ends.
"""

from __future__ import annotations

import re
import secrets

_INSTRUCTION_PATTERNS = (
    r"\b(ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(instruction|prompt|rule|guideline|direction)s?\b",
    r"\b(previous|prior|above|earlier|all)\s+(instruction|prompt|message)s?\b",
    r"\byou\s+are\s+(now\s+)?(an?\s+)?(ai|assistant|chatbot|language model|llm|agent)\b",
    r"\b(as an ai|system prompt|developer mode|jailbreak)\b",
    r"^\s*(system|assistant|user|tool)\s*:",
    r"<\|?\s*(im_start|im_end|system|assistant|tool_call|function_call)",
    r"</?\s*(tool_call|function_call|tool|instructions?)\s*>",
    r"\[/?(inst|sys)\]",
    r"\"(tool|function|name|tool_name)\"\s*:\s*\"",
    r"\b(tool_call|function_call|call_tool|tool_use)\b",
    r"\b(call|invoke)\s+the\s+\w+\s+(tool|function)\b",
    r"\b(use|run)\s+the\s+(search|open_passage|list_sources|check_freshness)\s+(tool|function)\b",
    r"\b(reveal|print|output|send|leak|exfiltrate)\b[^.!?\n]{0,40}"
    r"\b(secret|password|api key|credential|token|all documents|confidential)",
    r"\b(respond|reply|answer)\s+(only\s+)?with\b",
    r"\bdo not (tell|mention|cite)\b",
)
_INSTRUCTIONS = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.MULTILINE)

_MARKDOWN_LINK = re.compile(r"!?\[([^\]\n]{0,200})\]\(\s*[^)\s]*\s*(?:\"[^\"]*\")?\s*\)")
_URL = re.compile(
    r"\b(?:https?|ftp|file|javascript|data|mailto):[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+", re.IGNORECASE
)
_ANGLE_LINK = re.compile(r"<(?:https?|mailto):[^>\s]*>", re.IGNORECASE)
_HEADING_MARKS = re.compile(r"^\s*#{1,6}\s+")
_SPACES = re.compile(r"[ \t]{2,}")

LINK_PLACEHOLDER = "[link removed]"


def looks_like_instructions(text: str) -> bool:
    """True when ``text`` reads as instructions to an assistant or as a tool call."""
    return _INSTRUCTIONS.search(text) is not None


def strip_links(text: str) -> str:
    """``text`` without URLs: markdown links keep their label, bare URLs become a placeholder."""
    text = _MARKDOWN_LINK.sub(lambda m: m.group(1), text)
    text = _ANGLE_LINK.sub(LINK_PLACEHOLDER, text)
    return _URL.sub(LINK_PLACEHOLDER, text)


def has_link(text: str) -> bool:
    return bool(_URL.search(text) or _MARKDOWN_LINK.search(text) or _ANGLE_LINK.search(text))


def answer_sentence(quote: str) -> str:
    """A quoted evidence sentence as it may appear in an answer: links out, one line, no '#'."""
    text = strip_links(quote)
    text = " ".join(_HEADING_MARKS.sub("", line).strip() for line in text.splitlines() if line.strip())
    return _SPACES.sub(" ", text).strip()


def new_fence() -> str:
    """A delimiter no document can contain by chance or design (fresh per request)."""
    return f"EVIDENCE-{secrets.token_hex(8)}"


def fence(fence_id: str, label: str, text: str) -> str:
    """``text`` between an opening and a closing fence line that name ``label``.

    Any occurrence of the fence id inside ``text`` is removed first, so evidence cannot close
    its own fence.
    """
    body = text.replace(fence_id, "")
    return f"<<<{fence_id} {label}>>>\n{body}\n<<<END {fence_id}>>>"
