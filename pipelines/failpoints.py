"""Named crash points, so tests can kill a run exactly where crash safety is hardest.

``GW_PIPELINE_FAILPOINT=<name>[:<n>][:raise]`` makes the n-th time (default: the first) the run
passes :func:`failpoint` ``(<name>)`` kill the process with SIGKILL (no cleanup, no ``finally``,
no flush: what a power cut or the OOM killer does), or raise :class:`InjectedCrashError` with
``:raise`` (for in-process tests whose engines cannot survive their process, such as
qdrant-client's ``:memory:`` mode). Unset, a failpoint costs one dictionary lookup.

The points (see where they are called): ``after-listing``, ``after-parse``, ``after-chunk``,
``mid-embed``, ``after-generation-created``, ``between-stores`` (a batch is in the vector store,
not yet in the keyword store), ``mid-write`` (after each batch), ``before-promote``,
``after-promote``, ``after-commit``.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "GW_PIPELINE_FAILPOINT"
_passes: Counter[str] = Counter()


class InjectedCrashError(RuntimeError):
    """Raised by a failpoint configured with ``:raise``."""


def failpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    parts = spec.split(":")
    if parts[0] != name:
        return
    nth = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1
    _passes[name] += 1
    if _passes[name] != nth:
        return
    if "raise" in parts[1:]:
        raise InjectedCrashError(f"failpoint {name} (pass {nth})")
    os.kill(os.getpid(), signal.SIGKILL)


def reset() -> None:
    """Forget how often each point was passed (tests that raise several times in one process)."""
    _passes.clear()
