"""PDF text extraction with pdfminer.six: the text layer only, with page numbers and headings.

unstructured's "fast" PDF strategy is exactly a pdfminer pass plus text classification, but in
unstructured 0.27 ``unstructured.partition.pdf`` cannot even be imported without
``unstructured_inference`` (the layout-model package), and it swallows extraction errors: a corrupt
PDF, a scanned PDF and a failed model download all end as "no elements" or one generic ValueError.
So this module does the pdfminer pass itself, and never loads layout models or OCR:

- headings come from the fonts (a line set larger than the body text, or bold where the body is
  not), ranked by size into levels, instead of guessing from the words;
- running headers, footers and page numbers (repeated in the top or bottom band of the pages) are
  page furniture and are left out of the text;
- a file that is not a complete PDF, is encrypted, or has no text layer raises a
  :class:`~core.errors.ParseError` that says which.
"""

from __future__ import annotations

import io
import itertools
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTFigure, LTItem, LTPage, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFPasswordIncorrect

from core.errors import ParseError
from pipelines.parsing_tables import guess_header, row_text

NO_TEXT_LAYER = "no text layer (scanned PDF?) - OCR is not enabled"

_HEADER_SEARCH = 1024  # the spec lets "%PDF-" start anywhere in the first KiB
_TRAILER_SEARCH = 4096  # "%%EOF" ends every complete PDF; tolerate some trailing junk
_BAND = 0.08  # top and bottom share of a page where running headers and footers live
_HEADING_SIZE_RATIO = 1.15
_LINE_GAP = 0.6  # up to this share of the font size between lines: same paragraph
_MAX_HEADING_LINES = 3
_MAX_HEADING_CHARS = 200

_BOLD_FONT = re.compile(r"bold|black|heavy|demi", re.IGNORECASE)
_UNMAPPED_GLYPH = re.compile(r"\(cid:\d+\)")
_BULLET = re.compile(r"^[•◦▪▫‣⁃●○■□►▸–\-*]\s+")  # a glyph, dropped from the item's text
_LONE_BULLET = re.compile(r"^[•◦▪▫‣⁃●○■□►▸–\-*]$")
_NUMBERED = re.compile(r"^\(?\d{1,3}[.)]\s+\S")  # "1. " or "(2) ": kept, the number is content
_PAGE_NUMBER = re.compile(
    r"^(page\s*)?[-–]?\s*\d+\s*[-–]?(\s*(of|/)\s*\d+)?$"
    r"|^(?=[ivxlc])c{0,3}(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})$",  # or a roman numeral
    re.IGNORECASE,
)
_LIST_NUMBER = re.compile(r"^\(?\d{1,3}[.)]$")  # "4." boxed apart from its item's text
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_SENTENCE_ENDS = (".", "!", "?")
_CELL_GAP = 0.5  # blank space wider than this share of the font size inside a line: two cells
_MAX_CELL_LINES = 3
_ROW_SLACK = 1.0  # points two cells of one row may fail to overlap by (rounding)
_ROW_GAP = 2.5  # at most this many font sizes between two rows of one table


@dataclass(frozen=True)
class PdfElement:
    """A piece of a PDF's text: a heading (with its level, 0 = top), a list item or a paragraph."""

    kind: str
    text: str
    page: int
    heading_level: int | None = None


@dataclass(frozen=True)
class _Piece:
    """A run of a line's text between wide blank gaps: a table cell, when the line is a table row."""

    left: float
    right: float
    text: str


@dataclass(frozen=True)
class _Line:
    text: str
    size: float
    bold: bool
    chars: int
    pieces: tuple[_Piece, ...] = ()


@dataclass
class _Block:
    """Lines that read as one unit: consecutive lines of a pdfminer text box in one font size and
    weight, later joined with the blocks that continue them (see :func:`_join_continuations`)."""

    lines: list[_Line]
    page: int
    page_height: float
    top: float  # distance from the page top, in points
    bottom: float  # of the last line, on the last page
    left: float
    right: float
    last_page: int = 0  # a paragraph can run on to the next page
    table_row: bool = False  # one row of a table, its cells labelled (see pipelines.parsing_tables)

    def __post_init__(self) -> None:
        self.last_page = self.last_page or self.page

    def extend(self, other: _Block) -> None:
        self.lines.extend(other.lines)
        if other.last_page != self.last_page:
            self.bottom, self.left, self.right = other.bottom, other.left, other.right
        else:
            self.bottom = max(self.bottom, other.bottom)
            self.left, self.right = min(self.left, other.left), max(self.right, other.right)
        self.last_page = other.last_page

    @property
    def style(self) -> tuple[float, bool]:
        return (self.lines[0].size, self.lines[0].bold)

    @property
    def chars(self) -> int:
        return sum(line.chars for line in self.lines)

    @property
    def text(self) -> str:
        return _join_lines(line.text for line in self.lines)


def extract_pdf(data: bytes, locator: str) -> list[PdfElement]:
    """The text elements of a PDF, in reading order, or a ParseError that says why there are none."""
    _check_complete(data, locator)
    blocks = _read_blocks(data, locator)
    if not blocks:
        raise ParseError(locator, NO_TEXT_LAYER)
    body = _without_page_furniture(blocks)
    if not body:
        raise ParseError(locator, NO_TEXT_LAYER + " (only page numbers or running headers found)")
    return list(_classify(_join_continuations(_tables_as_rows(body))))


def _check_complete(data: bytes, locator: str) -> None:
    if b"%PDF-" not in data[:_HEADER_SEARCH]:
        raise ParseError(locator, "not a PDF: no %PDF- header at the start of the file")
    # pdfminer falls back to scanning for objects when the cross-reference table is lost, so a
    # cut-off file is not always an error there; the missing end marker is the direct sign.
    if b"%%EOF" not in data[-_TRAILER_SEARCH:]:
        raise ParseError(locator, "truncated PDF: no %%EOF marker at the end (incomplete download or copy?)")


def _read_blocks(data: bytes, locator: str) -> list[_Block]:
    # all_texts: also lay out text inside figures (form XObjects), where some generators put it.
    # boxes_flow=None: skip pdfminer's box grouping; _reading_order sorts the boxes.
    laparams = LAParams(all_texts=True, boxes_flow=None)
    blocks: list[_Block] = []
    try:
        for number, page in enumerate(extract_pages(io.BytesIO(data), laparams=laparams), 1):
            blocks.extend(_page_blocks(page, number))
    except PDFPasswordIncorrect as exc:
        raise ParseError(locator, "encrypted PDF: a password is required to read it") from exc
    except Exception as exc:  # pdfminer raises many types on damaged files; report, don't crash
        raise ParseError(locator, f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    return blocks


def _page_blocks(page: LTPage, number: int) -> list[_Block]:
    """The blocks of one page, in reading order."""
    height = page.height or 1.0
    blocks: list[_Block] = []
    for box in _text_boxes(page):
        block: _Block | None = None
        for item in box:
            if not isinstance(item, LTTextLine) or (line := _line(item)) is None:
                continue
            here = _Block([line], number, height, height - item.y1, height - item.y0, item.x0, item.x1)
            if block is not None and block.style == here.style:
                block.extend(here)
            else:
                block = here
                blocks.append(block)
    return _reading_order(_attach_lone_bullets(blocks))


def _text_boxes(container: LTItem) -> Iterator[LTTextBox]:
    for item in container:  # type: ignore[attr-defined]  # LTPage and LTFigure are iterable
        if isinstance(item, LTTextBox):
            yield item
        elif isinstance(item, LTFigure):
            yield from _text_boxes(item)


def _attach_lone_bullets(blocks: list[_Block]) -> list[_Block]:
    """A bullet glyph that pdfminer boxed apart from its text is put back in front of the text
    to its right on the same line; an unmatched one is dropped (it carries no content)."""
    bullets = [b for b in blocks if _LONE_BULLET.match(b.text)]
    rest = [b for b in blocks if not _LONE_BULLET.match(b.text)]
    for bullet in bullets:
        same_line = [
            b
            for b in rest
            if b.left >= bullet.right
            and b.top < bullet.bottom
            and bullet.top < b.top + b.style[0] * 1.5  # the item's first line
        ]
        if same_line:
            item = min(same_line, key=lambda b: b.left)
            item.lines[0] = replace(item.lines[0], text=f"{bullet.text} {item.lines[0].text}")
    return rest


def _reading_order(blocks: list[_Block]) -> list[_Block]:
    """Recursive XY-cut: split at the widest empty band, across (rows, top to bottom) or down
    (columns, left to right), until no band is left; then top to bottom.

    pdfminer's own ordering (``boxes_flow``) can put a heading after the paragraph below it; an
    XY-cut is what unstructured applies to pdfminer's boxes, and it keeps columns whole.
    """
    if len(blocks) < 2:
        return blocks
    column_gap, columns = _cut(blocks, lambda b: (b.left, b.right))
    row_gap, rows = _cut(blocks, lambda b: (b.top, b.bottom))
    if len(columns) == 1 and len(rows) == 1:
        return sorted(blocks, key=lambda b: (b.top, b.left))
    groups = columns if column_gap > row_gap else rows
    return [block for group in groups for block in _reading_order(group)]


def _cut(
    blocks: list[_Block], span: Callable[[_Block], tuple[float, float]]
) -> tuple[float, list[list[_Block]]]:
    """Blocks grouped where their spans on one axis leave a gap, and the widest gap."""
    ordered = sorted(blocks, key=span)
    groups, end, widest = [[ordered[0]]], span(ordered[0])[1], 0.0
    for block in ordered[1:]:
        start, stop = span(block)
        if start > end:
            widest = max(widest, start - end)
            groups.append([block])
        else:
            groups[-1].append(block)
        end = max(end, stop)
    return widest, groups


def _line(item: LTTextLine) -> _Line | None:
    text = _UNMAPPED_GLYPH.sub("", item.get_text()).strip()
    chars = [c for c in item if isinstance(c, LTChar) and not c.get_text().isspace()]
    if not text or not chars:
        return None
    size = round(statistics.median(c.size for c in chars) * 2) / 2  # half-point buckets
    bold = sum(1 for c in chars if _BOLD_FONT.search(c.fontname)) * 2 > len(chars)
    return _Line(text, size, bold, len(chars), _pieces(item, size))


def _pieces(item: LTTextLine, size: float) -> tuple[_Piece, ...]:
    """The line split where blank space wider than ``_CELL_GAP`` of the font size separates text.

    pdfminer puts two table cells that sit close together on one line ("Engineering Manager
    $165,000"); word spaces are far narrower than the gap between columns.
    """
    pieces: list[_Piece] = []
    text: list[str] = []
    left = right = prev = 0.0

    def close() -> None:
        piece = _UNMAPPED_GLYPH.sub("", "".join(text)).strip()
        if piece:
            pieces.append(_Piece(left, right, piece))
        text.clear()

    for obj in item:
        if not isinstance(obj, LTChar):
            text.append(obj.get_text())  # pdfminer's virtual spaces and line ends
            continue
        blank = obj.get_text().isspace()
        if not blank and text and obj.x0 - prev > _CELL_GAP * size and "".join(text).strip():
            close()
        if not blank:
            if not "".join(text).strip():
                left = obj.x0
            right = obj.x1
        text.append(obj.get_text())
        prev = obj.x1 if not blank else prev
    close()
    return tuple(pieces)


@dataclass(frozen=True)
class _Cell:
    top: float
    bottom: float
    left: float
    right: float
    text: str
    block: int  # index of the block it comes from


def _cells(blocks: list[_Block], candidates: list[int]) -> list[_Cell]:
    cells: list[_Cell] = []
    for i in candidates:
        b = blocks[i]
        pieces = b.lines[0].pieces if len(b.lines) == 1 else ()
        if len(pieces) > 1:
            cells.extend(_Cell(b.top, b.bottom, p.left, p.right, p.text, i) for p in pieces)
        else:
            cells.append(_Cell(b.top, b.bottom, b.left, b.right, b.text, i))
    return cells


def _rows(cells: list[_Cell]) -> list[list[_Cell]]:
    """Cells grouped into rows: cells whose vertical extents overlap (a cell of two lines joins
    the row it is centred on, and the row grows with it)."""
    rows: list[list[_Cell]] = []
    bottom = 0.0
    for cell in sorted(cells, key=lambda c: (c.top, c.left)):
        if rows and cell.top < bottom - _ROW_SLACK:
            rows[-1].append(cell)
            bottom = max(bottom, cell.bottom)
        else:
            rows.append([cell])
            bottom = cell.bottom
    return rows


def _columns(cells: Iterable[_Cell]) -> list[tuple[float, float]]:
    """The x-extents of a table's columns: the union of overlapping cell extents."""
    columns: list[tuple[float, float]] = []
    for cell in sorted(cells, key=lambda c: c.left):
        if columns and cell.left < columns[-1][1]:
            columns[-1] = (columns[-1][0], max(columns[-1][1], cell.right))
        else:
            columns.append((cell.left, cell.right))
    return columns


def _is_row(row: list[_Cell]) -> bool:
    return len(_columns(row)) >= 2


def _tables_as_rows(blocks: list[_Block]) -> list[_Block]:
    """Per page, tables replaced by their rows, in reading order (after page furniture is gone:
    a running header beside a table's first row is not a cell)."""
    out: list[_Block] = []
    for _, page in itertools.groupby(blocks, key=lambda b: b.page):
        out.extend(_with_table_rows(list(page)))
    return out


def _with_table_rows(blocks: list[_Block]) -> list[_Block]:
    """The page's blocks with each table replaced by one block per row (labelled cells).

    A table is two or more consecutive rows of short blocks (at most ``_MAX_CELL_LINES`` lines),
    each row holding text in two or more columns, with nothing else between the rows, and most of
    its cells values rather than sentences. Anything less regular (a page set in columns, a
    caption beside a paragraph) is left as it was.
    """
    # list items are never cells: their bullet or number and text sit apart like two cells would
    cell_like = [
        len(b.lines) <= _MAX_CELL_LINES and not _BULLET.match(b.text) and not _LIST_NUMBER.match(b.text)
        for b in blocks
    ]
    candidates = [i for i, ok in enumerate(cell_like) if ok]
    others = [b for b, ok in zip(blocks, cell_like, strict=True) if not ok]
    rows = _rows(_cells(blocks, candidates))
    tables: list[list[list[_Cell]]] = []
    run: list[list[_Cell]] = []
    for row in rows:
        top, bottom = min(c.top for c in row), max(c.bottom for c in row)
        size = min(blocks[c.block].style[0] for c in row)
        crossed = any(o.top < bottom and top < o.bottom for o in others)
        if not _is_row(row) or crossed:
            tables.append(run)
            run = []
            continue
        if run:
            gap = top - max(c.bottom for c in run[-1])
            between = any(max(c.bottom for c in run[-1]) <= o.top and o.bottom <= top for o in others)
            if gap > _ROW_GAP * size or between:
                tables.append(run)
                run = []
        run.append(row)
    tables.append(run)
    replaced: set[int] = set()
    rows_at: dict[int, list[_Block]] = {}  # a table's rows go where its first block was read
    for table in tables:
        columns = _columns(c for row in table for c in row)
        if len(table) < 2 or len(columns) < 2 or any(len(_columns(row)) < 2 for row in table):
            continue
        all_cells = [c for row in table for c in row]
        if sum(c.text.endswith(_SENTENCE_ENDS) for c in all_cells) * 2 > len(all_cells):
            continue  # side-by-side paragraphs (a page in columns), not a table of values
        texts = [_row_cells(row, columns) for row in table]
        labels = texts[0] if guess_header(texts) else None
        for row, row_cells in list(zip(table, texts, strict=True))[1 if labels else 0 :]:
            if not (text := row_text(labels, row_cells)):
                continue
            first = blocks[min(c.block for c in row)]
            size, bold = first.style
            rows_at.setdefault(min(c.block for r in table for c in r), []).append(
                _Block(
                    [_Line(text, size, bold, sum(len(c.text) for c in row))],
                    first.page,
                    first.page_height,
                    min(c.top for c in row),
                    max(c.bottom for c in row),
                    min(c.left for c in row),
                    max(c.right for c in row),
                    table_row=True,
                )
            )
        replaced.update(c.block for row in table for c in row)
    out: list[_Block] = []
    for i, b in enumerate(blocks):
        out.extend(rows_at.get(i, ()))
        if i not in replaced:
            out.append(b)
    return out


def _row_cells(row: list[_Cell], columns: list[tuple[float, float]]) -> list[str]:
    """A row's text per column, the lines of a cell in reading order."""
    texts: list[list[str]] = [[] for _ in columns]
    for cell in sorted(row, key=lambda c: (c.top, c.left)):
        col = next(i for i, (lo, hi) in enumerate(columns) if lo <= cell.left <= hi)
        texts[col].append(cell.text)
    return [_join_lines(t) for t in texts]


def _join_lines(lines: Iterable[str]) -> str:
    """Lines of one paragraph joined by spaces; "exam-" + "ple" stays "exam-ple", not "exam- ple"."""
    out = ""
    for line in lines:
        if out and _HYPHENATED.search(out) and line[:1].islower():
            out += line
        else:
            out = f"{out} {line}" if out else line
    return out


def _without_page_furniture(blocks: list[_Block]) -> list[_Block]:
    """Drop page numbers, and headers/footers repeated (digits aside) on several pages."""
    pages = {b.page for b in blocks}

    def in_band(b: _Block) -> bool:
        band = _BAND * b.page_height
        return len(b.lines) <= 2 and (b.top < band or b.bottom > b.page_height - band)

    def key(b: _Block) -> str:
        return re.sub(r"\d+", "#", " ".join(b.text.lower().split()))

    pages_by_key: dict[str, set[int]] = defaultdict(set)
    for b in blocks:
        if in_band(b):
            pages_by_key[key(b)].add(b.page)
    repeated = {k for k, p in pages_by_key.items() if len(p) >= max(2, len(pages) // 2)}
    return [
        b for b in blocks if not (in_band(b) and (_PAGE_NUMBER.match(b.text.strip()) or key(b) in repeated))
    ]


def _join_continuations(blocks: list[_Block]) -> list[_Block]:
    """Join each block that continues the one before it into one paragraph.

    pdfminer starts a new box for a wrapped line that is indented (the second line of a list
    item), and a change of weight inside a box starts a new block here. A block continues the
    previous one when it does not start with a list marker and either sits right below it (a gap
    of at most ``_LINE_GAP`` of the font size: line spacing, not paragraph spacing, within the same
    horizontal span) in the same font or starting in lower case, or starts in lower case at the
    top of the next page, in the same font, where the previous one ended its page.
    """
    joined: list[_Block] = []
    for b in blocks:
        if joined and _continues(joined[-1], b):
            joined[-1].extend(b)
        else:
            joined.append(b)
    return joined


def _continues(prev: _Block, b: _Block) -> bool:
    if prev.table_row or b.table_row:
        return False
    first = b.lines[0].text
    if _BULLET.match(first) or _NUMBERED.match(first):
        return False
    lower = first[:1].islower()
    if b.page == prev.last_page:
        size = b.style[0]
        below = -size < b.top - prev.bottom <= _LINE_GAP * size
        overlapping = b.left < prev.right and prev.left < b.right
        return below and overlapping and (lower or b.style == prev.style)
    return lower and b.page == prev.last_page + 1 and b.style == prev.style


def _classify(blocks: list[_Block]) -> Iterator[PdfElement]:
    weight: dict[tuple[float, bool], int] = defaultdict(int)
    for b in blocks:
        weight[b.style] += b.chars
    body_size, body_bold = max(weight, key=lambda style: weight[style])

    def is_heading(b: _Block) -> bool:
        size, bold = b.style
        text = b.text
        return (
            not b.table_row
            and len(b.lines) <= _MAX_HEADING_LINES
            and len(text) <= _MAX_HEADING_CHARS
            and any(ch.isalpha() for ch in text)
            and not text.endswith((".", ",", ";"))
            and not _BULLET.match(text)
            and (size >= body_size * _HEADING_SIZE_RATIO or (bold and not body_bold and size >= body_size))
        )

    headings = [b for b in blocks if is_heading(b)]
    # Larger type is a higher level; at the same size, bold outranks regular.
    styles = sorted({b.style for b in headings}, key=lambda s: (-s[0], not s[1]))
    level = {style: rank for rank, style in enumerate(styles)}
    heading_ids = {id(b) for b in headings}

    for b in blocks:
        if id(b) in heading_ids:
            yield PdfElement("Title", b.text, b.page, level[b.style])
        elif b.table_row:
            yield PdfElement("Table", b.text, b.page)
        else:
            yield from _paragraphs_and_items(b)


def _paragraphs_and_items(block: _Block) -> Iterator[PdfElement]:
    """A block split where a line starts with a bullet or a number: each starts a list item."""
    kind, lines = "NarrativeText", list[str]()
    for line in block.lines:
        bullet = _BULLET.match(line.text)
        if bullet or _NUMBERED.match(line.text):
            if lines:
                yield PdfElement(kind, _join_lines(lines), block.page)
            kind, lines = "ListItem", [line.text[bullet.end() :] if bullet else line.text]
        else:
            lines.append(line.text)
    if lines:
        yield PdfElement(kind, _join_lines(lines), block.page)
