"""The one place that imports ``unstructured``: lazily, once per format, and offline.

Importing unstructured's partitioners takes seconds (spaCy, which imports torch through thinc), so
nothing is imported until a document of that format is parsed, and each partitioner is imported
once per process (:func:`partitioner` is cached).

Left alone, unstructured 0.27 reaches the network three ways; each is closed here, before the first
import:

- ``import unstructured`` sends a telemetry ping (``requests.get``, 10 s timeout) and every
  ``partition_*`` call schedules another, unless ``SCARF_NO_ANALYTICS`` or ``DO_NOT_TRACK`` is set.
  We set ``SCARF_NO_ANALYTICS`` when this module is imported, before anything here imports
  unstructured. (Code that imports unstructured before this module still pings: the process
  environment should set it too.) The usage notice, a log warning, is silenced the same way.
- Text classification (narrative text or title?) loads spaCy's ``en_core_web_sm``; when it is not
  installed, unstructured downloads the wheel from GitHub and installs it into site-packages. We
  give unstructured's tokenizer module the rule-based pipeline of :mod:`pipelines.parsing_nlp`
  instead, so ``spacy.load`` is never called.
- ``partition_html(url=...)`` and ``partition_md(url=...)`` fetch URLs; we only pass text.

The PDF partitioner is not used at all: see :mod:`pipelines.parsing_pdf`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

Partition = Callable[..., list[Any]]
"""A ``partition_*`` function of unstructured: keyword arguments in, elements out."""

# Any non-empty value opts out (an empty DO_NOT_TRACK would not, so this sets its own variable).
os.environ["SCARF_NO_ANALYTICS"] = "true"
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")

_offline_lock = threading.Lock()
_offline_ready = False


def _close_network_paths() -> None:
    """Replace unstructured's spaCy model download; idempotent and thread-safe."""
    global _offline_ready
    with _offline_lock:
        if _offline_ready:
            return
        from unstructured.nlp import tokenize

        from pipelines.parsing_nlp import rule_based_english

        # unstructured reaches the model only through this cached loader (word_tokenize, pos_tag
        # and sent_tokenize all call it), so replacing it is the whole seam. If a release renames
        # it, fail loudly here rather than let the first parse try to download a model.
        if not callable(getattr(tokenize, "_get_nlp", None)):
            raise RuntimeError(
                "unstructured.nlp.tokenize._get_nlp is gone: this unstructured release loads its "
                "spaCy model differently; update pipelines/parsing_unstructured.py"
            )
        pipeline = rule_based_english()
        tokenize._get_nlp = cache(lambda: pipeline)
        _offline_ready = True


@cache
def partitioner(name: str) -> Partition:
    """unstructured's partition function for ``name`` ("md", "html", "text", "docx"), offline."""
    _close_network_paths()
    if name == "md":
        from unstructured.partition.md import partition_md

        return partition_md
    if name == "html":
        from unstructured.partition.html import partition_html

        return partition_html
    if name == "text":
        from unstructured.partition.text import partition_text

        return partition_text
    if name == "docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx
    raise ValueError(f"no unstructured partitioner is used for {name!r}")
