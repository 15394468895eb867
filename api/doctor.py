"""Installation checks behind ``groundwork doctor``: each one exercises a real part, offline."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def _timed(name: str, fn: Callable[[], str]) -> CheckResult:
    start = time.monotonic()
    try:
        detail = fn()
    except Exception as exc:  # a doctor reports every failure, whatever its type
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")
    return CheckResult(name, True, f"{detail} ({time.monotonic() - start:.1f}s)")


def run_checks(settings: Settings) -> Iterator[CheckResult]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield CheckResult(
        "settings",
        True,
        f"mode={settings.backend.mode}, data_dir={settings.backend.data_dir}, "
        f"sources={len(settings.pipeline.sources)}",
    )

    from core.embedding import Embedder

    embedder = Embedder(settings.embedding)

    def model() -> str:
        v = embedder.encode_query("groundwork doctor")
        return f"{embedder.model_id}: {v.shape[0]}-d, max {embedder.max_tokens} tokens"

    yield _timed("embedding model (offline)", model)
    yield from _parsing_checks()


def _parsing_checks() -> Iterator[CheckResult]:
    from pipelines.parsing import parse_file

    root = Path(__file__).resolve().parents[1] / "examples" / "corpus"
    if not root.is_dir():
        yield CheckResult("parsing", False, f"demo corpus not found at {root}")
        return
    for ext in ("md", "html", "txt", "pdf", "docx"):
        sample = next(iter(sorted(root.rglob(f"*.{ext}"))), None)
        if sample is None:
            yield CheckResult(f"parse .{ext}", False, "no demo file of this format")
            continue

        def parse(path: Path = sample) -> str:
            doc = parse_file(path)
            return f"{path.name}: {len(doc.text)} chars"

        yield _timed(f"parse .{ext} (offline)", parse)


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="groundwork-doctor-")
