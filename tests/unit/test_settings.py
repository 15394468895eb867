from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import BackendMode, FusionMethod, load_settings


def test_defaults_are_embedded_and_valid() -> None:
    s = load_settings()
    assert s.backend.mode is BackendMode.EMBEDDED
    assert s.embedding.model == "all-MiniLM-L6-v2"


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("GW_RETRIEVAL__FUSION", "rrf")
    monkeypatch.setenv("GW_BACKEND__DATA_DIR", "/tmp/gw-x")
    s = load_settings()
    assert s.retrieval.top_k == 7
    assert s.retrieval.fusion is FusionMethod.RRF
    assert s.backend.data_dir == Path("/tmp/gw-x")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GW_BACKEND__MODE": "server"}, "GW_BACKEND__QDRANT_URL and GW_BACKEND__OPENSEARCH_URL"),
        (
            {"GW_BACKEND__MODE": "server", "GW_BACKEND__QDRANT_URL": "http://q:6333"},
            "GW_BACKEND__OPENSEARCH_URL is not set",
        ),
        ({"GW_BACKEND__OPENSEARCH_USER": "admin"}, "set both GW_BACKEND__OPENSEARCH_USER"),
        ({"GW_RETRIEVAL__TOP_K": "50", "GW_RETRIEVAL__CANDIDATES": "20"}, "exceeds retrieval.candidates"),
        ({"GW_RETRIEVAL__TOP_K": "40", "GW_API__MAX_TOP_K": "20"}, "exceeds api.max_top_k"),
        (
            {"GW_CHUNKING__MAX_TOKENS": "64", "GW_CHUNKING__OVERLAP_TOKENS": "64"},
            "must be smaller than chunking.max_tokens",
        ),
        ({"GW_BACKEND__MODE": "cluster"}, "backend.mode"),
        ({"GW_BACKEND__TYPO": "1"}, "backend.typo"),
    ],
)
def test_contradictions_are_refused_with_what_to_change(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert message in str(err.value)


def test_server_mode_with_both_urls_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_BACKEND__MODE", "server")
    monkeypatch.setenv("GW_BACKEND__QDRANT_URL", "http://127.0.0.1:6333")
    monkeypatch.setenv("GW_BACKEND__OPENSEARCH_URL", "http://127.0.0.1:9200")
    assert load_settings().backend.mode is BackendMode.SERVER


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_toml_and_yaml_files_load_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = _write(
        tmp_path / "gw.toml",
        """
[retrieval]
top_k = 5
[[pipeline.sources]]
id = "docs"
kind = "folder"
path = "docs"
max_age = "P30D"
default_acl = ["group:eng"]
""",
    )
    monkeypatch.setenv("GW_CONFIG_FILE", str(toml))
    s = load_settings()
    assert s.retrieval.top_k == 5
    assert s.source("docs").max_age.days == 30
    monkeypatch.setenv("GW_RETRIEVAL__TOP_K", "9")
    assert load_settings().retrieval.top_k == 9

    yaml = _write(tmp_path / "gw.yaml", "retrieval:\n  top_k: 4\n")
    monkeypatch.delenv("GW_RETRIEVAL__TOP_K")
    monkeypatch.setenv("GW_CONFIG_FILE", str(yaml))
    assert load_settings().retrieval.top_k == 4


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('id = "a"\nkind = "ftp"\npath = "x"', "does not match any of the expected tags"),
        ('id = "Bad Id"\nkind = "folder"\npath = "x"', "source id"),
        ('id = "w"\nkind = "web"\nurls = ["file:///etc/passwd"]', "must start with http"),
        ('id = "a"\nkind = "folder"\npath = "x"\ndefault_acl = ["everyone"]', "invalid ACL entry"),
        ('id = "a"\nkind = "folder"\npath = "x"\nschedule = "daily"', "5-field cron"),
        ('id = "a"\nkind = "folder"\npath = "x"\ncolour = "red"', "colour"),
    ],
)
def test_malformed_source_config_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, message: str
) -> None:
    f = _write(tmp_path / "gw.toml", f"[[pipeline.sources]]\n{source}\n")
    monkeypatch.setenv("GW_CONFIG_FILE", str(f))
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert message in str(err.value)


def test_duplicate_source_ids_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = '[[pipeline.sources]]\nid = "a"\nkind = "folder"\npath = "x"\n'
    monkeypatch.setenv("GW_CONFIG_FILE", str(_write(tmp_path / "gw.toml", block * 2)))
    with pytest.raises(ConfigurationError, match="share the id 'a'"):
        load_settings()


def test_missing_config_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_CONFIG_FILE", "/nonexistent/gw.toml")
    with pytest.raises(ConfigurationError, match="not a file"):
        load_settings()


def test_unknown_source_lookup_names_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="unknown source 'nope'"):
        load_settings().source("nope")
