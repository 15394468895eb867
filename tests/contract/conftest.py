"""Contract tests: the shared suite lives in ``suite.py`` (read its docstring to plug a backend in)."""

import pytest

# suite.py is not a test module, so pytest would not rewrite its asserts (no diffs on failure)
pytest.register_assert_rewrite("tests.contract.suite", "contract.suite")
