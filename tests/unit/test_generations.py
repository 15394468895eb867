"""The embedded generation catalog: pointer file, folder locks, writers vs readers, processes.

(The behaviour every catalog shares is in tests/contract/suite.py::GenerationContract.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.acl import PUBLIC, Principal
from index.errors import GenerationStateError, LiveGenerationError, ModelMismatchError, StoreLockedError
from index.generations import EmbeddedGenerationCatalog, FolderLock, LiveReader
from index.types import SearchFilter, VectorReader, VectorStore
from index.vectors_edge import EdgeVectorStore, LiveVectorReader, open_generation_writer

from ..contract.suite import DIM, EVERYTHING, MODEL_ID, make_item

REPO = Path(__file__).resolve().parents[2]
ANYONE = SearchFilter.for_principal(Principal(user_id="reader"))


def _build(catalog: EmbeddedGenerationCatalog, n: int, *, promote: bool = False) -> str:
    """A generation holding ``n`` public chunks, closed (and optionally promoted)."""
    info = catalog.create(MODEL_ID, DIM)
    store = open_generation_writer(catalog, info.id, MODEL_ID)
    items = [make_item(f"doc-{info.id}-{i}", topic=i % 8, acl=[PUBLIC], seed=i) for i in range(n)]
    store.upsert([it.chunk for it in items], [it.vector for it in items])
    store.close()
    catalog.record(info.id, chunk_count=n)
    if promote:
        catalog.promote(info.id)
    return info.id


@pytest.fixture
def catalog(tmp_path: Path) -> EmbeddedGenerationCatalog:
    return EmbeddedGenerationCatalog(tmp_path, "kb")


def test_layout_and_pointer_file(catalog: EmbeddedGenerationCatalog, tmp_path: Path) -> None:
    a = _build(catalog, 3, promote=True)
    root = tmp_path / "indexes" / "kb"
    assert (root / "generations" / a / "meta.json").is_file()
    assert (root / "generations" / a / "vectors" / "groundwork-store.json").is_file()
    pointer = json.loads((root / "LIVE").read_text())
    assert pointer["generation"] == a
    assert pointer["previous"] is None
    assert "promoted_at" in pointer
    b = _build(catalog, 2, promote=True)
    pointer = json.loads((root / "LIVE").read_text())
    assert (pointer["generation"], pointer["previous"]) == (b, a)
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")], "temp files left behind"
    meta = json.loads((root / "generations" / a / "meta.json").read_text())
    assert meta["chunk_count"] == 3
    assert "live" not in meta  # LIVE decides, never a stale flag in meta.json


def test_pointer_stamp_changes_on_every_promotion(catalog: EmbeddedGenerationCatalog) -> None:
    assert catalog.pointer_stamp() is None
    a, b = catalog.create(MODEL_ID, DIM).id, catalog.create(MODEL_ID, DIM).id
    catalog.promote(a)
    first = catalog.pointer_stamp()
    catalog.promote(b)
    assert catalog.pointer_stamp() != first


def test_the_live_generation_is_never_opened_for_writing(catalog: EmbeddedGenerationCatalog) -> None:
    live = _build(catalog, 2, promote=True)
    with pytest.raises(LiveGenerationError, match="live"):
        catalog.writable_path(live)
    with pytest.raises(LiveGenerationError):
        open_generation_writer(catalog, live, MODEL_ID)


def test_writer_with_another_model_is_refused(catalog: EmbeddedGenerationCatalog) -> None:
    gid = catalog.create(MODEL_ID, DIM).id
    with pytest.raises(ModelMismatchError, match="other-model"):
        open_generation_writer(catalog, gid, "other-model")


def test_one_writer_and_readers_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "vectors"
    writer = EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM)
    with pytest.raises(StoreLockedError):
        EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM)
    with pytest.raises(StoreLockedError):
        EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM, writable=False)
    writer.close()
    r1 = EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM, writable=False)
    r2 = EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM, writable=False)  # readers share
    with pytest.raises(StoreLockedError):
        EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM)
    r1.close()
    r2.close()


def test_a_writer_in_another_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vectors"
    EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITER, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLockedError):
            EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM, writable=False)
    finally:
        holder.kill()
        holder.wait()
    EdgeVectorStore(path, model_id=MODEL_ID, dimension=DIM, writable=False).close()  # freed on exit


_HOLD_WRITER = f"""
import sys, time
from pathlib import Path
from index.vectors_edge import EdgeVectorStore
store = EdgeVectorStore(Path(sys.argv[1]), model_id={MODEL_ID!r}, dimension={DIM})
print("holding", flush=True)
time.sleep(60)
"""


def test_a_reader_opens_read_only(catalog: EmbeddedGenerationCatalog) -> None:
    _build(catalog, 4, promote=True)
    reader = LiveVectorReader(catalog)
    # the API's reader has no write methods at all (mypy refuses a write through it) ...
    assert isinstance(reader, VectorReader)
    assert not isinstance(reader, VectorStore)
    try:
        # ... and the engine store under it was opened read-only as well
        with reader._reader.lease() as store:
            item = make_item("late")
            with pytest.raises(GenerationStateError, match="read-only"):
                store.upsert([item.chunk], [item.vector])
    finally:
        reader.close()


def test_reader_follows_promotion_and_rollback(catalog: EmbeddedGenerationCatalog) -> None:
    a = _build(catalog, 5, promote=True)
    reader = LiveVectorReader(catalog, model_id=MODEL_ID)
    try:
        assert len(reader.search(list(EVERYTHING.vector), ANYONE, 100)) == 5
        b = _build(catalog, 7, promote=True)
        assert len(reader.search(list(EVERYTHING.vector), ANYONE, 100)) == 7
        assert reader.generation_id == b
        catalog.rollback()
        assert len(reader.search(list(EVERYTHING.vector), ANYONE, 100)) == 5
        assert reader.generation_id == a
        assert reader.reopened == 2
        # the demoted generation was closed: a writer may take it again (it is not live)
        open_generation_writer(catalog, b, MODEL_ID).close()
    finally:
        reader.close()


def test_reader_with_another_model_fails_loudly(catalog: EmbeddedGenerationCatalog) -> None:
    _build(catalog, 2, promote=True)
    reader = LiveVectorReader(catalog, model_id="another-model")
    with pytest.raises(ModelMismatchError):
        reader.search(list(EVERYTHING.vector), ANYONE, 5)
    reader.close()


def test_lease_keeps_the_old_store_open_until_the_search_ends(catalog: EmbeddedGenerationCatalog) -> None:
    closed: list[str] = []
    _build(catalog, 1, promote=True)
    reader: LiveReader[str] = LiveReader(catalog, lambda info, _: info.id, closed.append)
    with reader.lease() as first:
        _build(catalog, 1, promote=True)
        with reader.lease() as second:
            assert second != first
        assert closed == []  # ``first`` is still leased
    assert closed == [first]
    reader.close()
    assert closed == [first, second]


def test_gc_skips_a_generation_someone_holds(catalog: EmbeddedGenerationCatalog) -> None:
    old = _build(catalog, 1)
    prev = _build(catalog, 1, promote=True)
    _build(catalog, 1, promote=True)
    lock = FolderLock(catalog.generation_path(old) / "vectors.lock", exclusive=False)
    try:
        assert catalog.gc(keep=2) == []  # ``old`` is held, live and previous are kept
    finally:
        lock.release()
    assert catalog.gc(keep=2) == [old]
    assert catalog.gc(keep=1) == [prev]


def test_drop_refuses_a_generation_in_use(catalog: EmbeddedGenerationCatalog) -> None:
    gid = catalog.create(MODEL_ID, DIM).id
    store = open_generation_writer(catalog, gid, MODEL_ID)
    with pytest.raises(StoreLockedError):
        catalog.drop(gid)
    store.close()
    catalog.drop(gid)


def test_clone_starts_an_incremental_update_from_the_live_generation(
    catalog: EmbeddedGenerationCatalog,
) -> None:
    live = _build(catalog, 6, promote=True)
    reader = LiveVectorReader(catalog)
    try:
        assert reader.count() == 6  # a reader holds the live generation while we clone it
        clone = catalog.create(MODEL_ID, DIM, clone_from=live)
        store = open_generation_writer(catalog, clone.id, MODEL_ID)
        extra = make_item("added-later")
        store.upsert([extra.chunk], [extra.vector])
        store.close()
        assert reader.count() == 6
        catalog.promote(clone.id)
        assert reader.count() == 7
    finally:
        reader.close()


def test_readers_in_another_process_never_see_a_half_built_index(catalog: EmbeddedGenerationCatalog) -> None:
    """A reader process queries in a loop while this process builds, promotes and rolls back."""
    sizes = {_build(catalog, 40, promote=True): 40}
    sizes[_build(catalog, 90)] = 90
    proc = subprocess.Popen(
        [sys.executable, "-c", _READER_LOOP, str(catalog.root.parents[1]), json.dumps(sizes)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        ids = list(sizes)
        for round_ in range(4):
            catalog.promote(ids[1])
            time.sleep(0.3)
            catalog.rollback()
            time.sleep(0.3)
            if round_ == 1:  # build a third generation while the reader is serving
                gid = _build(catalog, 65)
                sizes[gid] = 65
                (catalog.root / "extra.json").write_text(json.dumps(sizes))
                catalog.promote(gid)
                time.sleep(0.3)
                catalog.rollback()
        (catalog.root / "stop").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["bad"] == [], report
    assert report["queries"] > 20
    assert len(report["seen"]) >= 2, report  # it really followed the promotions
    assert report["reopened"] >= 4


_READER_LOOP = f"""
import json, sys, time
from pathlib import Path
from core.acl import Principal
from index.generations import EmbeddedGenerationCatalog
from index.types import SearchFilter
from index.vectors_edge import LiveVectorReader

data_dir, sizes = Path(sys.argv[1]), json.loads(sys.argv[2])
catalog = EmbeddedGenerationCatalog(data_dir, "kb")
reader = LiveVectorReader(catalog, model_id={MODEL_ID!r})
flt = SearchFilter.for_principal(Principal(user_id="reader"))
queries, bad, seen = 0, [], set()
print("ready", flush=True)
deadline = time.monotonic() + 50
while not (catalog.root / "stop").exists() and time.monotonic() < deadline:
    extra = catalog.root / "extra.json"
    if extra.exists():
        sizes.update(json.loads(extra.read_text()))
    hits = reader.search([1.0] * {DIM}, flt, 1000)
    gen = reader.generation_id
    queries += 1
    seen.add(gen)
    if not hits or len(hits) != sizes.get(gen, -1):
        bad.append([gen, len(hits)])
reader.close()
print(json.dumps({{"queries": queries, "bad": bad, "seen": sorted(seen), "reopened": reader.reopened}}))
"""


def test_catalog_is_engine_agnostic(catalog: EmbeddedGenerationCatalog) -> None:
    """The keyword engine gets its folder beside ``vectors/``; the catalog needs no engine."""
    info = catalog.create(MODEL_ID, DIM)
    folder = catalog.writable_path(info.id)
    (folder / "keywords").mkdir()
    (folder / "keywords" / "index.bin").write_bytes(b"x")
    catalog.promote(info.id)
    assert (catalog.generation_path(info.id) / "keywords" / "index.bin").read_bytes() == b"x"


def test_pointer_is_replaced_atomically_under_concurrent_reads(catalog: EmbeddedGenerationCatalog) -> None:
    """A thread reading LIVE in a loop never sees a torn or empty file while we promote."""
    import threading

    gens = [catalog.create(MODEL_ID, DIM).id for _ in range(2)]
    catalog.promote(gens[0])
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                pointer = catalog.pointer()
                assert pointer is not None
                assert pointer.generation in gens
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=read)
    thread.start()
    for i in range(60):
        catalog.promote(gens[i % 2])
    stop.set()
    thread.join()
    assert errors == []


def test_a_generation_is_not_promoted_while_its_writer_is_open(catalog: EmbeddedGenerationCatalog) -> None:
    gid = catalog.create(MODEL_ID, DIM).id
    store = open_generation_writer(catalog, gid, MODEL_ID)
    with pytest.raises(StoreLockedError):
        catalog.promote(gid)
    assert catalog.live() is None
    store.close()
    assert catalog.promote(gid).live


def test_clone_copies_engine_files_but_not_the_catalog_meta(catalog: EmbeddedGenerationCatalog) -> None:
    source = catalog.create(MODEL_ID, DIM, notes={"from": "source"})
    folder = catalog.writable_path(source.id)
    (folder / "keywords").mkdir()
    (folder / "keywords" / "meta.json").write_text('{"segments": ["s1"]}')  # tantivy's own file
    (folder / "keywords.lock").touch()
    clone = catalog.create(MODEL_ID, DIM, clone_from=source.id)
    cloned = catalog.generation_path(clone.id)
    assert (cloned / "keywords" / "meta.json").read_text() == '{"segments": ["s1"]}'
    assert not (cloned / "keywords.lock").exists()
    assert catalog.info(clone.id).notes == {}  # its own meta.json, not the source's
