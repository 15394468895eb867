"""Tables become one labelled line per row, in every format (HTML, Markdown, Word, PDF).

A row must be one evidence sentence ("Level: L5; Title: Senior Engineer II; Minimum: $165,000;
...") so the agent can quote the row that answers, instead of one cell per line or the whole
table as one run-on "sentence".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import docx
from fpdf import FPDF

from pipelines.parsing import ParsedDocument, parse_file
from pipelines.parsing_tables import guess_header, html_table_rows, row_text, table_rows
from retrieval.sentences import split_sentences

BANDS = [
    ("Level", "Title", "Minimum", "Maximum"),
    ("L4", "Senior Engineer I", "$140,000", "$178,000"),
    ("L5", "Senior Engineer II", "$165,000", "$210,000"),
    ("M5", "Senior Engineering Manager", "$190,000", "$245,000"),
]
L5 = "Level: L5; Title: Senior Engineer II; Minimum: $165,000; Maximum: $210,000."


def rows_of(doc: ParsedDocument) -> list[str]:
    return [e.text for e in doc.elements if e.kind == "Table"]


def test_row_text_labels_values_and_skips_empty_cells() -> None:
    assert row_text(("Level", "Title", "Minimum", "Maximum"), BANDS[2]) == L5
    assert row_text(("", "FY2026", "Change"), ("Revenue", "$71.5M", "")) == "Revenue; FY2026: $71.5M."
    assert row_text(None, ("Train", "Second class")) == "Train; Second class."
    assert row_text(("Step", "Note"), ("1", "Done.")) == "Step: 1; Note: Done."  # no doubled period
    assert row_text(("A", "B"), ("", " ")) == ""


def test_header_is_guessed_only_for_labels_above_figures() -> None:
    assert guess_header(BANDS)
    assert guess_header([("Category", "2025 amount"), ("Wages", "$17.9M"), ("Supplies", "$1.2M")])
    # a first row holding a figure is data; so is a key-value table without figures
    assert not guess_header([("Revenue", "$71.5M"), ("Gross margin", "41%")])
    assert not guess_header([("Owner", "Dave"), ("Reviewer", "Carol")])
    # a long first cell is a sentence, not a label
    assert not guess_header(
        [("Add a metric and alert for reservations older than 30 seconds", "Kasia"), ("x", "1")]
    )


def test_html_table_header_comes_from_th_cells() -> None:
    html = (
        "<table><thead><tr><th>Component</th><th>Status</th></tr></thead><tbody>"
        "<tr><td>Remote Assist</td><td>Operational</td></tr>"
        "<tr><td>Telemetry &amp; Analytics</td><td>Degraded<br/>performance</td></tr>"
        "</tbody></table>"
    )
    assert html_table_rows(html) == [
        "Component: Remote Assist; Status: Operational.",
        "Component: Telemetry & Analytics; Status: Degraded performance.",
    ]
    # without <th> (Word tables) the header is guessed
    plain = "<table><tr><td>Mode</td><td>Allowance</td></tr><tr><td>Car</td><td>70 cents</td></tr></table>"
    assert html_table_rows(plain) == ["Mode: Car; Allowance: 70 cents."]
    assert table_rows([("Mode", "Class"), ("Train", "Second")]) == ["Mode; Class.", "Train; Second."]


def test_markdown_and_html_tables_give_one_element_per_row(tmp_path: Path) -> None:
    md = tmp_path / "bands.md"
    header, rule = "| " + " | ".join(BANDS[0]) + " |", "|---" * 4 + "|"
    body = "\n".join("| " + " | ".join(r) + " |" for r in BANDS[1:])
    md.write_text(
        f"# Salary bands\n\n{header}\n{rule}\n{body}\n\nBands are reviewed yearly.\n", encoding="utf-8"
    )
    doc = parse_file(md)
    assert rows_of(doc) == [row_text(BANDS[0], r) for r in BANDS[1:]]
    row = next(e for e in doc.elements if e.text == L5)
    assert doc.text[row.start : row.end] == L5  # the row is a span of the text: citable as is
    assert row.section_path == ("Salary bands",)
    # each row is one sentence of the text, as evidence is split
    sentences = [s.slice(doc.text) for s in split_sentences(doc.text)]
    assert L5 in sentences


def test_docx_table_rows_are_labelled(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Parental leave", level=1)
    table = document.add_table(rows=3, cols=2)
    for i, (who, weeks) in enumerate(
        (("Who", "Paid leave"), ("Birthing parent", "16 weeks"), ("Other parent", "12 weeks"))
    ):
        table.cell(i, 0).text, table.cell(i, 1).text = who, weeks
    path = tmp_path / "leave.docx"
    document.save(str(path))
    assert rows_of(parse_file(path)) == [
        "Who: Birthing parent; Paid leave: 16 weeks.",
        "Who: Other parent; Paid leave: 12 weeks.",
    ]


def make_table_pdf(path: Path, rows: Sequence[Sequence[str]], *, widths: tuple[int, ...]) -> Path:
    """A PDF whose table cells are separate text boxes, as report generators write them."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Salary Bands 2026", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 6, "Bands are annual base salary in US dollars.")
    pdf.ln(4)
    for row in rows:
        for text, width in zip(row, widths, strict=True):
            pdf.cell(width, 7, text)
        pdf.ln(7)
    pdf.ln(4)
    pdf.multi_cell(0, 6, "New hires are offered a salary between the minimum and the midpoint.")
    pdf.output(str(path))
    return path


def test_pdf_table_cells_become_labelled_rows(tmp_path: Path) -> None:
    # the narrow title column puts "Senior Engineering Manager" right against its minimum, so
    # pdfminer reads the two cells as one line: the gap between them still splits the cells
    path = make_table_pdf(tmp_path / "bands.pdf", BANDS, widths=(20, 48, 30, 30))
    doc = parse_file(path)
    assert rows_of(doc) == [row_text(BANDS[0], r) for r in BANDS[1:]]
    assert doc.elements[-1].text.startswith("New hires")  # prose around the table is untouched
    assert doc.elements[1].text == "Bands are annual base salary in US dollars."
    table = [e for e in doc.elements if e.kind == "Table"]
    assert all(e.page == 1 and e.section_path == ("Salary Bands 2026",) for e in table)


def test_pdf_side_by_side_paragraphs_are_not_a_table(tmp_path: Path) -> None:
    rows = [
        ("The survey starts at the dock doors.", "Measure Wi-Fi at robot height."),
        ("Then walk every aisle.", "Note every dead zone."),
    ]
    doc = parse_file(make_table_pdf(tmp_path / "columns.pdf", rows, widths=(90, 90)))
    assert rows_of(doc) == []
    assert "The survey starts at the dock doors." in [e.text for e in doc.elements]
