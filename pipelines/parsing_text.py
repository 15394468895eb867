"""The explicit structure of a plain-text file: underlined headings, separator lines, list items.

Plain text has no markup, but runbooks and READMEs written as .txt share conventions that
unstructured's text partitioner does not read: it glues an underlined heading ("ALERTS" over a line
of dashes) and its underline to the paragraph below, and joins consecutive list items into one.
This module reads those conventions deterministically, before unstructured sees the text:

- a line underlined with ``=``, ``-``, ``~``, ``^``, ``*``, ``#`` or ``+`` (at least half as long,
  and preceded by a blank line) is a heading; as in reStructuredText, underline characters rank by
  first appearance;
- other lines of only rule characters (separators, the dashes under table headers) are dropped;
- a line that starts with a list marker (``-``, ``*``, ``•``, ``[ ]``, ``1.``, ``2)``) starts a list
  item, which runs to the next blank line, list item or heading;
- paragraphs are separated by blank lines, and their lines joined with spaces; a file with (almost)
  no blank lines and long lines has one paragraph per line (unstructured's grouper would also cut
  hard-wrapped text per line, making each wrapped fragment an element).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

_UNDERLINE = re.compile(r"^ {0,3}([=\-~^*#+])\1{2,}[ \t]*$")
_RULE = re.compile(r"^[ \t]*[=\-~^*#+_|]{3,}(?:[ \t]+[=\-~^*#+_|]{3,})*[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+•◦▪‣]|\[[ xX]?\]|\(?\d{1,3}[.)])[ \t]+\S")
_BULLET = re.compile(r"^[-*+•◦▪‣][ \t]+")  # a glyph, dropped; numbers and checkboxes are content
_MAX_HEADING_CHARS = 120
_BLANK_LINE_SHARE = 0.1  # unstructured's auto_paragraph_grouper threshold
_UNWRAPPED_LINE_CHARS = 100  # hard-wrapped text keeps lines shorter than this


@dataclass(frozen=True)
class Heading:
    text: str
    level: int


@dataclass(frozen=True)
class ListEntry:
    text: str


TextPart = Heading | ListEntry | str
"""A heading, a list item, or a paragraph; lines are joined by single spaces."""


def plain_text_parts(text: str) -> list[TextPart]:
    """Headings and paragraphs of a plain-text document, in order."""
    lines = text.splitlines()
    filled = [len(line.strip()) for line in lines if line.strip()]
    blank_share = 1 - len(filled) / max(len(lines), 1)
    # Few blank lines and long lines: each line is a paragraph. Few blank lines and short lines
    # is hard-wrapped text (often an aligned table); cutting it per line would make every
    # wrapped fragment an element, and short fragments look like titles.
    one_paragraph_per_line = (
        blank_share < _BLANK_LINE_SHARE and bool(filled) and statistics.median(filled) > _UNWRAPPED_LINE_CHARS
    )

    parts: list[TextPart] = []
    levels: dict[str, int] = {}
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            text = " ".join(line.strip() for line in paragraph)
            if _LIST_ITEM.match(paragraph[0]):
                parts.append(ListEntry(_BULLET.sub("", text)))
            else:
                parts.append(text)
            paragraph.clear()

    previous_blank = True
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = _UNDERLINE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if (
            underline
            and previous_blank
            and line.strip()
            and not _RULE.match(line)
            and len(line.strip()) <= _MAX_HEADING_CHARS
            and len(lines[i + 1].strip()) >= len(line.strip()) // 2
        ):
            flush()
            char = underline.group(1)
            level = levels.setdefault(char, len(levels))
            parts.append(Heading(line.strip(), level))
            i += 2
            previous_blank = True
            continue
        if not line.strip() or _RULE.match(line):
            flush()
            previous_blank = True
        else:
            if one_paragraph_per_line or _LIST_ITEM.match(line):
                flush()
            paragraph.append(line)
            previous_blank = False
        i += 1
    flush()
    return parts
