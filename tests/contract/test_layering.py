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


# Which first-party packages each package may import. `api.cli` is the composition root of the
# `groundwork` command and may start the pipeline (`groundwork ingest`), and `groundwork doctor`
# checks the pipeline's offline parsing; nothing else crosses over.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "index": {"core"},
    "retrieval": {"core", "index"},
    "agent": {"core", "index", "retrieval"},
    "api": {"core", "index", "retrieval", "agent"},
    "pipelines": {"core", "index", "retrieval", "agent"},
}
COMPOSITION_ROOTS = {"api/cli.py": {"pipelines"}, "api/doctor.py": {"pipelines"}}


def _imported_packages(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(ALLOWED)


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            extra = COMPOSITION_ROOTS.get(rel, set())
            for imported in _imported_packages(path) - allowed - extra - {package}:
                wrong.append(f"{rel} imports {imported}")
    assert not wrong, "\n".join(wrong)
