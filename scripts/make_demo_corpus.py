"""Build the binary documents of the Northwind Robotics demo corpus, and check the corpus.

The PDF and DOCX files under ``examples/corpus/`` are generated from plain-text sources under
``examples/corpus-src/``: ``examples/corpus-src/<source>/<path>.<pdf|docx>.md`` becomes
``examples/corpus/<source>/<path>.<pdf|docx>``. The generated files are committed, so the corpus
works without running this script; re-run it after editing a source.

Source markup (a small Markdown subset)::

    # Document title            (one, first line)
    ## Section / ### Subsection
    paragraph lines, joined until a blank line; **bold** inline
    - bullet / 1. numbered item
    | table | row |             (a |---| separator row is skipped; first row is the header)

Every document's sidecar (``<file>.meta.yaml``) is hand-written and is the source of truth for its
``title``, ``updated_at`` and ``read``; the generator copies title and date into the PDF/DOCX
metadata, so output is byte-for-byte reproducible (fixed dates, fixed zip timestamps).

Usage::

    uv run python scripts/make_demo_corpus.py           # (re)generate PDF and DOCX
    uv run python scripts/make_demo_corpus.py --check   # verify sidecars, ACLs, text, freshness
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SRC = EXAMPLES / "corpus-src"
CORPUS = EXAMPLES / "corpus"
DOC_SUFFIXES = (".md", ".html", ".htm", ".txt", ".pdf", ".docx")
ACL_ENTRY = re.compile(r"^(public|user:[A-Za-z0-9_.@\-]+|group:[A-Za-z0-9_.@\-]+)$")
AUTHOR = "Northwind Robotics"
FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

# Core PDF fonts speak Latin-1 only; the sources are mostly ASCII, this covers the rest.
_PDF_REPLACE = {
    "\u2014": "--",
    "\u2013": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u2265": ">=",
    "\u2264": "<=",
    "\u2192": "->",
    "\u00a0": " ",
    "\u2212": "-",
    "\u2022": "-",
    "\u0142": "l",
    "\u0141": "L",
    "\u2011": "-",
}


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    kind: str  # heading | para | bullet | number | table
    text: str = ""
    level: int = 0
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class SourceDoc:
    title: str
    blocks: list[Block]


def parse_source(text: str) -> SourceDoc:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("a source must start with '# Title'")
    title = lines[0][2:].strip()
    blocks: list[Block] = []
    para: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if para:
            blocks.append(Block("para", " ".join(s.strip() for s in para)))
            para.clear()
        if table:
            blocks.append(Block("table", rows=[r[:] for r in table]))
            table.clear()

    for raw in lines[1:]:
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("|"):
            if para:
                flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells):
                continue
            table.append(cells)
        elif m := re.match(r"^(#{2,4})\s+(.*)$", stripped):
            flush()
            blocks.append(Block("heading", m.group(2).strip(), level=len(m.group(1)) - 1))
        elif m := re.match(r"^[-*]\s+(.*)$", stripped):
            flush()
            blocks.append(Block("bullet", m.group(1)))
        elif m := re.match(r"^\d+\.\s+(.*)$", stripped):
            flush()
            blocks.append(Block("number", m.group(1)))
        elif blocks and blocks[-1].kind in ("bullet", "number") and not para and raw.startswith(" "):
            blocks[-1].text += " " + stripped  # continuation of a list item
        else:
            if table:
                flush()
            para.append(stripped)
    flush()
    return SourceDoc(title, blocks)


def _runs(text: str) -> list[tuple[str, bool]]:
    """Split ``**bold**`` markup into (text, bold) runs."""
    parts = re.split(r"(\*\*[^*]+\*\*)", text)
    return [(p[2:-2], True) if p.startswith("**") else (p, False) for p in parts if p]


def _plain(text: str) -> str:
    return "".join(t for t, _ in _runs(text))


# --------------------------------------------------------------------------- sidecars


def read_meta(doc: Path) -> dict[str, Any]:
    side = doc.with_name(doc.name + ".meta.yaml")
    if not side.is_file():
        raise FileNotFoundError(f"{doc.relative_to(ROOT)} has no sidecar {side.name}")
    data = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{side}: expected a mapping")
    return data


def meta_datetime(meta: dict[str, Any], where: Path) -> datetime:
    value = meta.get("updated_at")
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"{where}: updated_at missing or not a timestamp")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- PDF


def _pdf_text(text: str) -> str:
    for a, b in _PDF_REPLACE.items():
        text = text.replace(a, b)
    text.encode("latin-1")  # fail loudly on anything the core fonts cannot show
    return text


def build_pdf(doc: SourceDoc, title: str, updated: datetime, label: str) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    class _PDF(FPDF):
        def header(self) -> None:
            self.set_font("helvetica", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 6, _pdf_text(f"Northwind Robotics  |  {label}"), align="R")
            self.ln(10)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("helvetica", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 8, _pdf_text(f"{title}  -  page {self.page_no()} of {{nb}}"), align="C")
            self.set_text_color(0, 0, 0)

    pdf = _PDF(format="letter", unit="mm")
    pdf.set_creation_date(updated)
    pdf.set_title(_pdf_text(title))
    pdf.set_author(AUTHOR)
    pdf.set_subject(_pdf_text(label))
    pdf.set_creator("scripts/make_demo_corpus.py")
    pdf.set_producer("fpdf2")
    pdf.set_lang("en-US")
    pdf.set_margins(22, 18, 22)
    pdf.set_auto_page_break(True, margin=20)
    pdf.alias_nb_pages()
    pdf.add_page()

    def line_break() -> dict[str, Any]:
        return {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}

    pdf.start_section(_pdf_text(doc.title), level=0)
    pdf.set_font("helvetica", "B", 18)
    pdf.multi_cell(0, 9, _pdf_text(doc.title), **line_break())
    pdf.set_font("helvetica", "", 9)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 6, f"Last updated {updated:%B %d, %Y}", **line_break())
    pdf.set_text_color(0, 0, 0)
    pdf.ln(3)

    number = 0
    for block in doc.blocks:
        if block.kind == "heading":
            number = 0
            size = {1: 14, 2: 12}.get(block.level, 11)
            pdf.ln(3)
            if pdf.get_y() > pdf.h - 45:
                pdf.add_page()
            pdf.start_section(_pdf_text(block.text), level=block.level)
            pdf.set_font("helvetica", "B", size)
            pdf.multi_cell(0, 7, _pdf_text(block.text), **line_break())
            pdf.ln(1)
        elif block.kind == "para":
            number = 0
            pdf.set_font("helvetica", "", 10.5)
            pdf.multi_cell(0, 5.4, _pdf_text(block.text), markdown=True, align="L", **line_break())
            pdf.ln(2.2)
        elif block.kind in ("bullet", "number"):
            number = number + 1 if block.kind == "number" else 0
            marker = f"{number}." if block.kind == "number" else "-"
            pdf.set_font("helvetica", "", 10.5)
            pdf.set_x(pdf.l_margin + 4)
            pdf.cell(6, 5.4, marker)
            pdf.multi_cell(0, 5.4, _pdf_text(block.text), markdown=True, align="L", **line_break())
            pdf.ln(1)
        elif block.kind == "table":
            number = 0
            pdf.set_font("helvetica", "", 9.5)
            with pdf.table(
                line_height=5.2,
                text_align="LEFT",
                first_row_as_headings=True,
                headings_style=_heading_style(),
            ) as table:
                for row in block.rows:
                    r = table.row()
                    for cell in row:
                        r.cell(_pdf_text(_plain(cell)))
            pdf.ln(3)
    out = pdf.output()
    return bytes(out)


def _heading_style() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", fill_color=(225, 230, 236))


# --------------------------------------------------------------------------- DOCX


def build_docx(doc: SourceDoc, title: str, updated: datetime, label: str) -> bytes:
    import docx
    from docx.shared import Pt

    d = docx.Document()
    props = d.core_properties
    naive = updated.astimezone(UTC).replace(tzinfo=None)
    props.title = title
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.subject = label
    props.keywords = "Northwind Robotics; demo corpus"
    props.comments = ""
    props.category = label
    props.created = naive
    props.modified = naive
    props.last_printed = naive
    props.revision = 1

    d.styles["Normal"].font.name = "Calibri"
    d.styles["Normal"].font.size = Pt(11)
    d.add_heading(doc.title, level=0)
    meta = d.add_paragraph()
    meta.add_run(f"{label}. Last updated {updated:%B %d, %Y}.").italic = True

    for block in doc.blocks:
        if block.kind == "heading":
            d.add_heading(block.text, level=min(block.level, 3))
        elif block.kind in ("para", "bullet", "number"):
            style = {"para": None, "bullet": "List Bullet", "number": "List Number"}[block.kind]
            p = d.add_paragraph(style=style)
            for text, bold in _runs(block.text):
                p.add_run(text).bold = bold
        elif block.kind == "table":
            ncols = max(len(r) for r in block.rows)
            t = d.add_table(rows=0, cols=ncols)
            t.style = "Table Grid"
            for i, row in enumerate(block.rows):
                cells = t.add_row().cells
                for j, value in enumerate(row):
                    run = cells[j].paragraphs[0].add_run(_plain(value))
                    run.bold = i == 0
            d.add_paragraph()

    raw = io.BytesIO()
    d.save(raw)
    return _normalize_zip(raw.getvalue())


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps and attributes so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 3
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# --------------------------------------------------------------------------- driver


def _label(meta: dict[str, Any]) -> str:
    read = [str(e) for e in meta.get("read", [])]
    if "public" in read:
        return "Public"
    if read and all(e.startswith("user:") or e == "group:hr" for e in read):
        return "Confidential - personal"
    if any(e in ("group:leadership", "group:hr") for e in read):
        return "Confidential"
    return "Internal"


def targets() -> list[tuple[Path, Path]]:
    pairs = []
    for src in sorted(SRC.rglob("*.md")):
        rel = src.relative_to(SRC).with_suffix("")  # drop the trailing .md
        if rel.suffix not in (".pdf", ".docx"):
            raise ValueError(f"{src}: name it <name>.pdf.md or <name>.docx.md")
        pairs.append((src, CORPUS / rel))
    return pairs


def render(src: Path, dst: Path) -> bytes:
    doc = parse_source(src.read_text(encoding="utf-8"))
    meta = read_meta(dst)
    title = str(meta.get("title") or doc.title)
    updated = meta_datetime(meta, dst)
    label = _label(meta) if "read" in meta else _folder_label(dst)
    build = build_pdf if dst.suffix == ".pdf" else build_docx
    return build(doc, title, updated, label)


def _folder_label(doc: Path) -> str:
    acl = folder_acl(doc)
    return _label({"read": acl})


def folder_acl(doc: Path) -> list[str]:
    for folder in [doc.parent, *doc.parent.parents]:
        access = folder / "_access.yaml"
        if access.is_file():
            return list((yaml.safe_load(access.read_text()) or {}).get("read", []))
        if folder == CORPUS:
            break
    return []


def generate() -> int:
    for src, dst in targets():
        data = render(src, dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists() or dst.read_bytes() != data:
            dst.write_bytes(data)
            print(f"wrote {dst.relative_to(ROOT)} ({len(data)} bytes)")
        else:
            print(f"unchanged {dst.relative_to(ROOT)}")
    return 0


def _words(doc: Path) -> int:
    if doc.suffix == ".pdf":
        from pypdf import PdfReader

        text = "\n".join(p.extract_text() or "" for p in PdfReader(doc).pages)
    elif doc.suffix == ".docx":
        import docx

        d = docx.Document(str(doc))
        cells = [c.text for t in d.tables for row in t.rows for c in row.cells]
        text = "\n".join([p.text for p in d.paragraphs] + cells)
    else:
        text = doc.read_text(encoding="utf-8")
        if doc.suffix in (".html", ".htm"):
            text = re.sub(r"<[^>]+>", " ", text)
    return len(text.split())


def check(today: datetime) -> int:
    problems: list[str] = []
    ages = {"engineering": 180, "handbook": 365, "hr": 365, "finance": 365}
    docs = sorted(p for p in CORPUS.rglob("*") if p.suffix in DOC_SUFFIXES and p.is_file())
    rows = []
    for doc in docs:
        rel = doc.relative_to(CORPUS)
        try:
            meta = read_meta(doc)
            updated = meta_datetime(meta, doc)
        except (OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        acl = [str(e) for e in meta["read"]] if "read" in meta else folder_acl(doc)
        if not acl:
            problems.append(f"{rel}: no ACL (sidecar read or _access.yaml)")
        for entry in acl:
            if not ACL_ENTRY.match(entry):
                problems.append(f"{rel}: bad ACL entry {entry!r}")
        if updated > today:
            problems.append(f"{rel}: updated_at {updated:%Y-%m-%d} is in the future")
        words = _words(doc)
        if words < 150:
            problems.append(f"{rel}: only {words} words of extractable text")
        age = (today - updated).days
        stale = age > ages.get(rel.parts[0], 365)
        rows.append((str(rel), doc.suffix[1:], words, ",".join(acl), age, stale))
    for side in CORPUS.rglob("*.meta.yaml"):
        if not side.with_name(side.name.removesuffix(".meta.yaml")).is_file():
            problems.append(f"{side.relative_to(CORPUS)}: sidecar without a document")
    for src, dst in targets():
        if not dst.is_file() or dst.read_bytes() != render(src, dst):
            problems.append(f"{dst.relative_to(ROOT)} is out of date: run this script")
    tickets = EXAMPLES / "tickets" / "tickets.jsonl"
    ids = set()
    for n, line in enumerate(tickets.read_text(encoding="utf-8").splitlines(), 1):
        t = json.loads(line)
        for key in ("id", "title", "body", "status", "created_at", "updated_at", "acl"):
            if key not in t:
                problems.append(f"tickets.jsonl line {n}: no {key}")
        if t["id"] in ids:
            problems.append(f"tickets.jsonl line {n}: duplicate id {t['id']}")
        ids.add(t["id"])
        if not t["created_at"] <= t["updated_at"] <= today.strftime("%Y-%m-%dT23:59:59Z"):
            problems.append(f"ticket {t['id']}: created_at/updated_at out of order or in the future")
        for c in t.get("comments", []):
            if not t["created_at"] <= c["created_at"] <= t["updated_at"]:
                problems.append(f"ticket {t['id']}: comment at {c['created_at']} outside the ticket")
        problems += [f"ticket {t['id']}: bad ACL {e!r}" for e in t["acl"] if not ACL_ENTRY.match(e)]
    for path, kind, words, acl_text, age, stale in rows:
        flag = "STALE" if stale else ""
        print(f"{path:62} {kind:5} {words:5}w {age:4}d {flag:5} {acl_text}")
    print(f"{len(rows)} documents, {len(ids)} tickets")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify instead of generating")
    parser.add_argument("--today", default="2026-11-29", help="reference date for --check")
    args = parser.parse_args(argv)
    if args.check:
        return check(datetime.fromisoformat(args.today).replace(tzinfo=UTC))
    return generate()


if __name__ == "__main__":
    sys.exit(main())
