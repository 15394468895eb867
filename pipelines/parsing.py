"""Parse documents (Markdown, HTML, plain text, PDF, Word .docx) into normalized text plus structure.

A parsed document is one normalized text and the elements it is made of (titles, paragraphs, list
items, tables, code), each with its exact span ``[start, end)`` in that text, the section it belongs
to and, for PDFs, its page. Chunks and citations are spans of this text, so the offsets are exact by
construction: the text *is* the elements' normalized texts joined by blank lines.

Everything runs offline. Markdown, HTML, text and .docx go through ``unstructured`` (see
:mod:`pipelines.parsing_unstructured` for how its telemetry and spaCy model download are shut off);
PDFs go through pdfminer.six directly (see :mod:`pipelines.parsing_pdf` for why). Nothing loads
layout models or OCR.

A table becomes one ``Table`` element per row, its cells labelled by the header
("Level: L5; Title: Senior Engineer II; Minimum: $165,000; ...", see
:mod:`pipelines.parsing_tables`): from unstructured's ``text_as_html`` for Markdown, HTML and Word,
from the cells' positions for PDFs. A row is then one paragraph of the text, so one evidence
sentence that a citation can quote whole.

A document that yields no text is a :class:`~core.errors.ParseError` with the reason (empty file,
invalid UTF-8 and where, unsupported type, corrupt or scanned PDF, ...), never an empty result.
"""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import ParseError
from pipelines.parsing_tables import html_table_rows
from pipelines.parsing_text import Heading, ListEntry, plain_text_parts
from pipelines.parsing_unstructured import partitioner

__all__ = [
    "DocumentFormat",
    "ParsedDocument",
    "ParsedElement",
    "detect_format",
    "normalize_text",
    "parse_bytes",
    "parse_file",
]


class DocumentFormat(StrEnum):
    MARKDOWN = "md"
    HTML = "html"
    TEXT = "txt"
    PDF = "pdf"
    DOCX = "docx"


TITLE = "Title"
TABLE = "Table"
_SEPARATOR = "\n\n"
# Page furniture, not content: running headers and footers repeat on every page.
_SKIPPED_KINDS = frozenset({"Header", "Footer", "PageBreak", "PageNumber"})
# Kinds whose line breaks and indentation carry meaning.
_LINE_KINDS = frozenset({"CodeSnippet"})
# Underlined headings in plain text take levels 0, 1, ...; titles guessed from wording go below.
_GUESSED_TITLE_LEVEL = 9


@dataclass(frozen=True, slots=True)
class ParsedElement:
    """One structural element and its exact span in :attr:`ParsedDocument.text`.

    ``kind`` is unstructured's category name (``Title``, ``NarrativeText``, ``ListItem``,
    ``Table``, ``CodeSnippet``, ``UncategorizedText``, ``Image``, ...). ``section_path`` holds the
    titles of the sections the element is in, outermost first; a title opens a section, so a
    title's own path ends with its own text. ``page`` is the 1-based page for PDFs, else ``None``
    unless the source records pages.
    """

    kind: str
    text: str
    start: int
    end: int
    section_path: tuple[str, ...]
    page: int | None

    @property
    def is_title(self) -> bool:
        return self.kind == TITLE


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """Normalized text plus its elements; never empty, and every element's span slices its text."""

    text: str
    elements: tuple[ParsedElement, ...]
    title: str
    format: DocumentFormat

    def __post_init__(self) -> None:
        if not self.elements or not self.text:
            raise ValueError("a parsed document has at least one element and non-empty text")
        for e in self.elements:
            if self.text[e.start : e.end] != e.text:
                raise ValueError(f"element span [{e.start}, {e.end}) does not slice its text")


_EXTENSIONS: dict[str, DocumentFormat] = {
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".txt": DocumentFormat.TEXT,
    ".pdf": DocumentFormat.PDF,
    ".docx": DocumentFormat.DOCX,
}
_CONTENT_TYPES: dict[str, DocumentFormat] = {
    "text/html": DocumentFormat.HTML,
    "application/xhtml+xml": DocumentFormat.HTML,
    "text/markdown": DocumentFormat.MARKDOWN,
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "application/pdf": DocumentFormat.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentFormat.DOCX,
}
_UNSUPPORTED_HINTS = {
    ".doc": "legacy Word .doc is not supported; save it as .docx",
    ".rtf": "RTF is not supported; save it as .docx or .pdf",
}


def detect_format(filename: str, content_type: str | None = None) -> DocumentFormat | None:
    """The format of a document from its content type and file name, or None if unsupported.

    A specific content type (HTML, Markdown, PDF, DOCX) wins over the extension: a web page at
    ``/page.php`` is HTML. A generic one (``text/plain``, ``application/octet-stream``) defers to
    the extension, since servers often send Markdown as ``text/plain``.
    """
    mime = _mime_type(content_type)
    if mime in _CONTENT_TYPES:
        return _CONTENT_TYPES[mime]
    by_extension = _EXTENSIONS.get(PurePosixPath(filename).suffix.lower())
    if by_extension is not None:
        return by_extension
    return DocumentFormat.TEXT if mime == "text/plain" else None


def parse_file(path: Path, *, locator: str | None = None) -> ParsedDocument:
    """Parse the file at ``path`` by its extension; ``locator`` names it in errors (default: path)."""
    where = locator if locator is not None else str(path)
    fmt = detect_format(path.name)
    if fmt is None:
        raise ParseError(where, _unsupported_reason(path.name, None))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(where, f"cannot read the file: {exc.strerror or exc}") from exc
    return _parse(data, fmt, locator=where, fallback_title=path.stem or path.name, charset=None)


def parse_bytes(
    data: bytes, *, filename: str, content_type: str | None = None, locator: str
) -> ParsedDocument:
    """Parse fetched content (a web page, a ticket attachment) by content type and file name.

    A ``charset`` in ``content_type`` decides how text formats are decoded.
    """
    fmt = detect_format(filename, content_type)
    if fmt is None:
        raise ParseError(locator, _unsupported_reason(filename, content_type))
    stem = PurePosixPath(filename).stem or filename or locator
    return _parse(data, fmt, locator=locator, fallback_title=stem, charset=_charset(content_type))


# -- normalization -----------------------------------------------------------------------------

_LIGATURES_AND_INVISIBLES = str.maketrans(
    {
        "ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st",
        "\u00ad": None, "\u200b": None, "\ufeff": None,  # soft hyphen, zero-width space, BOM
    }
)  # fmt: skip
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_text(s: str) -> str:
    """Unicode NFC, ligatures spelled out, invisible and control characters removed, and every run
    of whitespace (line breaks included) collapsed to one space, without leading or trailing space.
    """
    s = unicodedata.normalize("NFC", s.translate(_LIGATURES_AND_INVISIBLES))
    return " ".join(_CONTROL_CHARS.sub(" ", s).split())


def _normalize_lines(s: str) -> str:
    """Like :func:`normalize_text`, but keeps line breaks and indentation (code): trailing spaces
    and outer blank lines go, and runs of blank lines become one."""
    s = unicodedata.normalize("NFC", s.translate(_LIGATURES_AND_INVISIBLES))
    lines = [_CONTROL_CHARS.sub(" ", line).rstrip() for line in s.splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip("\n")


# -- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Extracted:
    """An element as a format's extractor found it, before normalization and placement."""

    kind: str
    text: str
    heading_level: int | None = None
    page: int | None = None


def _parse(
    data: bytes, fmt: DocumentFormat, *, locator: str, fallback_title: str, charset: str | None
) -> ParsedDocument:
    if not data:
        raise ParseError(locator, "empty file (0 bytes)")
    if not data.strip():
        raise ParseError(locator, "the file contains only whitespace")
    if fmt is DocumentFormat.PDF:
        extracted = _extract_pdf(data, locator)
    elif fmt is DocumentFormat.DOCX:
        extracted = _extract_docx(data, locator)
    else:
        text = _decode(data, locator, charset=charset, html=fmt is DocumentFormat.HTML)
        if not text.strip():
            raise ParseError(locator, "the file contains only whitespace")
        extracted = _extract_markup(text, fmt, locator)
    doc = _assemble(extracted, fmt, fallback_title)
    if doc is None:
        raise ParseError(locator, f"no text found in this {fmt.value} document")
    return doc


def _extract_pdf(data: bytes, locator: str) -> list[_Extracted]:
    from pipelines.parsing_pdf import extract_pdf

    return [_Extracted(e.kind, e.text, e.heading_level, e.page) for e in extract_pdf(data, locator)]


def _extract_docx(data: bytes, locator: str) -> list[_Extracted]:
    if not data.startswith(b"PK"):
        raise ParseError(locator, "not a .docx file (a .docx is a ZIP container; this is not one)")
    return _partition(
        "docx",
        locator,
        file=io.BytesIO(data),
        include_page_breaks=False,
        infer_table_structure=True,  # Word tables are structured already: rows come from text_as_html
        strategy="fast",  # only consulted for pictures; never OCR
        languages=[""],  # no language detection: we do not use it
    )


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n[\w-]+[ \t]*:.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HASH_WORD = re.compile(r"^( {0,3})#(?=[^#\s])")


def _markdown_source(text: str) -> str:
    """Markdown as CommonMark (and GitHub) reads it, for Python-Markdown, which unstructured uses.

    YAML front matter is metadata, not text: Python-Markdown would render it as a rule and a
    heading. And a line starting ``#channel`` or ``#123`` is text in CommonMark, but a heading in
    Python-Markdown, which would start a bogus section; its ``#`` is escaped outside code fences.
    """
    lines = _FRONT_MATTER.sub("", text).splitlines(keepends=True)
    fence: str | None = None
    for i, line in enumerate(lines):
        marker = _FENCE.match(line)
        if fence is None:
            if marker:
                fence = marker.group(1)
            else:
                lines[i] = _HASH_WORD.sub(r"\1\\#", line)
        elif marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
            fence = None
    return "".join(lines)


def _extract_markup(text: str, fmt: DocumentFormat, locator: str) -> list[_Extracted]:
    if fmt is DocumentFormat.MARKDOWN:
        return _partition("md", locator, text=_markdown_source(text), languages=[""])
    if fmt is DocumentFormat.HTML:
        # <header>/<footer> hold a site's navigation and boilerplate, not the page's content.
        return _partition("html", locator, text=text, skip_headers_and_footers=True, languages=[""])
    return _extract_plain_text(text, locator)


def _extract_plain_text(text: str, locator: str) -> list[_Extracted]:
    """Headings and list items from the text's own conventions; paragraphs classified by
    unstructured (narrative text, or a title guessed from the wording)."""
    extracted: list[_Extracted] = []
    paragraphs: list[str] = []

    def classify_paragraphs() -> None:
        if paragraphs:
            # No grouping: one line in, one element out (each line is a whole paragraph here).
            elements = _partition(
                "text", locator, text="\n".join(paragraphs), paragraph_grouper=False, languages=[""]
            )
            extracted.extend(_guessed_title(e) if e.kind == TITLE else e for e in elements)
            paragraphs.clear()

    for part in plain_text_parts(text):
        if isinstance(part, Heading):
            classify_paragraphs()
            extracted.append(_Extracted(TITLE, part.text, part.level))
        elif isinstance(part, ListEntry):
            classify_paragraphs()
            extracted.append(_Extracted("ListItem", part.text))
        else:
            paragraphs.append(part)
    classify_paragraphs()
    return extracted


def _guessed_title(element: _Extracted) -> _Extracted:
    """A title unstructured guessed from the wording: it nests below the underlined headings, and
    a line ending like a sentence is not a title (the lexicon tagger can miss its verb)."""
    if element.text.rstrip().endswith((".", ",", ";")):
        return replace(element, kind="NarrativeText")
    return replace(element, heading_level=_GUESSED_TITLE_LEVEL)


def _partition(name: str, locator: str, **kwargs: Any) -> list[_Extracted]:
    partition = partitioner(name)  # import problems are configuration errors: let them raise
    try:
        elements = partition(**kwargs)
    except ParseError:
        raise
    except Exception as exc:  # a damaged file can fail anywhere in a parser; report, don't crash
        raise ParseError(locator, f"cannot parse as {name}: {type(exc).__name__}: {exc}") from exc
    extracted: list[_Extracted] = []
    for el in elements:
        category = str(getattr(el, "category", "") or "UncategorizedText")
        metadata = el.metadata
        level = metadata.category_depth if category == TITLE else None
        html = getattr(metadata, "text_as_html", None) if category == TABLE else None
        rows = html_table_rows(html) if html else []
        if rows:  # one element per row: a row is one paragraph, so one evidence sentence
            extracted.extend(_Extracted(TABLE, row, None, metadata.page_number) for row in rows)
        else:
            extracted.append(_Extracted(category, str(el.text or ""), level, metadata.page_number))
    return extracted


def _assemble(
    extracted: Iterable[_Extracted], fmt: DocumentFormat, fallback_title: str
) -> ParsedDocument | None:
    """Normalize, place and nest the extracted elements; None if no text is left."""
    elements: list[ParsedElement] = []
    sections: list[tuple[int, str]] = []  # (heading level, title), outermost first
    offset = 0
    for item in extracted:
        if item.kind in _SKIPPED_KINDS:
            continue
        text = _normalize_lines(item.text) if item.kind in _LINE_KINDS else normalize_text(item.text)
        if not text:
            continue
        if item.kind == TITLE:
            level = item.heading_level or 0
            while sections and sections[-1][0] >= level:
                sections.pop()
            sections.append((level, text))
        start = offset + (len(_SEPARATOR) if elements else 0)
        elements.append(
            ParsedElement(
                kind=item.kind,
                text=text,
                start=start,
                end=start + len(text),
                section_path=tuple(title for _, title in sections),
                page=item.page,
            )
        )
        offset = start + len(text)
    if not elements:
        return None
    title = next((e.text for e in elements if e.is_title), fallback_title)
    return ParsedDocument(
        text=_SEPARATOR.join(e.text for e in elements),
        elements=tuple(elements),
        title=title,
        format=fmt,
    )


# -- decoding ----------------------------------------------------------------------------------

_BOMS: Sequence[tuple[bytes, str]] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)


def _decode(data: bytes, locator: str, *, charset: str | None, html: bool) -> str:
    """Strict decoding: a byte sequence that is not valid in the encoding is an error, not a
    replacement character. Encoding: byte-order mark, else the declared charset (content type,
    then an HTML ``<meta charset>``), else UTF-8."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    declared = "byte-order mark"
    if encoding is None and charset:
        encoding, declared = charset, "content type"
    if encoding is None and html and (meta := _META_CHARSET.search(data[:4096])):
        encoding, declared = meta.group(1).decode("ascii"), "<meta charset>"
    if encoding is None:
        encoding, declared = "utf-8", ""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ParseError(locator, f"unknown character encoding {encoding!r} ({declared})") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        source = f" (from the {declared})" if declared else ""
        raise ParseError(
            locator,
            f"invalid {encoding}{source} at byte offset {exc.start} "
            f"(byte 0x{data[exc.start]:02x}); save the file as UTF-8",
        ) from None
    if "\x00" in text:
        raise ParseError(locator, "binary data (NUL bytes) in a text document")
    return text.lstrip("\ufeff")


def _mime_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _unsupported_reason(filename: str, content_type: str | None) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix in _UNSUPPORTED_HINTS:
        return _UNSUPPORTED_HINTS[suffix]
    what = f"'{suffix}' files" if suffix else "files without an extension"
    if content_type:
        what += f" of type {_mime_type(content_type) or content_type!r}"
    supported = ", ".join(sorted(_EXTENSIONS))
    return f"unsupported file type: {what} cannot be parsed (supported: {supported})"
