"""The golden set and answer-level evaluation: does the agent answer, cite and refuse as it should?

A golden set (``examples/golden.yaml``) lists questions per demo user, each labelled

- ``answerable``: the answer is in documents the user may read (``expect`` names them);
- ``unanswerable``: nothing in the corpus answers it: the agent must refuse;
- ``forbidden``: the answer sits only in documents the user may not read (``forbidden`` names
  them): the agent must refuse, or answer from documents the user may read (never those).

:func:`evaluate_golden` asks every question as its user through any ``ask`` callable (the
in-process agent, or an HTTP client) and checks each result *independently of the agent*:
every citation's quote is compared with the stored chunk text at its span, and every chunk or
document id anywhere in the result (citations, steps, messages) is checked against the ACL
stored with it. A citation the agent got wrong, or a single id the user may not read, is a hard
failure (:meth:`GoldenReport.hard_failures`), which the promotion gate uses.

Document references are ``{source, locator}`` as the pipeline records them (a folder source's
path relative to its folder, a web page's URL, a ticket's id); :func:`document_ref_id` turns
one into the document id the pipeline gives it (:func:`core.ids.document_id`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.result import AgentResult
from core.acl import Principal
from core.errors import ConfigurationError
from core.ids import document_id
from core.models import ChunkSpan, Citation
from index.manifest_reader import ManifestReader

Kind = Literal["answerable", "unanswerable", "forbidden"]
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)


# ---------------------------------------------------------------------------- the golden set


class DocRef(BaseModel):
    """A document as the pipeline records it: its source id and its locator in that source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    locator: str = Field(min_length=1)

    def __str__(self) -> str:
        return f"{self.source}:{self.locator}"


def document_ref_id(ref: DocRef) -> str:
    """The pipeline's document id for ``ref`` (see :func:`core.ids.document_id`)."""
    return document_id(ref.source, ref.locator)


class Expectation(BaseModel):
    """One document an answer should cite; citing any of ``also`` instead satisfies it too."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    locator: str = Field(min_length=1)
    also: tuple[DocRef, ...] = Field((), description="documents that hold the same fact")

    @property
    def refs(self) -> tuple[DocRef, ...]:
        return (DocRef(source=self.source, locator=self.locator), *self.also)


class GoldenItem(BaseModel):
    """One golden question, asked as one user, with its label and the documents it concerns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
    user: str = Field(min_length=1)
    question: str = Field(min_length=1)
    kind: Kind
    expect: tuple[Expectation, ...] = ()
    forbidden: tuple[DocRef, ...] = ()
    stale: bool = Field(False, description="the expected answer cites a stale document (warned)")
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GoldenItem:
        if self.kind == "answerable" and not self.expect:
            raise ValueError("an answerable item needs 'expect': the documents its answer cites")
        if self.kind == "forbidden" and not self.forbidden:
            raise ValueError("a forbidden item needs 'forbidden': the documents holding the answer")
        if self.kind == "unanswerable" and (self.expect or self.forbidden):
            raise ValueError("an unanswerable item names no documents ('expect'/'forbidden')")
        return self

    @property
    def must_refuse(self) -> bool:
        """The labelled behaviour: unanswerable and forbidden items are refused."""
        return self.kind != "answerable"

    def refs(self) -> tuple[DocRef, ...]:
        """Every document the item names (expected and forbidden)."""
        return (*(r for e in self.expect for r in e.refs), *self.forbidden)


class GoldenSet(BaseModel):
    """The golden items, unique by id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: tuple[GoldenItem, ...]

    @field_validator("items")
    @classmethod
    def _unique(cls, items: tuple[GoldenItem, ...]) -> tuple[GoldenItem, ...]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"golden item id {item.id!r} appears twice")
            seen.add(item.id)
        return items

    def item(self, item_id: str) -> GoldenItem:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(f"no golden item {item_id!r}")

    def for_users(self, users: Iterable[str]) -> GoldenSet:
        """Only the items asked by ``users``."""
        wanted = set(users)
        return GoldenSet(items=tuple(i for i in self.items if i.user in wanted))

    def queries(self) -> dict[str, str]:
        """Answerable items' questions by item id (the retrieval metrics' queries)."""
        return {i.id: i.question for i in self.items if i.kind == "answerable"}

    def qrels(self, doc_id_of: Callable[[DocRef], str] = document_ref_id) -> dict[str, dict[str, int]]:
        """Answerable items' expected documents (``also`` included) as relevance-1 qrels by item id."""
        return {
            i.id: {doc_id_of(r): 1 for e in i.expect for r in e.refs}
            for i in self.items
            if i.kind == "answerable"
        }

    def document_refs(self) -> frozenset[DocRef]:
        """Every document any item names."""
        return frozenset(r for i in self.items for r in i.refs())

    def check_documents(self, known: Callable[[DocRef], bool]) -> None:
        """Raise :class:`ConfigurationError` naming every item whose reference is not a document."""
        missing = [f"{i.id}: {r}" for i in self.items for r in dict.fromkeys(i.refs()) if not known(r)]
        if missing:
            raise ConfigurationError(
                "golden set names documents the corpus does not have (fix the source id or "
                "locator; folder locators are paths relative to the source folder):\n  "
                + "\n  ".join(missing)
            )


def load_golden(path: str | Path) -> GoldenSet:
    """Read a golden set (YAML: ``items: [...]``); errors name the item and field at fault."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"golden set {file} does not exist: pass --golden FILE or set GW_EVALUATION__GOLDEN_FILE"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"golden set {file} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        raise ConfigurationError(f"golden set {file}: expected a mapping with an 'items' list")
    items: list[GoldenItem] = []
    problems: list[str] = []
    for n, entry in enumerate(raw["items"], start=1):
        label = entry.get("id", f"#{n}") if isinstance(entry, dict) else f"#{n}"
        try:
            items.append(GoldenItem.model_validate(entry))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "item"
                problems.append(f"item {label}: {where}: {err['msg'].removeprefix('Value error, ')}")
    if problems:
        raise ConfigurationError(f"golden set {file} is invalid:\n  " + "\n  ".join(problems))
    try:
        return GoldenSet(items=tuple(items))
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigurationError(f"golden set {file} is invalid: {msgs}") from None


# ---------------------------------------------------------------------------- stored chunks


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the pipeline stored it: the ground truth citations are checked against."""

    chunk_id: str
    document_id: str
    text: str
    span: ChunkSpan  # in the document's normalized text
    acl: tuple[str, ...]


ChunkSource = Callable[[str], StoredChunk | None]
"""A stored chunk by chunk id (``None`` if there is none); must not go through the agent."""


class ManifestChunks:
    """:data:`ChunkSource` over the pipeline's manifest (:class:`ManifestReader`), plus document ACLs.

    The manifest is what the pipeline committed, read without any engine or agent code, so
    checking citations against it is independent of the agent's own verification.
    """

    def __init__(self, path: Path) -> None:
        self.reader = ManifestReader(path)
        if not self.reader.exists():
            raise ConfigurationError(f"no pipeline manifest at {path}: ingest first (groundwork ingest)")
        self.path = self.reader.path

    def __call__(self, chunk_id: str) -> StoredChunk | None:
        chunk = self.reader.chunk(chunk_id)
        if chunk is None:
            return None
        return StoredChunk(chunk.chunk_id, chunk.document_id, chunk.text, chunk.span, chunk.acl)

    def document_acl(self, doc_id: str) -> tuple[str, ...] | None:
        """The stored ACL of a document (``None`` if there is no such document)."""
        return self.reader.document_acl(doc_id)

    def has_document(self, ref: DocRef) -> bool:
        return self.document_acl(document_ref_id(ref)) is not None

    def close(self) -> None:
        self.reader.close()


# ---------------------------------------------------------------------------- the report


class GoldenRow(BaseModel):
    """One item's outcome."""

    model_config = ConfigDict(frozen=True)

    id: str
    user: str
    kind: Kind
    refused: bool
    as_labelled: bool = Field(description="refused exactly when the label says it must")
    refusal_ok: bool | None = Field(
        None, description="unanswerable: refused; forbidden: refused or answered from allowed documents"
    )
    cited_documents: tuple[str, ...] = ()
    expected_recall: float | None = None
    citations: int = 0
    invalid_citations: tuple[str, ...] = ()
    sentences: int = 0
    supported_sentences: int = 0
    acl_leaks: tuple[str, ...] = ()
    stale_citations: int = 0
    stale_warned: bool = False
    latency_ms: float = 0.0
    error: str | None = None


class GoldenMetrics(BaseModel):
    """The answer-level metrics (``None`` where no item of the kind was asked)."""

    model_config = ConfigDict(frozen=True)

    items: int
    citation_validity: float
    supported_sentence_share: float | None
    refusal_accuracy: float | None
    false_refusal_rate: float | None
    expected_citation_recall: float | None
    acl_leaks: int
    stale_citation_warnings: int
    labelled_behaviour: float
    errors: int
    latency_p50_ms: float
    latency_p95_ms: float


class GoldenReport(BaseModel):
    """Per-item rows and the metrics over them."""

    model_config = ConfigDict(frozen=True)

    rows: tuple[GoldenRow, ...]
    metrics: GoldenMetrics

    def hard_failures(self) -> list[str]:
        """The rules no generation may break: every quote at its span, no ACL leak, no error."""
        m = self.metrics
        out: list[str] = []
        if m.citation_validity < 1.0:
            bad = [f"{r.id} ({len(r.invalid_citations)})" for r in self.rows if r.invalid_citations]
            out.append(
                f"citation validity {m.citation_validity:.4f} < 1.00: invalid citations in {', '.join(bad)}"
            )
        if m.acl_leaks:
            leaky = [f"{r.id} ({len(r.acl_leaks)})" for r in self.rows if r.acl_leaks]
            out.append(f"{m.acl_leaks} ACL leak(s): {', '.join(leaky)}")
        if m.errors:
            failed = ", ".join(r.id for r in self.rows if r.error)
            out.append(f"{m.errors} item(s) failed with an error: {failed}")
        return out

    def to_table(self) -> str:
        """A plain-text table: one line per item, then the metrics."""
        head = (
            f"{'id':<5} {'user':<6} {'kind':<12} {'outcome':<9} {'ok':<3} "
            f"{'cites':>5} {'recall':>6} {'leaks':>5} {'ms':>7}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            outcome = "error" if r.error else ("refused" if r.refused else "answered")
            recall = "" if r.expected_recall is None else f"{r.expected_recall:.2f}"
            lines.append(
                f"{r.id:<5} {r.user:<6} {r.kind:<12} {outcome:<9} {'yes' if r.as_labelled else 'NO':<3} "
                f"{r.citations:>5} {recall:>6} {len(r.acl_leaks):>5} {r.latency_ms:>7.0f}"
            )
        lines.append("")
        for name, value in self.metrics.model_dump().items():
            shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
            lines.append(f"{name:<26} {shown}")
        failures = self.hard_failures()
        lines.append("")
        lines.append("HARD FAILURES: " + "; ".join(failures) if failures else "hard rules: pass")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- evaluation


def check_citation(citation: Citation, chunk_source: ChunkSource) -> str | None:
    """Why ``citation`` is invalid (``None`` if its quote is the stored text at its span)."""
    stored = chunk_source(citation.chunk_id)
    if stored is None:
        return f"chunk {citation.chunk_id} does not exist"
    if stored.document_id != citation.document_id:
        return f"chunk {citation.chunk_id} belongs to another document than {citation.document_id}"
    start, end = citation.span.start - stored.span.start, citation.span.end - stored.span.start
    if start < 0 or citation.span.end > stored.span.end or end <= start:
        return f"span {citation.span.start}-{citation.span.end} lies outside chunk {citation.chunk_id}"
    if stored.text[start:end] != citation.quote:
        return f"quote differs from the stored text at {citation.span.start}-{citation.span.end}"
    return None


def find_leaks(
    result: AgentResult,
    principal: Principal,
    chunk_source: ChunkSource,
    document_acl: Callable[[str], Sequence[str] | None] | None = None,
    forbidden_ids: Iterable[str] = (),
) -> list[str]:
    """Everything in ``result`` that references a chunk or document ``principal`` may not read.

    Checked against the ACL stored with each chunk (and document): every citation, and every
    id-shaped string anywhere in the result (answer, reason, warnings, steps, queries). Any
    mention of a document in ``forbidden_ids`` counts too.
    """
    leaks: list[str] = []
    forbidden = set(forbidden_ids)
    for n, c in enumerate(result.citations, start=1):
        stored = chunk_source(c.chunk_id)
        if stored is not None and not principal.may_read(stored.acl):
            leaks.append(f"citation [{n}] cites chunk {c.chunk_id} the user may not read")
        if document_acl is not None:
            acl = document_acl(c.document_id)
            if acl is not None and not principal.may_read(acl):
                leaks.append(f"citation [{n}] cites document {c.document_id} the user may not read")
        if c.document_id in forbidden:
            leaks.append(f"citation [{n}] cites forbidden document {c.document_id}")
    text = result.model_dump_json()
    for token in dict.fromkeys(m.group(0).lower() for m in _UUID.finditer(text)):
        if token == result.trace_id.lower():
            continue
        stored = chunk_source(token)
        if stored is not None and not principal.may_read(stored.acl):
            leaks.append(f"the result names chunk {token} the user may not read")
        if document_acl is not None:
            acl = document_acl(token)
            if acl is not None and not principal.may_read(acl):
                leaks.append(f"the result names document {token} the user may not read")
        if token in forbidden:
            leaks.append(f"the result names forbidden document {token}")
    return list(dict.fromkeys(leaks))


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def evaluate_golden(
    golden: GoldenSet,
    ask: Callable[[str, Principal], AgentResult],
    principals: Mapping[str, Principal],
    chunk_source: ChunkSource,
    *,
    document_acl: Callable[[str], Sequence[str] | None] | None = None,
    doc_id_of: Callable[[DocRef], str] = document_ref_id,
    clock: Callable[[], float] = time.perf_counter,
) -> GoldenReport:
    """Ask every item as its user and score the answers (see module docstring).

    An item whose user is not in ``principals`` is a configuration error (raised before any
    question is asked); an ``ask`` that raises is recorded as that item's error.
    """
    unknown = sorted({i.user for i in golden.items} - set(principals))
    if unknown:
        raise ConfigurationError(
            f"golden items are asked as users the users file does not have: {', '.join(unknown)}"
        )
    rows = [
        _evaluate_item(item, ask, principals[item.user], chunk_source, document_acl, doc_id_of, clock)
        for item in golden.items
    ]
    return GoldenReport(rows=tuple(rows), metrics=summarize(rows))


def _evaluate_item(
    item: GoldenItem,
    ask: Callable[[str, Principal], AgentResult],
    principal: Principal,
    chunk_source: ChunkSource,
    document_acl: Callable[[str], Sequence[str] | None] | None,
    doc_id_of: Callable[[DocRef], str],
    clock: Callable[[], float],
) -> GoldenRow:
    t0 = clock()
    try:
        result = ask(item.question, principal)
    except Exception as exc:  # one failing item must not hide the others' figures
        return GoldenRow(
            id=item.id,
            user=item.user,
            kind=item.kind,
            refused=False,
            as_labelled=False,
            error=f"{type(exc).__name__}: {exc}",
            latency_ms=(clock() - t0) * 1000,
        )
    latency = (clock() - t0) * 1000
    forbidden_ids = {doc_id_of(r) for r in item.forbidden}
    leaks = find_leaks(result, principal, chunk_source, document_acl, forbidden_ids)
    problems = {n: check_citation(c, chunk_source) for n, c in enumerate(result.citations, start=1)}
    invalid = tuple(f"[{n}] {why}" for n, why in problems.items() if why)
    cited = tuple(dict.fromkeys(c.document_id for c in result.citations))
    refused = result.refused
    recall: float | None = None
    refusal_ok: bool | None = None
    if item.kind == "answerable":
        met = [any(doc_id_of(r) in cited for r in e.refs) for e in item.expect]
        recall = 0.0 if refused else sum(met) / len(met)
    elif item.kind == "unanswerable":
        refusal_ok = refused
    else:
        refusal_ok = refused or (not leaks and not (set(cited) & forbidden_ids))
    supported = sum(
        1
        for s in result.sentences
        if s.citations
        and all(1 <= n <= len(result.citations) and problems.get(n) is None for n in s.citations)
    )
    stale = sum(c.stale for c in result.citations)
    warned = stale > 0 and any("out of date" in w for w in result.warnings)
    return GoldenRow(
        id=item.id,
        user=item.user,
        kind=item.kind,
        refused=refused,
        as_labelled=refused == item.must_refuse,
        refusal_ok=refusal_ok,
        cited_documents=cited,
        expected_recall=recall,
        citations=len(result.citations),
        invalid_citations=invalid,
        sentences=0 if refused else len(result.sentences),
        supported_sentences=0 if refused else supported,
        acl_leaks=tuple(leaks),
        stale_citations=stale,
        stale_warned=warned,
        latency_ms=latency,
    )


def summarize(rows: Sequence[GoldenRow]) -> GoldenMetrics:
    """The metrics over per-item rows (see :class:`GoldenMetrics`)."""
    ok_rows = [r for r in rows if r.error is None]
    citations = sum(r.citations for r in ok_rows)
    invalid = sum(len(r.invalid_citations) for r in ok_rows)
    sentences = sum(r.sentences for r in ok_rows)
    answerable = [r for r in ok_rows if r.kind == "answerable"]
    refusable = [r for r in ok_rows if r.refusal_ok is not None]
    latencies = [r.latency_ms for r in ok_rows]
    return GoldenMetrics(
        items=len(rows),
        citation_validity=1.0 if citations == 0 else (citations - invalid) / citations,
        supported_sentence_share=(
            None if sentences == 0 else sum(r.supported_sentences for r in ok_rows) / sentences
        ),
        refusal_accuracy=_mean([float(bool(r.refusal_ok)) for r in refusable]),
        false_refusal_rate=_mean([float(r.refused) for r in answerable]),
        expected_citation_recall=_mean([r.expected_recall or 0.0 for r in answerable]),
        acl_leaks=sum(len(r.acl_leaks) for r in rows),
        stale_citation_warnings=sum(r.stale_warned for r in ok_rows),
        labelled_behaviour=_mean([float(r.as_labelled) for r in rows]) or 0.0,
        errors=sum(r.error is not None for r in rows),
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
    )
