"""`groundwork serve` limits torch's intra-op threads in the server process only."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import uvicorn

from api import commands
from core.settings import load_settings


@pytest.mark.parametrize(("setting", "expected"), [(1, 1), (None, None)])
def test_serve_sets_torch_threads_from_settings(
    setting: int | None, expected: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = torch.get_num_threads()
    seen: dict[str, Any] = {}

    def fake_run(app: object, **kwargs: Any) -> None:  # uvicorn.run blocks forever: record instead
        seen["threads"] = torch.get_num_threads()
        seen["port"] = kwargs["port"]

    monkeypatch.setattr(uvicorn, "run", fake_run)
    settings = load_settings(api={"torch_threads": setting, "port": 8123})
    try:
        commands.serve(settings)
    finally:
        torch.set_num_threads(before)
    assert seen["port"] == 8123
    assert seen["threads"] == (expected if expected is not None else before)
