"""The Dagster side: definitions load, the schedule and the sensor evaluate, the webserver serves
the graph over GraphQL, and a run launched through it (as the UI does) succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from core.settings import Settings, load_settings
from pipelines.assets import ASSET_NAMES
from pipelines.definitions import JOB_NAME, build_definitions, defs
from pipelines.manifest import Manifest
from pipelines.resources import GroundworkResource
from pipelines.schedules import schedule_name
from pipelines.sensors import SENSOR_NAME

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "pipeline" / "corpus"
CHECKS = {
    "stores_match_manifest",
    "chunks_have_acl",
    "source_freshness",
    "embedding_model_matches",
    "promotion_gate",
}


@pytest.fixture
def office(tmp_path: Path) -> Path:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    return tmp_path


def office_settings(root: Path) -> Settings:
    return load_settings(
        backend={"data_dir": str(root / "var")},
        pipeline={
            "sources": [
                {"id": "office", "kind": "folder", "path": str(root / "corpus"), "schedule": "5 4 * * *"},
                {"id": "office-tickets", "kind": "tickets", "path": str(root / "tickets.jsonl")},
            ]
        },
    )


def test_definitions_load_with_assets_checks_job_schedules_and_sensor(office: Path) -> None:
    definitions = build_definitions(office_settings(office))
    job = definitions.resolve_job_def(JOB_NAME)
    assert job.partitions_def is not None
    assert sorted(job.partitions_def.get_partition_keys()) == ["office", "office-tickets"]
    graph = definitions.resolve_asset_graph()
    # the ingest group; the evaluation group (pipelines.evaluation) is tested in test_eval_assets
    ingest = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "ingest"}
    assert ingest == set(ASSET_NAMES)
    live = "live_generation"
    live_checks = {c.name for c in graph.asset_check_keys if c.asset_key.to_user_string() == live}
    assert live_checks == CHECKS
    repository = definitions.get_repository_def()
    assert {s.name for s in repository.schedule_defs} == {
        schedule_name("office"),
        schedule_name("office-tickets"),
    }
    assert [s.name for s in repository.sensor_defs] == [SENSOR_NAME]


def test_the_code_location_entry_point_loads_the_demo_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_CONFIG_FILE", str(REPO / "examples" / "groundwork.toml"))
    definitions = defs()
    job = definitions.resolve_job_def(JOB_NAME)
    assert job.partitions_def is not None
    assert "handbook" in job.partitions_def.get_partition_keys()


def test_schedule_requests_its_source_partition(office: Path) -> None:
    definitions = build_definitions(office_settings(office))
    schedule = definitions.resolve_schedule_def(schedule_name("office"))
    assert schedule.cron_schedule == "5 4 * * *"
    when = datetime(2026, 11, 29, 4, 5, tzinfo=UTC)
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=definitions.get_repository_def()
    )
    data = schedule.evaluate_tick(context)
    assert data.run_requests is not None
    [request] = data.run_requests
    assert request.partition_key == "office"
    assert request.tags["groundwork/trigger"] == "schedule"


def test_sensor_requests_a_run_when_a_folder_changes(office: Path) -> None:
    settings = office_settings(office)
    definitions = build_definitions(settings)
    sensor = definitions.resolve_sensor_def(SENSOR_NAME)
    resources = {"groundwork": GroundworkResource.for_settings(settings)}

    def tick(cursor: str | None) -> dg.SensorExecutionData:
        with dg.build_sensor_context(cursor=cursor, resources=resources, definitions=definitions) as context:
            return sensor.evaluate_tick(context)

    first = tick(None)
    assert [r.partition_key for r in first.run_requests or []] == ["office"]  # folder sources only
    assert first.cursor is not None
    quiet = tick(first.cursor)
    assert not quiet.run_requests
    (office / "corpus" / "guides" / "kettle.md").write_text("# Kettle\n\nNew text.\n")
    changed = tick(first.cursor)
    assert [r.partition_key for r in changed.run_requests or []] == ["office"]
    assert changed.cursor != first.cursor
    (office / "corpus" / "private" / "_access.yaml").write_text("read: [group:security]\n")
    acl = tick(changed.cursor)
    assert [r.partition_key for r in acl.run_requests or []] == ["office"]  # sidecars count


# --------------------------------------------------------------------------- webserver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


@pytest.fixture
def webserver(office: Path) -> Iterator[str]:
    """``dagster dev`` (webserver + daemon) on 127.0.0.1, as a user starts it: the code location
    from pyproject.toml, the instance from a copy of the project's dagster_home/dagster.yaml
    (queued runs need the daemon), settings for a small corpus."""
    config = office / "groundwork.toml"
    config.write_text(
        f'[backend]\ndata_dir = "{office / "var"}"\n\n'
        f'[[pipeline.sources]]\nid = "office"\nkind = "folder"\npath = "{office / "corpus"}"\n'
    )
    home = office / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "GW_CONFIG_FILE": str(config)}
    log = open(office / "dagster-dev.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops the daemon and code servers too
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, (office / "dagster-dev.log").read_text()[-4000:]
            try:
                if httpx.get(f"{url}/server_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "dagster dev did not start in 10 minutes"
            time.sleep(2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


REPOSITORY_QUERY = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules { name cronSchedule }
        sensors { name }
        assetNodes {
          assetKey { path }
          assetChecksOrError { ... on AssetChecks { checks { name } } }
        }
      }
    }
  }
}
"""

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

RUN_STATUS = """
query Status($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }
"""


@pytest.mark.slow
def test_webserver_lists_the_graph_and_runs_a_launched_ingest(webserver: str, office: Path) -> None:
    data = graphql(webserver, REPOSITORY_QUERY)
    [repo] = data["repositoriesOrError"]["nodes"]
    assert repo["location"]["name"] == "groundwork"
    assets = {"/".join(n["assetKey"]["path"]): n for n in repo["assetNodes"]}
    assert set(ASSET_NAMES) <= set(assets)  # plus the evaluation group
    checks = {c["name"] for c in assets["live_generation"]["assetChecksOrError"]["checks"]}
    assert checks == CHECKS
    assert [s["name"] for s in repo["schedules"]] == [schedule_name("office")]
    assert [s["name"] for s in repo["sensors"]] == [SENSOR_NAME]

    params = {
        "selector": {
            "repositoryLocationName": "groundwork",
            "repositoryName": repo["name"],
            "jobName": JOB_NAME,
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "office"}]},
    }
    launched = graphql(webserver, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", json.dumps(launched)
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 1200
    status = "QUEUED"
    while status not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, f"run {run_id} still {status} after 20 minutes"
        time.sleep(3)
        status = graphql(webserver, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
    assert status == "SUCCESS", (office / "dagster-dev.log").read_text()[-4000:]
    with Manifest.for_data_dir(office / "var") as manifest:
        assert manifest.document_count("office") == 6


def test_cli_ingest_shows_progress_and_a_summary_and_failures_are_listed(
    office: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``groundwork ingest``: the same assets in-process, a progress bar per stage on a terminal,
    a summary table; ``groundwork failures`` lists what could not be indexed."""
    from rich.console import Console
    from typer.testing import CliRunner

    from api.cli import app
    from pipelines.ingest import ingest_command

    (office / "corpus" / "guides" / "scan.pdf").write_bytes(b"%PDF-1.4\nnot really a PDF\n%%EOF\n")
    config = office / "groundwork.toml"
    config.write_text(
        f'[backend]\ndata_dir = "{office / "var"}"\n\n'
        f'[[pipeline.sources]]\nid = "office"\nkind = "folder"\npath = "{office / "corpus"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GW_CONFIG_FILE", str(config))  # restored after the test (the CLI sets it)
    monkeypatch.setenv("COLUMNS", "200")
    settings = load_settings()

    screen = Console(force_terminal=True, width=200, record=True)
    assert ingest_command(settings, None, False, False, screen) == 0
    shown = screen.export_text()
    for stage in ("list", "parse", "chunk", "embed", "write"):
        assert f"office: {stage}" in shown, stage
    assert "groundwork ingest" in shown  # the summary table's title
    assert "1 documents failed; `groundwork failures --source office`" in shown

    runner = CliRunner()
    listed = runner.invoke(app, ["failures", "--source", "office", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    assert "guides/scan.pdf" in listed.output
    assert "parse" in listed.output

    again = runner.invoke(app, ["ingest", "--source", "office", "--config", str(config)])
    assert again.exit_code == 0, again.output
    # the summary table's row (the failure reminder line also starts with the source id)
    lines = again.output.splitlines()
    [row] = [line for line in lines if "│" in line and line.strip("│ ").startswith("office")]
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:2] == ["office", "ok"]
    assert cells[8:10] == ["0", "0"]  # unchanged: nothing embedded, nothing written
