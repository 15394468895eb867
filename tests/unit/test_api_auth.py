"""API keys resolve to principals through hashes in the users file; groups come from the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.auth import UserDirectory, hash_key
from core.errors import ConfigurationError


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_list_layout_with_group_members(tmp_path: Path) -> None:
    users = UserDirectory.from_file(
        _file(
            tmp_path,
            f"""
users:
  - id: alice
    groups: [engineering]
    api_key_sha256: {hash_key("gw-demo-alice")}
  - id: bob
    api_key_sha256: [{hash_key("old-bob")}, {hash_key("new-bob")}]
groups:
  leadership: [alice]
  finance: {{members: [bob]}}
""",
        )
    )
    alice = users.authenticate("gw-demo-alice")
    assert alice is not None
    assert alice.user_id == "alice"
    assert alice.groups == ("engineering", "leadership")
    bob_old, bob_new = users.authenticate("old-bob"), users.authenticate("new-bob")
    assert bob_old == bob_new
    assert bob_new is not None
    assert bob_new.groups == ("finance",)
    assert users.authenticate("gw-demo-alic") is None
    assert users.authenticate("") is None


def test_mapping_layout(tmp_path: Path) -> None:
    users = UserDirectory.from_file(
        _file(tmp_path, f"users:\n  carol:\n    groups: hr\n    api_key_sha256: {hash_key('k')}\n")
    )
    assert users.principal("carol").groups == ("hr",)


def test_unknown_user_names_the_known_ones(tmp_path: Path) -> None:
    users = UserDirectory.from_file(_file(tmp_path, "users: [{id: alice}]\n"))
    with pytest.raises(ConfigurationError, match=r"unknown user 'zed'.*alice"):
        users.principal("zed")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("users: [{id: a, api_key_sha256: nothex}]", "64 hex"),
        ("nousers: []", "'users' key"),
        ("users: [{id: a}, {id: a}]", "listed twice"),
        (
            f"users: [{{id: a, api_key_sha256: {hash_key('x')}}}, "
            f"{{id: b, api_key_sha256: {hash_key('x')}}}]",
            "shared",
        ),
        ("users: [{id: 'bad id'}]", "bad id"),
        ("users: [", "not valid YAML"),
    ],
)
def test_bad_users_files_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        UserDirectory.from_file(_file(tmp_path, text))


def test_missing_file_says_which_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="GW_API__USERS_FILE"):
        UserDirectory.from_file(tmp_path / "nope.yaml")
