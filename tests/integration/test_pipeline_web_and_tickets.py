"""The web-page source against a local HTTP server (ETag, 304, 404), and the ticket source from JSONL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.acl import Principal
from core.embedding import Embedder
from core.settings import Settings, load_settings
from index.types import SearchFilter
from pipelines.backends import open_backend
from pipelines.ingest import list_failures, run_ingest
from tests.fixtures.pipeline.web_server import serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline"
PAGE = """<html><head><title>{title}</title></head><body><h1>{title}</h1>
<p>{body}</p></body></html>"""


def settings_for(root: Path, embedder: Embedder, sources: list[dict[str, object]]) -> Settings:
    return load_settings(
        backend={"data_dir": str(root / "var")},
        embedding=embedder.settings.model_dump(),
        pipeline={"sources": sources},
    )


def keyword_hits(settings: Settings, principal: Principal, text: str, source_id: str) -> list[str]:
    """Titles of the matching documents, best first, each once."""
    with open_backend(settings).readers() as stores:
        assert stores is not None
        hits = stores[1].search(text, SearchFilter.for_principal(principal, source_ids=(source_id,)), 10)
        return list(dict.fromkeys(h.chunk.title for h in hits))


def test_web_pages_are_fetched_conditionally(tmp_path: Path, embedder: Embedder) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    for name, title, body in (
        ("uptime.html", "Uptime report", "All warehouses reported 99.98 percent robot uptime in October."),
        (
            "outage.html",
            "Outage notice",
            "The fleet dashboard was unavailable for twelve minutes on Tuesday.",
        ),
        (
            "maint.html",
            "Maintenance window",
            "Firmware updates roll out on Sunday night between two and four.",
        ),
    ):
        (site_dir / name).write_text(PAGE.format(title=title, body=body))
    anyone = Principal(user_id="visitor")
    with serve(site_dir) as site:
        pages = ["uptime.html", "outage.html", "maint.html"]
        settings = settings_for(
            tmp_path,
            embedder,
            [
                {
                    "id": "status",
                    "kind": "web",
                    "urls": [site.url(p) for p in pages],
                    "default_acl": ["public"],
                }
            ],
        )
        first = run_ingest(settings, embedder=embedder).source("status")
        assert first.status == "ok", first.error
        assert first.summary is not None
        assert first.summary.added == 3
        assert site.count(200) == 3
        assert keyword_hits(settings, anyone, "robot uptime October", "status")[0] == "Uptime report"

        site.answers.clear()
        again = run_ingest(settings).source("status").summary
        assert again is not None
        assert (again.added, again.changed, again.chunks_embedded, again.chunks_written) == (0, 0, 0, 0)
        assert (site.count(200), site.count(304)) == (0, 3)  # validators: nothing downloaded

        site.answers.clear()
        (site_dir / "outage.html").write_text(
            PAGE.format(
                title="Outage notice", body="The fleet dashboard was down for forty minutes on Tuesday."
            )
        )
        (site_dir / "maint.html").unlink()
        changed = run_ingest(settings).source("status")
        s = changed.summary
        assert s is not None
        assert (s.changed, s.deleted, s.failed) == (1, 1, 1)  # the 404 is both a deletion and a failure
        assert site.count(200) == 1
        assert site.count(304) == 1
        assert site.count(404) == 1
        assert keyword_hits(settings, anyone, "forty minutes", "status") == ["Outage notice"]
        assert keyword_hits(settings, anyone, "firmware updates Sunday", "status") == []
        [gone] = list_failures(settings, "status")
        assert gone.locator == site.url("maint.html")
        assert gone.reason == "HTTP 404: the page is gone"
        assert changed.checks_passed, changed.checks


def test_a_stalled_page_times_out_as_a_failure_and_the_run_goes_on(
    tmp_path: Path, embedder: Embedder
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "ok.html").write_text(PAGE.format(title="Fleet news", body="Twelve new robots joined."))
    (site_dir / "stalled.html").write_text(PAGE.format(title="Never seen", body="This page hangs."))
    with serve(site_dir) as site:
        site.stall_s["stalled.html"] = 6.0  # longer than timeout_s, shorter than the default
        settings = settings_for(
            tmp_path,
            embedder,
            [
                {
                    "id": "status",
                    "kind": "web",
                    "urls": [site.url("ok.html"), site.url("stalled.html")],
                    "default_acl": ["public"],
                    "timeout_s": 1.0,
                }
            ],
        )
        run = run_ingest(settings, embedder=embedder).source("status")
        assert run.status == "ok", run.error
        assert run.summary is not None
        assert (run.summary.added, run.summary.failed) == (1, 1)
        [stalled] = list_failures(settings, "status")
        assert stalled.locator == site.url("stalled.html")
        assert stalled.reason.startswith("timed out"), stalled.reason
        assert keyword_hits(settings, Principal(user_id="v"), "new robots", "status") == ["Fleet news"]


def test_tickets_from_jsonl_with_acls_and_failures(tmp_path: Path, embedder: Embedder) -> None:
    export = Path(shutil.copy(FIXTURES / "tickets.jsonl", tmp_path / "tickets.jsonl"))
    settings = settings_for(
        tmp_path,
        embedder,
        [{"id": "support", "kind": "tickets", "path": str(export), "default_acl": ["group:support"]}],
    )
    first = run_ingest(settings, embedder=embedder).source("support")
    assert first.status == "ok", first.error
    assert first.summary is not None
    assert (first.summary.added, first.summary.failed) == (2, 7)
    failures = {f.locator: f.reason for f in list_failures(settings, "support")}
    assert failures["tickets.jsonl:3"].startswith("line 3: invalid JSON")
    assert failures["T-5"].startswith("line 6:")
    alice = Principal(user_id="alice")
    stranger = Principal(user_id="mallory", groups=("sales",))
    assert keyword_hits(settings, alice, "printer fire fuser", "support") == ["Printer on fire"]
    assert keyword_hits(settings, stranger, "printer fire fuser", "support") == []

    # revoke alice on T-1 (ACL only: no embedding), fix T-4, drop ticket 2
    lines = export.read_text().splitlines()
    t1 = json.loads(lines[0])
    t1["acl"] = ["group:support"]
    lines[0] = json.dumps(t1)
    lines[1] = ""
    lines[4] = json.dumps(
        {"id": "T-4", "title": "Fixed title", "body": "The badge reader at the loading dock beeps twice."}
    )
    export.write_text("\n".join(lines) + "\n")
    second = run_ingest(settings).source("support")
    s = second.summary
    assert s is not None
    assert (s.acl_changed, s.added, s.deleted, s.failed) == (1, 1, 1, 6)
    assert s.chunks_written > 0  # the fixed ticket
    assert keyword_hits(settings, alice, "printer fire fuser", "support") == []
    assert keyword_hits(
        settings, Principal(user_id="sam", groups=("support",)), "badge reader dock", "support"
    ) == ["Fixed title"]
    assert second.checks_passed, second.checks
