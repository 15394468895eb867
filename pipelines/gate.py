"""The promotion gate: a new index generation goes live only if it is not worse than the live one.

Before :mod:`pipelines.promotion` swaps the live pointer (or aliases), :func:`evaluate_promotion`
scores the candidate generation on the golden set (``evaluation.golden_file``):

1. **Retrieval metric** (``evaluation.gate.metric``, nDCG@10 by default) over the golden set's
   answerable questions, each searched *as its user* (the same ACL filter the API applies), with
   the expected documents as relevance-1 qrels; document scores are the best chunk's (MaxP), as
   in the evaluation CLI, and the metric is trec_eval's (:mod:`retrieval.evaluation.metrics`).
   The same is computed on the live generation; the live figure is cached per live generation
   id (embedded generations never change once written), and the candidate's own figure is
   cached under its id, so after a promotion the next run finds the live figure ready.
2. **Answer-level hard rules** on the candidate: the agent answers every golden item over the
   candidate's stores, and :func:`agent.golden.evaluate_golden` checks each citation against the
   chunk text the candidate is meant to hold (the committed manifest plus the staged plan, never
   the agent's own reads) and every id in each answer against its stored ACL: citation validity
   must be 1.00, ACL leaks 0, and no item may fail with an error.

The candidate is blocked when its metric is below the live one by more than
``evaluation.gate.tolerance``, or a hard rule fails. ``allow_regression`` (``groundwork ingest
--allow-regression``, the ``live_generation`` run config) promotes despite a metric regression,
recorded as ``gate_overridden``; hard-rule failures are overridden only when
``evaluation.gate.override_hard_rules`` is also set, a deliberate settings change.

The gate runs without the writer lock (:mod:`pipelines.promotion` re-checks, under the lock,
that what it evaluated is still what would be swapped). It only reads: both generations through
read-only stores (which also keep a concurrent garbage collection off the candidate while it is
open), the manifest and the staged plan; its one write is the figure cache, replaced atomically
(two gates racing may lose an entry, which is then computed again).

Cost stays bounded: query vectors come from the embedding cache (``Embedder.encode``), chunks are
never re-embedded, and the figures are computed once per generation. Nothing the gate reports
(metadata, check text) names a document, chunk, title or text: only golden item ids, user ids,
counts and figures, so a golden item about a document its user may not read cannot leak it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from agent.chunk_fetch import StoreChunkReader
from agent.evidence import DocumentRecord, SourceRecord
from agent.factory import build_agent
from agent.golden import GoldenReport, GoldenSet, StoredChunk, evaluate_golden, load_golden
from core.acl import Principal
from core.embedding import PACKAGED_MODEL_ID, Embedder
from core.errors import ConfigurationError, ModelLoadError
from core.models import Chunk
from core.settings import PACKAGED_MINILM, BackendMode, Settings
from index.types import GenerationInfo, KeywordStore, SearchFilter, VectorStore
from pipelines.backends import EmbeddedBackend, ServerBackend, pipeline_dir
from pipelines.manifest import Manifest, utcnow
from pipelines.progress import Metadata
from pipelines.staging import PlanStore
from pipelines.writes import rebuild_chunks
from retrieval.evaluation.metrics import per_query
from retrieval.hybrid import HybridRetriever

log = logging.getLogger(__name__)

# the gate's metric names (trec_eval's, as in GateSettings) -> retrieval.evaluation.metrics names
METRIC_NAMES = {
    "ndcg_cut_10": "ndcg@10",
    "recall_10": "recall@10",
    "recall_100": "recall@100",
    "recip_rank": "mrr@10",
    "map": "map",
}
CACHE_ENTRIES = 64  # live figures kept (one per generation x golden set x settings)


class GateOutcome(StrEnum):
    PASSED = "passed"
    BLOCKED = "blocked"
    OVERRIDDEN = "overridden"
    NOT_GATED = "not gated"


@dataclass(frozen=True)
class RetrievalFigure:
    """The gate metric over the golden set's answerable items, overall and per item."""

    value: float
    per_item: dict[str, float]
    cached: bool = False


@dataclass
class GateDecision:
    """What the gate decided about one candidate generation, and the numbers it decided on."""

    outcome: GateOutcome
    reason: str
    metric: str = ""
    tolerance: float = 0.0
    candidate_generation: str | None = None
    live_generation: str | None = None
    candidate: RetrievalFigure | None = None
    live: RetrievalFigure | None = None
    failed_rules: list[str] = field(default_factory=list)
    answer_metrics: dict[str, float | int] = field(default_factory=dict)
    item_users: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per part of the evaluation

    @property
    def blocks(self) -> bool:
        return self.outcome is GateOutcome.BLOCKED

    @property
    def passed(self) -> bool:
        """The check's verdict: an overridden gate still fails its check (the numbers stay red)."""
        return self.outcome in (GateOutcome.PASSED, GateOutcome.NOT_GATED)

    def describe(self) -> str:
        if self.outcome is GateOutcome.NOT_GATED:
            return f"not gated: {self.reason}"
        figures = ""
        if self.candidate is not None:
            live = f"{self.live.value:.4f}" if self.live is not None else "n/a"
            figures = (
                f" ({self.metric}: candidate {self.candidate.value:.4f}, live {live}, "
                f"tolerance {self.tolerance})"
            )
        head = {
            GateOutcome.PASSED: "candidate passed the promotion gate",
            GateOutcome.BLOCKED: "promotion blocked: the live generation stays",
            GateOutcome.OVERRIDDEN: "promoted despite the gate (override)",
        }[self.outcome]
        rules = f": {'; '.join(self.failed_rules)}" if self.failed_rules else ""
        return f"{head}{figures}{rules}"

    def metadata(self) -> Metadata:
        """Asset and check metadata: figures, rules and golden item ids only (never document data)."""
        out: Metadata = {
            "gate": self.outcome.value,
            "gate_overridden": self.outcome is GateOutcome.OVERRIDDEN,
            "gate reason": self.reason,
        }
        if self.outcome is GateOutcome.NOT_GATED:
            return out
        out["gate metric"] = self.metric
        out["gate tolerance"] = self.tolerance
        out["gate candidate generation"] = self.candidate_generation or "none"
        out["gate live generation"] = self.live_generation or "none"
        if self.candidate is not None:
            out[f"gate candidate {self.metric}"] = round(self.candidate.value, 4)
        out[f"gate live {self.metric}"] = round(self.live.value, 4) if self.live is not None else "n/a"
        out["gate live figure cached"] = self.live.cached if self.live is not None else False
        if self.candidate is not None and self.live is not None:
            out[f"gate {self.metric} change"] = round(self.candidate.value - self.live.value, 4)
        out["gate failed rules"] = "; ".join(self.failed_rules) or "none"
        for name, value in self.answer_metrics.items():
            out[f"gate {name.replace('_', ' ')}"] = value
        out["gate seconds"] = round(self.seconds, 3)
        for part, seconds in self.timings.items():
            out[f"gate seconds ({part})"] = round(seconds, 3)
        if self.candidate is not None:
            out["gate per item"] = self.per_item_table()
        return out

    def per_item_table(self) -> str:
        """A markdown table of the metric per golden item, candidate vs live, worst change first."""
        assert self.candidate is not None
        live = self.live.per_item if self.live is not None else {}
        rows = sorted(
            self.candidate.per_item.items(),
            key=lambda kv: (kv[1] - live.get(kv[0], kv[1]), kv[0]),
        )
        lines = [f"| item | user | candidate {self.metric} | live {self.metric} |", "|---|---|---:|---:|"]
        for item, value in rows:
            shown = f"{live[item]:.4f}" if item in live else "n/a"
            lines.append(f"| {item} | {self.item_users.get(item, '')} | {value:.4f} | {shown} |")
        return "\n".join(lines)


def not_gated(reason: str) -> GateDecision:
    return GateDecision(GateOutcome.NOT_GATED, reason)


# --------------------------------------------------------------------------- principals


def load_principals(path: Path) -> dict[str, Principal]:
    """User id -> principal from the users file (``api.users_file``), as the API resolves them:
    each user's ``groups`` plus the top-level ``groups: {name: [members]}`` section.

    (The API's own directory lives in ``api``, which pipelines must not import; only ids and
    groups are read here, never key hashes.)
    """
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"api.users_file {path} does not exist: the gate asks golden questions as its users"
        ) from None
    if not isinstance(raw, dict) or "users" not in raw:
        raise ConfigurationError(f"users file {path}: expected a mapping with a 'users' key")
    entries = raw["users"]
    if isinstance(entries, dict):
        entries = [{"id": k, **(v or {})} for k, v in entries.items()]
    groups: dict[str, set[str]] = {}
    for entry in entries or ():
        user = str(entry.get("id") or entry.get("user_id") or entry.get("user"))
        own = entry.get("groups") or ()
        groups.setdefault(user, set()).update([own] if isinstance(own, str) else [str(g) for g in own])
    for name, value in (raw.get("groups") or {}).items():
        members = value.get("members", ()) if isinstance(value, dict) else value
        for member in members or ():
            if str(member) in groups:
                groups[str(member)].add(str(name))
    return {user: Principal(user_id=user, groups=tuple(g)) for user, g in groups.items()}


# --------------------------------------------------------------------------- retrieval figure


def golden_retrieval(
    golden: GoldenSet,
    principals: Mapping[str, Principal],
    retriever: HybridRetriever,
    query_vectors: Mapping[str, Any],
    metric: str,
    *,
    as_of: datetime,
) -> RetrievalFigure:
    """``metric`` over the answerable items, each searched as its user (MaxP document scores)."""
    qrels = golden.qrels()
    run: dict[str, dict[str, float]] = {}
    for item in golden.items:
        if item.kind != "answerable":
            continue
        flt = SearchFilter.for_principal(principals[item.user])
        hits = retriever.retrieve(item.question, flt, query_vector=query_vectors[item.id])
        docs: dict[str, float] = {}
        for ranked in retriever.rank(item.question, hits, as_of=as_of):
            doc = ranked.chunk.document_id
            docs[doc] = max(docs.get(doc, float("-inf")), float(ranked.score))
        run[item.id] = docs
    rows = per_query(qrels, run)
    name = METRIC_NAMES[metric]
    values = {q: row[name] for q, row in rows.items()}
    return RetrievalFigure(sum(values.values()) / len(values) if values else 0.0, values)


# --------------------------------------------------------------------------- the candidate's content


class CandidateContent:
    """What the candidate generation is meant to hold: the committed manifest with the staged plan
    applied (the chunks a rebuild would write). The ground truth citations and ACLs are checked
    against, read without the agent or the engines."""

    def __init__(self, manifest: Manifest, store: PlanStore, settings: Settings) -> None:
        planned = store.documents()
        indexed = manifest.documents(store.source_id)
        self._chunks: dict[str, Chunk] = {}
        self._documents: dict[str, Chunk] = {}
        for chunk in rebuild_chunks(manifest, store, planned, indexed):
            self._chunks[chunk.id] = chunk
            self._documents.setdefault(chunk.document_id, chunk)
        self._kinds = {s.id: s.kind for s in settings.pipeline.sources}

    def __call__(self, chunk_id: str) -> StoredChunk | None:
        chunk = self._chunks.get(chunk_id)
        if chunk is None:
            return None
        return StoredChunk(chunk.id, chunk.document_id, chunk.text, chunk.span, chunk.acl)

    def document_acl(self, document_id: str) -> tuple[str, ...] | None:
        chunk = self._documents.get(document_id)
        return chunk.acl if chunk is not None else None

    def source_records(self) -> list[SourceRecord]:
        """The agent's source catalog for the candidate (its documents' ACLs and dates)."""
        docs: dict[str, list[DocumentRecord]] = {}
        for chunk in self._documents.values():
            docs.setdefault(chunk.source_id, []).append(
                DocumentRecord(document_id=chunk.document_id, acl=chunk.acl, updated_at=chunk.updated_at)
            )
        now = utcnow()
        return [
            SourceRecord(
                source_id=sid,
                kind=kind,
                last_indexed_at=now if sid in docs else None,
                documents=tuple(docs.get(sid, ())),
            )
            for sid, kind in self._kinds.items()
        ]


# --------------------------------------------------------------------------- figure cache


class FigureCache:
    """Gate figures by (generation, golden set, users, metric, retrieval settings, model), in a
    JSON file under ``data_dir/pipeline/gate``; written atomically (a crash leaves the old file)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "figures.json"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> RetrievalFigure | None:
        entry = self._load().get(key)
        if not isinstance(entry, dict):
            return None
        return RetrievalFigure(
            float(entry["value"]), {k: float(v) for k, v in entry["per_item"].items()}, True
        )

    def put(self, key: str, figure: RetrievalFigure) -> None:
        data = self._load()
        data.pop(key, None)
        data[key] = {"value": figure.value, "per_item": figure.per_item, "at": utcnow().isoformat()}
        keep = dict(list(data.items())[-CACHE_ENTRIES:])  # insertion order: oldest first
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".figures-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(keep, fh)
        os.replace(tmp, self.path)


def _digest(path: Path | None) -> str:
    if path is None or not Path(path).is_file():
        return "none"
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def figure_key(settings: Settings, generation_id: str, model_id: str) -> str:
    parts = {
        "generation": generation_id,
        "golden": _digest(settings.evaluation.golden_file),
        "users": _digest(settings.api.users_file),
        "metric": settings.evaluation.gate.metric,
        "retrieval": settings.retrieval.model_dump(mode="json"),
        "model": model_id,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- the gate


def evaluate_promotion(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    store: PlanStore,
    embedder: Embedder,
    *,
    candidate: str,
    live: GenerationInfo | None,
    allow_regression: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``live`` (see the module docstring).

    Fails closed: a golden set or users file that cannot be read, or an evaluation that raises,
    blocks the candidate (with the reason) rather than promoting an unevaluated generation.
    """
    started = clock()
    gate = settings.evaluation.gate
    if not gate.enabled:
        return not_gated("the gate is disabled (evaluation.gate.enabled = false)")
    golden_file = settings.evaluation.golden_file
    decision = GateDecision(
        GateOutcome.PASSED,
        "",
        metric=gate.metric,
        tolerance=gate.tolerance,
        candidate_generation=candidate,
        live_generation=live.id if live is not None else None,
    )
    if golden_file is None:
        if not gate.require_golden:
            return not_gated("no golden set configured (evaluation.golden_file): promoted without evaluation")
        decision.failed_rules.append(
            "no golden set configured and evaluation.gate.require_golden is true: "
            "set evaluation.golden_file (GW_EVALUATION__GOLDEN_FILE)"
        )
        return _decide(decision, gate.override_hard_rules, allow_regression, started, clock, hard=True)
    try:
        golden = load_golden(golden_file)
        if settings.api.users_file is None:
            raise ConfigurationError(
                "the golden set is asked as its users, but api.users_file (GW_API__USERS_FILE) is not set"
            )
        principals = load_principals(settings.api.users_file)
        unknown = sorted({i.user for i in golden.items} - set(principals))
        if unknown:
            raise ConfigurationError(
                f"golden items are asked as users the users file lacks: {', '.join(unknown)}"
            )
    except ConfigurationError as exc:
        decision.failed_rules.append(f"cannot evaluate: {exc}")
        return _decide(decision, gate.override_hard_rules, allow_regression, started, clock, hard=True)
    decision.item_users = {i.id: i.user for i in golden.items if i.kind == "answerable"}
    try:
        report = _evaluate(settings, backend, manifest, store, embedder, golden, principals, decision, live)
    except Exception as exc:  # fail closed; the message goes to the run log only
        log.exception("promotion gate: evaluating generation %s failed", candidate)
        decision.failed_rules.append(
            f"cannot evaluate: the evaluation raised {type(exc).__name__} (see the run log)"
        )
        return _decide(decision, gate.override_hard_rules, allow_regression, started, clock, hard=True)
    m = report.metrics
    decision.answer_metrics = {
        "golden items": m.items,
        "citation validity": round(m.citation_validity, 4),
        "acl leaks": m.acl_leaks,
        "answer errors": m.errors,
        "labelled behaviour": round(m.labelled_behaviour, 4),
    }
    hard = report.hard_failures()
    decision.failed_rules.extend(hard)
    regression = (
        decision.candidate is not None
        and decision.live is not None
        and decision.candidate.value < decision.live.value - gate.tolerance
    )
    if regression:
        assert decision.candidate is not None
        assert decision.live is not None
        decision.failed_rules.insert(
            0,
            f"{gate.metric} {decision.candidate.value:.4f} is below the live generation's "
            f"{decision.live.value:.4f} by more than the tolerance {gate.tolerance}",
        )
    return _decide(decision, gate.override_hard_rules, allow_regression, started, clock, hard=bool(hard))


def _decide(
    decision: GateDecision,
    override_hard_rules: bool,
    allow_regression: bool,
    started: float,
    clock: Callable[[], float],
    *,
    hard: bool,
) -> GateDecision:
    if not decision.failed_rules:
        decision.outcome = GateOutcome.PASSED
        decision.reason = "no rule failed"
    elif allow_regression and (not hard or override_hard_rules):
        decision.outcome = GateOutcome.OVERRIDDEN
        decision.reason = "allow_regression (groundwork ingest --allow-regression) promoted it anyway"
    else:
        decision.outcome = GateOutcome.BLOCKED
        if hard:
            decision.reason = (
                "an answer-level hard rule failed: fix the cause (--allow-regression overrides "
                "it only with evaluation.gate.override_hard_rules = true)"
            )
        else:
            decision.reason = (
                "the retrieval metric regressed: rerun with --allow-regression (run config: "
                "ops.live_generation.config.allow_regression) to promote anyway"
            )
    decision.seconds = clock() - started
    return decision


def _evaluate(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    manifest: Manifest,
    store: PlanStore,
    embedder: Embedder,
    golden: GoldenSet,
    principals: Mapping[str, Principal],
    decision: GateDecision,
    live: GenerationInfo | None,
) -> GoldenReport:
    """Fill ``decision``'s figures; return the candidate's answer-level report."""
    metric = settings.evaluation.gate.metric
    cache = FigureCache(pipeline_dir(settings) / "gate")
    # embedded generations are immutable once written; server ones take incremental writes
    cacheable = backend.mode is BackendMode.EMBEDDED
    questions = {i.id: i.question for i in golden.items if i.kind == "answerable"}
    as_of = utcnow()
    candidate = decision.candidate_generation
    assert candidate is not None
    with generation_stores(backend, candidate) as (vectors, keywords):
        retriever = HybridRetriever.from_settings(
            settings, vectors=vectors, keywords=keywords, embedder=embedder
        )
        try:
            t0 = time.perf_counter()
            decision.candidate = golden_retrieval(
                golden, principals, retriever, _query_vectors(embedder, questions), metric, as_of=as_of
            )
            decision.timings["candidate retrieval"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            content = CandidateContent(manifest, store, settings)
            agent = build_agent(
                settings,
                searcher=retriever,
                chunks=StoreChunkReader([vectors, keywords]),
                sources=content,
                embedder=embedder,
            )
            report = evaluate_golden(
                golden, lambda q, p: agent.run(q, p), principals, content, document_acl=content.document_acl
            )
            decision.timings["candidate answers"] = time.perf_counter() - t0
        finally:
            retriever.close()
    if cacheable:
        cache.put(figure_key(settings, candidate, embedder.model_id), decision.candidate)
    if live is not None:
        t0 = time.perf_counter()
        decision.live = _live_figure(
            settings, backend, embedder, golden, principals, live, cache, cacheable, as_of
        )
        decision.timings["live retrieval"] = time.perf_counter() - t0
    return report


def _live_figure(
    settings: Settings,
    backend: EmbeddedBackend | ServerBackend,
    embedder: Embedder,
    golden: GoldenSet,
    principals: Mapping[str, Principal],
    live: GenerationInfo,
    cache: FigureCache,
    cacheable: bool,
    as_of: datetime,
) -> RetrievalFigure | None:
    live_embedder = _embedder_for(settings, embedder, live.embedding_model)
    if live_embedder is None:
        return None
    key = figure_key(settings, live.id, live_embedder.model_id)
    if cacheable:
        cached = cache.get(key)
        if cached is not None:
            return cached
    questions = {i.id: i.question for i in golden.items if i.kind == "answerable"}
    with generation_stores(backend, live.id) as (vectors, keywords):
        retriever = HybridRetriever.from_settings(
            settings, vectors=vectors, keywords=keywords, embedder=live_embedder
        )
        try:
            figure = golden_retrieval(
                golden,
                principals,
                retriever,
                _query_vectors(live_embedder, questions),
                settings.evaluation.gate.metric,
                as_of=as_of,
            )
        finally:
            retriever.close()
    if cacheable:
        cache.put(key, figure)
    return figure


def _query_vectors(embedder: Embedder, questions: Mapping[str, str]) -> dict[str, Any]:
    """Query vectors through the embedding cache: a golden question is embedded once, ever."""
    ids = list(questions)
    vectors = embedder.encode([questions[i] for i in ids])
    return {i: vectors[n] for n, i in enumerate(ids)}


def _embedder_for(settings: Settings, embedder: Embedder, model_id: str) -> Embedder | None:
    """An embedder for ``model_id`` (the live generation's model when the run changed models)."""
    if model_id == embedder.model_id:
        return embedder
    name = PACKAGED_MINILM if model_id == PACKAGED_MODEL_ID else model_id.removeprefix("path:")
    try:
        other = Embedder(settings.embedding.model_copy(update={"model": name}))
        if other.model_id != model_id:
            return None
        other.model  # noqa: B018 - load now, so a missing model is reported here
        return other
    except ModelLoadError:
        log.warning("promotion gate: cannot load the live generation's model %s; no live figure", model_id)
        return None


@contextlib.contextmanager
def generation_stores(
    backend: EmbeddedBackend | ServerBackend, generation_id: str
) -> Iterator[tuple[VectorStore, KeywordStore]]:
    """Read-only stores of one generation, closed on exit; a generation that vanished is an
    error (the gate fails closed)."""
    with backend.readers(generation_id=generation_id) as stores:
        if stores is None:
            raise LookupError(f"generation {generation_id} does not exist")
        yield stores
