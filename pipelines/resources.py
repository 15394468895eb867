"""Dagster resources: adapters that build Groundwork's own objects from :class:`core.settings.Settings`.

There is no second implementation of anything here: :class:`GroundworkResource` hands out the
same ``Settings``, :class:`~core.embedding.Embedder`, manifest and index backends (the ``index``
store classes the API uses) that the CLI runner builds. By default settings come from the
environment and ``GW_CONFIG_FILE`` when a run starts (so secrets stay out of the UI); tests and
the in-process runner pass a frozen settings object with :meth:`GroundworkResource.for_settings`.
"""

import functools
import os
import threading
from pathlib import Path

import dagster as dg

from core.embedding import Embedder
from core.settings import Settings, load_settings
from pipelines.backends import EmbeddedBackend, ServerBackend, open_backend
from pipelines.manifest import Manifest

_EMBEDDERS: dict[str, Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def shared_embedder(settings: Settings) -> Embedder:
    """One embedder (one loaded model) per process and embedding settings.

    Dagster's in-process executor runs every step of a run in one process, and the CLI runs
    every source in one process: the model loads once.
    """
    key = settings.embedding.model_dump_json()
    with _EMBEDDERS_LOCK:
        embedder = _EMBEDDERS.get(key)
        if embedder is None:
            embedder = Embedder(settings.embedding)
            _EMBEDDERS[key] = embedder
        return embedder


@functools.lru_cache(maxsize=16)
def _settings_from_json(settings_json: str) -> Settings:
    """Parsed once per process: every step asks for the settings, and validating them each time
    was a tenth of an unchanged run (nothing is held but the parsed object)."""
    return Settings.model_validate_json(settings_json)


_ENV_LOCK = threading.Lock()


def load_settings_file(path: Path) -> Settings:
    """Settings from ``path`` with the usual precedence (keyword args > environment > file).

    Settings read the file name from ``GW_CONFIG_FILE``; it is set for the duration of the call.
    """
    with _ENV_LOCK:
        previous = os.environ.get("GW_CONFIG_FILE")
        os.environ["GW_CONFIG_FILE"] = str(path)
        try:
            return load_settings()
        finally:
            if previous is None:
                del os.environ["GW_CONFIG_FILE"]
            else:
                os.environ["GW_CONFIG_FILE"] = previous


def register_embedder(settings: Settings, embedder: Embedder) -> None:
    """Use an already loaded embedder for these settings (tests share one model per session)."""
    with _EMBEDDERS_LOCK:
        _EMBEDDERS[settings.embedding.model_dump_json()] = embedder


class GroundworkResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Settings, embedder, manifest and index backend of one Groundwork deployment."""

    settings_json: str | None = None
    """A serialized Settings object (tests, the in-process runner); wins over everything else."""
    config_file: str | None = None
    """A settings file read at launch, in place of GW_CONFIG_FILE; unset: the environment."""

    @classmethod
    def for_settings(cls, settings: Settings) -> "GroundworkResource":
        return cls(settings_json=settings.model_dump_json())

    def settings(self) -> Settings:
        if self.settings_json:
            return _settings_from_json(self.settings_json)
        if self.config_file:
            return load_settings_file(Path(self.config_file))
        return load_settings()

    def embedder(self) -> Embedder:
        return shared_embedder(self.settings())

    def manifest(self) -> Manifest:
        return Manifest.for_data_dir(self.settings().backend.data_dir)

    def backend(self) -> EmbeddedBackend | ServerBackend:
        return open_backend(self.settings())
