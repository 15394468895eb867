"""Parse stage: planned documents to normalized text and structural blocks.

Only documents whose content changed are parsed (``add``, ``change``). A file is read once here
and its hash recorded from those very bytes, so the manifest never pairs a hash with content it
did not parse. A :class:`~core.errors.ParseError` (no text, corrupt PDF, unsupported type) is
recorded on the planned document with its reason and the run goes on: a new document becomes a
failure, a changed one is removed from the index (its old text no longer exists at the source)
and reported.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from core.errors import ParseError
from index.chunking import Block
from pipelines.failpoints import failpoint
from pipelines.manifest import Manifest
from pipelines.parsing import ParsedDocument, parse_bytes
from pipelines.plans import NEEDS_PARSE, Action, Stage
from pipelines.progress import Metadata, ProgressObserver, SilentProgress
from pipelines.sources.base import FetchedContent, FileContent, TextContent
from pipelines.staging import PlanStore


@dataclass
class ParseReport:
    source_id: str
    staged: bool = True
    parsed: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def metadata(self) -> Metadata:
        return {
            "documents parsed": self.parsed,
            "documents failed": self.failed,
            "seconds": round(self.seconds, 3),
            "failures": "\n".join(f"{loc}: {why}" for loc, why in self.failures[:50]) or "none",
        }


def blocks_of(parsed: ParsedDocument) -> tuple[Block, ...]:
    return tuple(Block(e.start, e.end, e.section_path, e.page, e.is_title) for e in parsed.elements)


def parse_planned(
    manifest: Manifest, source_id: str, progress: ProgressObserver | None = None
) -> ParseReport:
    """Parse every planned document that needs it; record text and blocks, or the failure."""
    progress = progress or SilentProgress()
    started = time.perf_counter()
    store = PlanStore(manifest, source_id)
    report = ParseReport(source_id)
    if store.require(Stage.LISTED, what="parsing") is None:
        report.staged = False
        return report
    indexed = manifest.documents(source_id)
    todo = [d for d in store.documents(NEEDS_PARSE) if d.status == "pending"]
    progress.stage(source_id, "parse", len(todo))
    for planned in todo:
        # content is loaded one document at a time: fetched pages can be large
        doc = store.document(planned.document_id)
        content = doc.content
        failed_action = Action.DELETE if doc.document_id in indexed else Action.FAIL
        data_hash: str | None = None
        try:
            if isinstance(content, TextContent):
                store.record_parsed(
                    doc.document_id, content.text, content.blocks, content.title, doc.content_hash
                )
            elif isinstance(content, FileContent):
                try:
                    data = content.path.read_bytes()
                except OSError as exc:
                    raise ParseError(doc.locator, f"cannot read the file: {exc.strerror or exc}") from exc
                data_hash = hashlib.sha256(data).hexdigest()
                parsed = parse_bytes(data, filename=content.path.name, locator=doc.locator)
                store.record_parsed(doc.document_id, parsed.text, blocks_of(parsed), parsed.title, data_hash)
            elif isinstance(content, FetchedContent):
                parsed = parse_bytes(
                    content.data,
                    filename=content.filename,
                    content_type=content.content_type,
                    locator=doc.locator,
                )
                store.record_parsed(
                    doc.document_id, parsed.text, blocks_of(parsed), parsed.title, doc.content_hash
                )
            else:
                raise ParseError(
                    doc.locator, "the content was not fetched (not modified); re-run with --full"
                )
            report.parsed += 1
        except ParseError as exc:
            store.record_failed(doc.document_id, "parse", exc.reason, failed_action, data_hash)
            report.failed += 1
            report.failures.append((doc.locator, exc.reason))
        progress.advance()
    report.seconds = time.perf_counter() - started
    store.advance(Stage.PARSED)
    store.add_counts(parsed=report.parsed, parse_failed=report.failed, parse_seconds=report.seconds)
    failpoint("after-parse")
    return report
