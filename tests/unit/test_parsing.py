"""Parsing: real small documents of every format, built here, parsed offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

from core.errors import ParseError
from pipelines.parsing import (
    DocumentFormat,
    ParsedDocument,
    ParsedElement,
    detect_format,
    normalize_text,
    parse_bytes,
    parse_file,
)
from pipelines.parsing_pdf import NO_TEXT_LAYER

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "examples" / "corpus"
SUPPORTED = {".md", ".markdown", ".html", ".htm", ".txt", ".pdf", ".docx"}


def assert_well_formed(doc: ParsedDocument) -> None:
    """The contract every parsed document keeps: exact spans, normalized non-empty text."""
    assert doc.text.strip()
    assert doc.elements
    assert doc.text == "\n\n".join(e.text for e in doc.elements)
    previous_end = -2
    for e in doc.elements:
        assert doc.text[e.start : e.end] == e.text
        assert e.text
        assert e.start == previous_end + 2
        previous_end = e.end
        if e.kind != "CodeSnippet":
            assert normalize_text(e.text) == e.text
        assert unicodedata.is_normalized("NFC", e.text)
        if e.is_title:
            assert e.section_path[-1] == e.text


def element(doc: ParsedDocument, starting: str) -> ParsedElement:
    return next(e for e in doc.elements if e.text.startswith(starting))


# -- fixtures: one real small file per format ----------------------------------------------------

MARKDOWN = """\
---
title: Front matter is metadata
owner: docs
---
# Deploy Guide

Deployments run every Tuesday. Notes go to the
#deploys channel the same day.

## Install

- Download the installer.
- Run it as root.
  It takes a minute.

```sh
# not a heading: inside a fence
make   deploy
```

### Verify

Check the health page.

## Rollback

| step | command |
|------|---------|
| 1    | undo    |
"""

HTML = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Intranet</title><script>var tracking = 1;</script></head>
<body>
<header><nav><a href="/">Home</a> | <a href="/search">Search</a></nav></header>
<main>
<h1>Holiday Calendar</h1>
<p>These   holidays are paid.
   They add to your time off.</p>
<h2>Poland</h2>
<ul><li>May 1</li><li>May 3</li></ul>
<h2>United States</h2>
<table><tr><th>Date</th><th>Holiday</th></tr><tr><td>July 4</td><td>Independence Day</td></tr></table>
</main>
<footer>Copyright Northwind</footer>
</body></html>
"""

TEXT = """\
RUNBOOK: CERTIFICATE ROTATION
=============================

Owner: Platform team
Last reviewed: 2026-04-22

HOW ROTATION WORKS
------------------
Robots renew their own certificates
through the Nest when they are 60 days old.

- The cert-rotator job runs daily.
- It reloads the gateway without
  dropping connections.

ALERTS
------
CERT_EXPIRY_3D pages at any hour.
"""


class HeadedPdf(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, "Northwind Robotics - Internal", new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def make_pdf(path: Path) -> Path:
    pdf = HeadedPdf()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, "Quarterly Report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Revenue grew in the third quarter because the new pricing took effect.")
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "Costs", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Costs stayed flat while headcount was unchanged.")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "Outlook", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "We expect the trend to continue next year.")
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Employee Handbook", level=1)
    document.add_paragraph("Welcome to the team; read this in your first week.")
    document.add_heading("Leave", level=2)
    document.add_paragraph("Employees get 25 days of paid leave.")
    document.add_paragraph("Book leave in the HR portal.", style="List Bullet")
    document.add_heading("Sick leave", level=3)
    document.add_paragraph("Tell your manager before 10:00.")
    document.add_heading("Travel", level=2)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Mode", "Class"
    table.cell(1, 0).text, table.cell(1, 1).text = "Train", "Second"
    document.save(str(path))
    return path


@pytest.fixture
def md_file(tmp_path: Path) -> Path:
    path = tmp_path / "deploy-guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    return path


@pytest.fixture
def pdf_file(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "report.pdf")


@pytest.fixture
def docx_file(tmp_path: Path) -> Path:
    return make_docx(tmp_path / "handbook.docx")


# -- each format ---------------------------------------------------------------------------------


def test_markdown_headings_lists_code_and_table(md_file: Path) -> None:
    doc = parse_file(md_file)
    assert_well_formed(doc)
    assert doc.format is DocumentFormat.MARKDOWN
    assert doc.title == "Deploy Guide"
    assert "Front matter" not in doc.text
    assert "owner: docs" not in doc.text
    # "#deploys" mid-paragraph is text, as CommonMark reads it, not a heading.
    assert element(doc, "Deployments run").text.endswith("#deploys channel the same day.")
    assert [e.text for e in doc.elements if e.is_title] == [
        "Deploy Guide",
        "Install",
        "Verify",
        "Rollback",
    ]
    item = element(doc, "Run it as root")
    assert item.kind == "ListItem"
    assert item.text == "Run it as root. It takes a minute."
    assert item.section_path == ("Deploy Guide", "Install")
    code = next(e for e in doc.elements if e.kind == "CodeSnippet")
    assert code.text == "# not a heading: inside a fence\nmake   deploy"
    assert element(doc, "Check the health").section_path == ("Deploy Guide", "Install", "Verify")
    table = next(e for e in doc.elements if e.kind == "Table")
    assert "Independence" not in table.text
    assert "undo" in table.text
    assert table.section_path == ("Deploy Guide", "Rollback")
    assert all(e.page is None for e in doc.elements)


def test_html_drops_scripts_and_page_chrome(tmp_path: Path) -> None:
    path = tmp_path / "holidays.html"
    path.write_text(HTML, encoding="utf-8")
    doc = parse_file(path)
    assert_well_formed(doc)
    assert doc.format is DocumentFormat.HTML
    assert doc.title == "Holiday Calendar"
    for chrome in ("tracking", "Home", "Search", "Copyright"):
        assert chrome not in doc.text
    assert element(doc, "These holidays").text == ("These holidays are paid. They add to your time off.")
    assert element(doc, "May 3").kind == "ListItem"
    assert element(doc, "May 3").section_path == ("Holiday Calendar", "Poland")
    table = next(e for e in doc.elements if e.kind == "Table")
    assert "Independence Day" in table.text
    assert table.section_path == ("Holiday Calendar", "United States")


def test_plain_text_underlined_headings_and_list_items(tmp_path: Path) -> None:
    path = tmp_path / "certificate-rotation.txt"
    path.write_text(TEXT, encoding="utf-8")
    doc = parse_file(path)
    assert_well_formed(doc)
    assert doc.format is DocumentFormat.TEXT
    assert doc.title == "RUNBOOK: CERTIFICATE ROTATION"
    assert "===" not in doc.text
    assert "---" not in doc.text
    paragraph = element(doc, "Robots renew")
    assert paragraph.text.endswith("through the Nest when they are 60 days old.")
    assert paragraph.section_path == ("RUNBOOK: CERTIFICATE ROTATION", "HOW ROTATION WORKS")
    items = [e for e in doc.elements if e.kind == "ListItem"]
    assert [e.text for e in items] == [
        "The cert-rotator job runs daily.",
        "It reloads the gateway without dropping connections.",
    ]
    assert element(doc, "CERT_EXPIRY_3D").section_path[-1] == "ALERTS"


def test_pdf_pages_headings_and_no_page_furniture(pdf_file: Path) -> None:
    doc = parse_file(pdf_file)
    assert_well_formed(doc)
    assert doc.format is DocumentFormat.PDF
    assert doc.title == "Quarterly Report"
    assert [(e.text, e.page) for e in doc.elements if e.is_title] == [
        ("Quarterly Report", 1),
        ("Costs", 1),
        ("Outlook", 2),
    ]
    costs = element(doc, "Costs stayed flat")
    assert (costs.page, costs.section_path) == (1, ("Quarterly Report", "Costs"))
    outlook = element(doc, "We expect")
    assert (outlook.page, outlook.section_path) == (2, ("Quarterly Report", "Outlook"))
    assert all(e.page in (1, 2) for e in doc.elements)
    # Running header and page numbers repeat on every page: furniture, not content.
    assert "Internal" not in doc.text
    assert "Page 1" not in doc.text
    assert "Page 2" not in doc.text


def test_pdf_columns_are_read_whole(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "Site Survey", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    top = pdf.get_y() + 4
    for x, paragraphs in (
        (10, ["Left one: the survey starts at the dock doors.", "Left two: then walk the aisles."]),
        (110, ["Right one: measure Wi-Fi at robot height.", "Right two: note every dead zone."]),
    ):
        pdf.set_xy(x, top)
        for text in paragraphs:
            pdf.multi_cell(85, 6, text, new_x="LEFT", new_y="NEXT")
            pdf.set_xy(x, pdf.get_y() + 5)
    path = tmp_path / "columns.pdf"
    pdf.output(str(path))
    doc = parse_file(path)
    assert_well_formed(doc)
    assert [e.text.split(":")[0] for e in doc.elements[1:]] == [
        "Left one",
        "Left two",
        "Right one",
        "Right two",
    ]


def test_pdf_paragraph_running_on_to_the_next_page_and_detached_bullets(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for item in ("check the dock", "charge the robots"):
        y = pdf.get_y()
        pdf.cell(5, 6, "-")  # the bullet is its own text box, apart from its item
        pdf.set_xy(25, y)
        pdf.cell(0, 6, item, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(250)
    pdf.multi_cell(0, 6, "Robots " + "keep moving along the aisle " * 30)
    path = tmp_path / "runs-on.pdf"
    pdf.output(str(path))
    doc = parse_file(path)
    assert_well_formed(doc)
    assert [(e.kind, e.text) for e in doc.elements[:2]] == [
        ("ListItem", "check the dock"),
        ("ListItem", "charge the robots"),
    ]
    paragraph = doc.elements[2]
    assert len(doc.elements) == 3
    assert paragraph.text.startswith("Robots keep")
    assert paragraph.text.endswith("the aisle")
    assert paragraph.page == 1  # where it starts


def test_docx_heading_levels_lists_and_tables(docx_file: Path) -> None:
    doc = parse_file(docx_file)
    assert_well_formed(doc)
    assert doc.format is DocumentFormat.DOCX
    assert doc.title == "Employee Handbook"
    assert element(doc, "Tell your manager").section_path == (
        "Employee Handbook",
        "Leave",
        "Sick leave",
    )
    assert element(doc, "Book leave").kind == "ListItem"
    table = [e for e in doc.elements if e.kind == "Table"]  # one element per row
    assert any("Train" in e.text for e in table)
    assert all(e.section_path == ("Employee Handbook", "Travel") for e in table)


def test_title_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "release-notes.md"
    path.write_text("Just one paragraph, no heading at all.\n", encoding="utf-8")
    doc = parse_file(path)
    assert doc.title == "release-notes"
    assert doc.elements[0].section_path == ()


def test_locator_names_the_document_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    with pytest.raises(ParseError) as err:
        parse_file(path, locator="handbook/empty.md")
    assert err.value.locator == "handbook/empty.md"


# -- bytes from the web and from tickets ---------------------------------------------------------


def test_parse_bytes_uses_the_content_type_and_its_charset() -> None:
    page = "<h1>Café menu</h1><p>Crème brûlée costs 5 €.</p>".encode("cp1252")
    doc = parse_bytes(
        page,
        filename="menu.php",
        content_type="text/html; charset=windows-1252",
        locator="https://intranet/menu.php",
    )
    assert_well_formed(doc)
    assert doc.format is DocumentFormat.HTML
    assert doc.title == "Café menu"
    assert "Crème brûlée costs 5 €." in doc.text


def test_parse_bytes_reads_markdown_served_as_plain_text() -> None:
    doc = parse_bytes(
        b"# Ticket 42\n\nThe printer is down.\n",
        filename="ticket-42.md",
        content_type="text/plain",
        locator="tickets/42",
    )
    assert doc.format is DocumentFormat.MARKDOWN
    assert doc.title == "Ticket 42"


def test_parse_bytes_pdf_and_docx(pdf_file: Path, docx_file: Path) -> None:
    pdf = parse_bytes(
        pdf_file.read_bytes(), filename="attachment", content_type="application/pdf", locator="t/1"
    )
    assert pdf.format is DocumentFormat.PDF
    assert pdf.title == "Quarterly Report"
    word = parse_bytes(docx_file.read_bytes(), filename="handbook.docx", locator="t/2")
    assert word.format is DocumentFormat.DOCX
    assert word.title == "Employee Handbook"


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("a.md", None, DocumentFormat.MARKDOWN),
        ("a.MARKDOWN", None, DocumentFormat.MARKDOWN),
        ("a.htm", None, DocumentFormat.HTML),
        ("a.txt", None, DocumentFormat.TEXT),
        ("a.pdf", None, DocumentFormat.PDF),
        ("a.docx", None, DocumentFormat.DOCX),
        ("page.php", "text/html; charset=utf-8", DocumentFormat.HTML),
        ("notes", "text/plain", DocumentFormat.TEXT),
        ("a.md", "application/octet-stream", DocumentFormat.MARKDOWN),
        ("a.xyz", None, None),
        ("a.doc", None, None),
        ("image", "image/png", None),
    ],
)
def test_detect_format(filename: str, content_type: str | None, expected: DocumentFormat | None) -> None:
    assert detect_format(filename, content_type) is expected


# -- normalization -------------------------------------------------------------------------------


def test_normalize_text() -> None:
    assert normalize_text("  a\tb \n\n c\u00a0d  ") == "a b c d"
    assert normalize_text("Cafe\u0301") == "Café"  # NFC: one code point
    assert normalize_text("ﬁle de\u00adsign\u200b") == "file design"
    assert normalize_text("bell\x07 ring\x00") == "bell ring"
    assert normalize_text(normalize_text(" x  y ")) == "x y"


def test_parsed_document_rejects_spans_that_do_not_slice_its_text() -> None:
    bad = ParsedElement("NarrativeText", "hello", 1, 6, (), None)
    with pytest.raises(ValueError, match="does not slice"):
        ParsedDocument(text="hello", elements=(bad,), title="t", format=DocumentFormat.TEXT)
    with pytest.raises(ValueError, match="at least one element"):
        ParsedDocument(text="", elements=(), title="t", format=DocumentFormat.TEXT)


# -- errors: a reason, never a crash, never an empty document -----------------------------------


def parse_error(path: Path) -> str:
    with pytest.raises(ParseError) as err:
        parse_file(path)
    assert err.value.locator == str(path)
    return err.value.reason


@pytest.mark.parametrize("name", ["empty.md", "empty.html", "empty.txt", "empty.pdf", "empty.docx"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    assert parse_error(path) == "empty file (0 bytes)"


@pytest.mark.parametrize("name", ["blank.md", "blank.html", "blank.txt", "blank.pdf"])
def test_whitespace_only_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b" \n\t\r\n   \n")
    assert "only whitespace" in parse_error(path)


@pytest.mark.parametrize("name", ["latin1.txt", "latin1.md", "latin1.html"])
def test_invalid_utf8_is_refused_with_its_byte_offset(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"Caf\xe9 au lait\n")  # Latin-1, not UTF-8
    reason = parse_error(path)
    assert "invalid utf-8" in reason
    assert "byte offset 3" in reason
    assert "0xe9" in reason


def test_html_meta_charset_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin1.html"
    path.write_bytes(b'<meta charset="iso-8859-1"><h1>Caf\xe9</h1><p>Open daily.</p>')
    assert parse_file(path).title == "Café"


def test_binary_data_in_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    path.write_bytes(b"looks like text\x00\x01\x02")
    assert "NUL bytes" in parse_error(path)


def test_truncated_pdf(tmp_path: Path, pdf_file: Path) -> None:
    data = pdf_file.read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated PDF" in parse_error(path)


def test_corrupt_pdf_with_an_intact_end_marker(tmp_path: Path, pdf_file: Path) -> None:
    data = pdf_file.read_bytes()
    path = tmp_path / "corrupt.pdf"
    path.write_bytes(data[: len(data) // 2] + b"\n%%EOF\n")
    assert parse_error(path).startswith("corrupt PDF:")


def test_not_a_pdf(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"<html>this is a web page saved as .pdf</html>")
    assert "not a PDF" in parse_error(path)


def test_pdf_without_a_text_layer(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 120, 80, style="F")  # what a scan looks like to a text extractor
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    assert parse_error(path) == NO_TEXT_LAYER


def test_encrypted_pdf(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "Board minutes")
    pdf.set_encryption(owner_password="owner", user_password="secret", encryption_method=EncryptionMethod.RC4)
    path = tmp_path / "locked.pdf"
    pdf.output(str(path))
    assert parse_error(path) == "encrypted PDF: a password is required to read it"


def test_not_a_docx(tmp_path: Path) -> None:
    path = tmp_path / "report.docx"
    path.write_bytes(b"plain text renamed to .docx")
    assert "not a .docx" in parse_error(path)


def test_damaged_docx(tmp_path: Path, docx_file: Path) -> None:
    data = docx_file.read_bytes()
    path = tmp_path / "damaged.docx"
    path.write_bytes(data[: len(data) // 3])
    assert parse_error(path).startswith("cannot parse as docx:")


def test_markup_without_text(tmp_path: Path) -> None:
    path = tmp_path / "shell.html"
    path.write_text("<html><head><script>app()</script></head><body><div></div></body></html>")
    assert parse_error(path) == "no text found in this html document"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("data.xyz", "unsupported file type: '.xyz' files cannot be parsed"),
        ("Makefile", "unsupported file type: files without an extension"),
        ("old.doc", "legacy Word .doc is not supported; save it as .docx"),
    ],
)
def test_unsupported_file_type(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"some content")
    assert parse_error(path).startswith(reason)


def test_unsupported_content_type_names_it() -> None:
    with pytest.raises(ParseError, match=r"of type 'image/png'"):
        parse_bytes(b"\x89PNG", filename="logo", content_type="image/png", locator="u")


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read the file" in parse_error(tmp_path / "gone.md")


# -- the demo corpus -----------------------------------------------------------------------------


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)


@pytest.mark.skipif(not corpus_files(), reason=f"no demo corpus at {CORPUS}")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_demo_corpus_parses(path: Path) -> None:
    doc = parse_file(path, locator=str(path.relative_to(CORPUS)))
    assert_well_formed(doc)
    assert len(doc.text) > 100


# -- offline: no socket, no model download, no layout models --------------------------------------

OFFLINE_PROBE = """
import json, socket, sys, urllib.request
attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("network disabled by the offline test")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
urllib.request.urlopen = refuse

import spacy
spacy.load = refuse  # the en_core_web_sm path: must never be reached

from pathlib import Path
from pipelines.parsing import parse_file

titles = {p: parse_file(Path(p)).title for p in sys.argv[1:]}
from unstructured.nlp.tokenize import pos_tag, sent_tokenize
print(json.dumps({
    "titles": titles,
    "attempts": attempts,
    "verbs": [tag for _, tag in pos_tag("We expect the robots to continue.")],
    "sentences": sent_tokenize("One sentence. And another one."),
    "layout_models": sorted(m for m in sys.modules if m.startswith(("unstructured_inference", "nltk"))),
}))
"""


@pytest.mark.slow
def test_every_format_parses_with_the_network_blocked(
    tmp_path: Path, md_file: Path, pdf_file: Path, docx_file: Path
) -> None:
    html, txt = tmp_path / "page.html", tmp_path / "notes.txt"
    html.write_text(HTML, encoding="utf-8")
    txt.write_text(TEXT, encoding="utf-8")
    files = [md_file, html, txt, pdf_file, docx_file]
    env = {k: v for k, v in os.environ.items() if k not in ("SCARF_NO_ANALYTICS", "DO_NOT_TRACK")}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OFFLINE_PROBE), *map(str, files)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []  # telemetry swallows errors: count attempts, not failures
    assert result["titles"] == {
        str(md_file): "Deploy Guide",
        str(html): "Holiday Calendar",
        str(txt): "RUNBOOK: CERTIFICATE ROTATION",
        str(pdf_file): "Quarterly Report",
        str(docx_file): "Employee Handbook",
    }
    assert "VBP" in result["verbs"]  # the rule-based tagger answers unstructured's verb question
    assert result["sentences"] == ["One sentence.", "And another one."]
    assert result["layout_models"] == []
