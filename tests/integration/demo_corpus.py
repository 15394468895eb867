"""The Northwind demo corpus (examples/) ingested by the real pipeline into a temp folder.

The status pages are served from examples/web on a free local port; their document ids derive
from the URL, so :meth:`DemoCorpus.web_url` maps the URLs in examples/ (127.0.0.1:8765) to it.
"""

from __future__ import annotations

import functools
import http.server
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.embedding import Embedder
from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
USERS_FILE = REPO / "examples" / "users.yaml"
EXAMPLE_WEB = "http://127.0.0.1:8765"


@dataclass(frozen=True)
class DemoCorpus:
    settings: Settings
    web: str  # base URL the status pages were served from

    def web_url(self, url: str) -> str:
        """A status-page URL as written in examples/ -> the URL this ingest recorded."""
        return url.replace(EXAMPLE_WEB, self.web)


def demo_settings(data_dir: Path, web_url: str) -> Settings:
    raw = tomllib.loads((REPO / "examples" / "groundwork.toml").read_text(encoding="utf-8"))
    raw["backend"]["data_dir"] = str(data_dir)
    raw["api"] = {**raw.get("api", {}), "users_file": str(USERS_FILE), "rate_limit_per_minute": 10_000}
    for source in raw["pipeline"]["sources"]:
        if "path" in source:
            source["path"] = str(REPO / source["path"])
        if "urls" in source:
            source["urls"] = [u.replace(EXAMPLE_WEB, web_url) for u in source["urls"]]
    return Settings(**raw)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def ingested_demo(data_dir: Path, embedder: Embedder) -> Iterator[DemoCorpus]:
    from pipelines.ingest import run_ingest

    handler = functools.partial(_QuietHandler, directory=str(REPO / "examples" / "web"))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{web.server_address[1]}"
        settings = demo_settings(data_dir, base)
        report = run_ingest(settings, embedder=embedder)
        assert all(s.status == "ok" for s in report.sources), [(s.source_id, s.error) for s in report.sources]
        yield DemoCorpus(settings, base)
    finally:
        web.shutdown()
        web.server_close()
