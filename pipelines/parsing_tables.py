"""Tables as rows: one row of a table becomes one line of text that reads on its own.

unstructured gives a table as one element whose text is every cell joined by spaces ("Level Title
Minimum ... L5 Senior Engineer II $165,000 ..."), and pdfminer gives one text box per cell. Either
way a row's meaning is lost: the sentence splitter sees one huge "sentence" or a cell per line, so
no evidence sentence says "L5 is $165,000 to $210,000", and key words scattered over a long table
can make an unrelated row look like an answer.

Here each row becomes ``"Header: cell; Header: cell; ..."`` (the column labels in front of their
values; cells without a label stand alone), ended like a sentence. A table becomes one element per
row, so a row is one paragraph of the normalized text and one evidence sentence, and a citation
quotes the row exactly as it is stored.

The header is the first row when the source marks it (``<th>`` cells); otherwise it is guessed:
a first row of labels (no cell that is a bare number or amount) above rows that mostly hold
figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html.parser import HTMLParser

# a cell that is only a number, amount or percentage ("$165,000", "(31.7M)", "+43%", "600,000")
_VALUE = re.compile(r"[\s$€£¥(+\-−~≈<>]*\d[\d,.\s]*(?:%|[kKmMbB]|bn)?\)?")
_MAX_LABEL_WORDS = 6
_DIGIT = re.compile(r"\d")
_SENTENCE_END = ".!?"


def _clean(cell: str) -> str:
    return " ".join(cell.split())


def guess_header(rows: Sequence[Sequence[str]]) -> bool:
    """Whether the first row labels the columns: short labels (no bare figures) above rows that
    mostly hold figures."""
    if len(rows) < 2:
        return False
    first = [_clean(c) for c in rows[0]]
    if not any(first) or any(_VALUE.fullmatch(c) or len(c.split()) > _MAX_LABEL_WORDS for c in first):
        return False
    with_figures = sum(1 for row in rows[1:] if any(_DIGIT.search(c) for c in row))
    return with_figures * 2 >= len(rows) - 1


def row_text(header: Sequence[str] | None, cells: Sequence[str]) -> str:
    """One row as a line: ``"Label: value; Label: value."``; empty cells are left out.

    A cell whose label is empty (or missing: a row longer than the header) stands alone.
    """
    parts: list[str] = []
    for i, raw in enumerate(cells):
        cell = _clean(raw)
        if not cell:
            continue
        label = _clean(header[i]) if header is not None and i < len(header) else ""
        parts.append(f"{label}: {cell}" if label and label != cell else cell)
    text = "; ".join(parts)
    if text and text[-1] not in _SENTENCE_END:
        text += "."
    return text


def table_rows(rows: Sequence[Sequence[str]], *, header: bool | None = None) -> list[str]:
    """The rows of a table as lines (see :func:`row_text`); the header row is not repeated on its
    own, its labels go in front of every value. ``header=None`` guesses (:func:`guess_header`)."""
    rows = [list(r) for r in rows if any(_clean(c) for c in r)]
    if not rows:
        return []
    has_header = guess_header(rows) if header is None else header and len(rows) > 1
    if not has_header:
        return [t for r in rows if (t := row_text(None, r))]
    labels = rows[0]
    return [t for r in rows[1:] if (t := row_text(labels, r))]


class _TableHtml(HTMLParser):
    """Rows of cells from a ``<table>`` fragment, and whether its first row is made of ``<th>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.header_cells: list[list[bool]] = []
        self._cell: list[str] | None = None
        self._depth = 0  # nested tables are read as text of the outer cell

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
        if self._depth > 1:
            return
        if tag == "tr":
            self.rows.append([])
            self.header_cells.append([])
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
                self.header_cells.append([])
            self._cell = []
            self.header_cells[-1].append(tag == "th")
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth -= 1
        if self._depth > 1 and tag != "table":
            return
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th") and self._depth <= 1:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table_rows(html: str) -> list[str]:
    """The rows of an HTML table (unstructured's ``text_as_html``) as lines.

    ``<th>`` cells in the first row make it the header; a table without any ``<th>`` gets a
    guessed header (Word tables carry none).
    """
    parser = _TableHtml()
    parser.feed(html)
    parser.close()
    marked = any(any(flags) for flags in parser.header_cells)
    first_is_header = bool(parser.header_cells and parser.header_cells[0] and all(parser.header_cells[0]))
    return table_rows(parser.rows, header=first_is_header if marked else None)
