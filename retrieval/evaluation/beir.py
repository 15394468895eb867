"""Loading BEIR-layout datasets: ``corpus.jsonl[.gz]``, ``queries.jsonl``, ``qrels/<split>.tsv``.

The layout is the one every public IR benchmark ships in (and the one in ../shared/datasets):
corpus lines ``{"_id", "title", "text"}``, query lines ``{"_id", "text"}``, and a tab-separated
qrels file with a header (``query-id, corpus-id, score``). Only queries with at least one
positive judgment in the split are evaluated, as BEIR and the reference runs do.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class BeirDocument:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    """A corpus, the judged queries of one split, and their relevance judgments."""

    name: str
    root: Path
    split: str
    corpus: dict[str, BeirDocument]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def sample(self, n: int, *, seed: int = 0) -> BeirDataset:
        """``n`` of the judged queries drawn at random (seeded: the same draw every run)."""
        if n >= len(self.queries):
            return self
        rng = random.Random(f"{self.name}/{self.split}/{seed}")
        return self.subset(sorted(rng.sample(sorted(self.queries), n)))

    def subset(self, query_ids: list[str]) -> BeirDataset:
        """The same corpus with only ``query_ids`` (for quick runs and regression gates)."""
        keep = [q for q in query_ids if q in self.queries]
        return BeirDataset(
            self.name,
            self.root,
            self.split,
            self.corpus,
            {q: self.queries[q] for q in keep},
            {q: self.qrels[q] for q in keep},
        )


def _lines(path: Path) -> Iterator[dict[str, object]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigurationError(f"{path}:{n}: not a JSON line ({exc.msg})") from exc


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (root / name).is_file():
            return root / name
    raise ConfigurationError(f"{root} is not a BEIR dataset: no {stem}.jsonl or {stem}.jsonl.gz")


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query -> doc -> grade`` from a TSV with a header line."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if len(header) < 3 or header[0].strip().lower() not in ("query-id", "query_id", "qid"):
            raise ConfigurationError(f"{path}: expected a header 'query-id<TAB>corpus-id<TAB>score'")
        for n, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise ConfigurationError(f"{path}:{n}: expected 3 tab-separated fields")
            qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    return qrels


def load_beir(root: Path | str, split: str = "test") -> BeirDataset:
    """Load a BEIR-layout folder; the queries are those of ``split`` with a positive judgment."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigurationError(f"dataset folder {root} does not exist")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise ConfigurationError(
            f"{root} has no qrels for split {split!r} (has: {', '.join(have) or 'none'})"
        )
    corpus = {
        str(d["_id"]): BeirDocument(str(d["_id"]), str(d.get("title") or ""), str(d.get("text") or ""))
        for d in _lines(_find(root, "corpus"))
    }
    all_queries = {str(q["_id"]): str(q["text"]) for q in _lines(_find(root, "queries"))}
    qrels = {
        q: judged
        for q, judged in read_qrels(qrels_path).items()
        if q in all_queries and any(g > 0 for g in judged.values())
    }
    return BeirDataset(
        name=root.name,
        root=root,
        split=split,
        corpus=corpus,
        queries={q: all_queries[q] for q in qrels},
        qrels=qrels,
    )


def merge_splits(parts: Sequence[BeirDataset]) -> BeirDataset:
    """One dataset holding the judged queries of several splits of one corpus (indexed once).

    The split is named ``"train+test"`` and so on; each part's own qrels stay available to
    score it separately (:meth:`retrieval.evaluation.runner.EvalSession.reports`).
    """
    if not parts:
        raise ValueError("merge_splits needs at least one split")
    first = parts[0]
    if any(p.root != first.root for p in parts):
        raise ValueError("merge_splits: the splits come from different datasets")
    clash = set(first.queries)
    for p in parts[1:]:
        if clash & set(p.queries):
            raise ConfigurationError(
                f"{first.root}: splits {first.split!r} and {p.split!r} share query ids; "
                "evaluate them one at a time"
            )
        clash |= set(p.queries)
    return BeirDataset(
        name=first.name,
        root=first.root,
        split="+".join(p.split for p in parts),
        corpus=first.corpus,
        queries={q: t for p in parts for q, t in p.queries.items()},
        qrels={q: j for p in parts for q, j in p.qrels.items()},
    )
