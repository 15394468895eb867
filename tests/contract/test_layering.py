"""The server path never loads the embedded engines' code (and the analysis is shared, not copied)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_opensearch_store_does_not_import_tantivy() -> None:
    code = (
        "import sys, index.keywords_opensearch, index.generations_opensearch\n"
        "loaded = sorted(m for m in sys.modules if 'tantivy' in m)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_both_keyword_engines_take_their_analysis_from_one_module() -> None:
    from index import analysis, keywords_opensearch, keywords_tantivy

    assert keywords_opensearch.ANALYSIS is analysis.OPENSEARCH_ANALYSIS
    assert keywords_tantivy.SINGLE_CHARACTERS is analysis.SINGLE_CHARACTERS
    assert keywords_tantivy.body_text is analysis.body_text
