"""Hostile entries in the drop folder, on SQLite and PostgreSQL: a file name at the file system's limit, names
that are not UTF-8, an OSError on one file, and symbolic links, fifos and directories in ``incoming/``.
Whatever one entry does, the scan goes on with the others; nothing outside the folder is read, and no
sidecar or job record carries file content (issue 15, rows 3 and 5)."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.adapters.db.tables import job_runs, predictions
from monitor.adapters.files.drop_folder import LocalDropFiles
from monitor.errors import InputError
from monitor.service.drop_folder import MAX_NAME_BYTES, DropWatcher
from monitor.synthetic import DemoScenario, generate, write_csv

DEVICE = "lung-nodule-ct"
SCENARIO = DemoScenario(seed=3, scale=0.0002, quarters=("2025Q3",), drift_quarter=None)
SECRET = "PATIENT-SECRET-4711"


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return generate(SCENARIO)


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    root = tmp_path / "drop"
    for device in (DEVICE, "unregistered-device"):
        for kind in ("predictions", "ground-truth"):
            (root / device / kind / "incoming").mkdir(parents=True)
    return root


def _watcher(app: Any, drop: Path, files: Any = None) -> DropWatcher:
    return DropWatcher(drop, uow=app.uow, open_log=app.open_log, hasher=app.patient_hasher, clock=app.clock,
                       actor="system:drop-folder", files=files or LocalDropFiles())


def _count(app: Any, table: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _sidecars(drop: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in drop.rglob("*.result.json")]


def test_long_and_undecodable_names_are_shortened_and_never_stop_the_scan(app, drop, data) -> None:  # type: ignore[no-untyped-def]
    incoming = drop / DEVICE / "predictions" / "incoming"
    third = len(data.predictions) // 3
    long_name = "p" * 246 + ".csv"  # 250 bytes: legal, but not with a claim stamp or a .ready suffix
    write_csv(data.predictions.iloc[:third], incoming / long_name)
    wide = "\u00e9" * 121 + ".csv"  # 246 bytes of UTF-8 (two per character): cut at a character boundary
    write_csv(data.predictions.iloc[third:2 * third], incoming / wide)
    raw = os.fsdecode(b"\xff\xfe-not-utf8.csv")  # names that are not UTF-8 text: one ingested (its name is
    write_csv(data.predictions.iloc[2 * third:], incoming / raw)  # recorded), one failed (its name in the error)
    (incoming / os.fsdecode(b"\xfd-bad.csv")).write_text("a,b\n1,2\n", encoding="utf-8")
    other = drop / "unregistered-device" / "predictions" / "incoming" / "x.csv"
    other.write_text("a\n1\n", encoding="utf-8")
    watcher = _watcher(app, drop)
    assert watcher.run(host="h").details == {"files": []}  # first look: sizes noted
    outcome = watcher.run(host="h")
    assert outcome.outcome == "succeeded", outcome.error  # the scan and its job record survived every name
    by_outcome = sorted((f["outcome"], f["file"][-12:]) for f in outcome.details["files"])
    assert [o for o, _ in by_outcome] == ["done", "done", "done", "failed", "failed"]
    assert _count(app, predictions) == len(data.predictions)  # every third, read under shortened names
    done = sorted((drop / DEVICE / "predictions" / "done").iterdir())
    names = [p.name for p in done if not p.name.endswith(".result.json") and "not-utf8" not in p.name]
    assert len(names) == 2 and all(n.endswith(".csv") and len(os.fsencode(n)) <= MAX_NAME_BYTES for n in names)
    assert all("~" in n for n in names)  # truncated + hash of the full name
    assert "\ufffd" in json.dumps([f["error"] for f in outcome.details["files"]], ensure_ascii=False)
    for path, sidecar in _sidecars(drop):
        assert sidecar["file"] + ".result.json" == path.name.encode("utf-8", "surrogateescape").decode(
            "utf-8", "replace")
    with app.engine.connect() as conn:
        recorded = conn.execute(select(job_runs.c.outcome).where(job_runs.c.job_name == "drop-folder")).scalars()
        assert set(recorded) == {"succeeded"}


class _FailingFiles(LocalDropFiles):
    """The file system, with an I/O error whenever one chosen file is opened."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def open_regular(self, path: Path):  # type: ignore[no-untyped-def]
        if self.marker in path.name:
            raise OSError(errno.EIO, "Input/output error", str(path))
        return super().open_regular(path)


def test_an_oserror_on_one_file_moves_it_aside_and_the_others_are_ingested(app, drop, data) -> None:  # type: ignore[no-untyped-def]
    incoming = drop / DEVICE / "predictions" / "incoming"
    write_csv(data.predictions, incoming / "a-broken.csv")
    write_csv(data.predictions, incoming / "b-fine.csv")
    for name in ("a-broken.csv", "b-fine.csv"):
        (incoming / f"{name}.ready").touch()
    results = {r.name.split("_", 1)[1]: r for r in _watcher(app, drop, _FailingFiles("a-broken")).scan()}
    assert results["a-broken.csv"].outcome == "failed"
    assert results["a-broken.csv"].error == "file system error: Input/output error (EIO)"
    assert results["b-fine.csv"].outcome == "done" and _count(app, predictions) == len(data.predictions)
    assert not any((drop / DEVICE / "predictions" / "processing").iterdir())


class _BuggyFiles(LocalDropFiles):
    """The file system, with a bug (not an OSError) whenever one chosen file is opened."""

    def open_regular(self, path: Path):  # type: ignore[no-untyped-def]
        if "buggy" in path.name:
            raise RuntimeError(f"a bug that quotes a value: {SECRET}")
        return super().open_regular(path)


def test_a_file_that_cannot_be_moved_aside_is_kept_and_the_scan_goes_on(app, drop, data) -> None:  # type: ignore[no-untyped-def]
    folder = drop / DEVICE / "predictions"
    (folder / "failed").write_text("a file where failed/ should be", encoding="utf-8")  # failed/ cannot be made
    write_csv(data.predictions, folder / "incoming" / "buggy.csv")
    write_csv(data.predictions, folder / "incoming" / "good.csv")
    for name in ("buggy.csv", "good.csv"):
        (folder / "incoming" / f"{name}.ready").touch()
    watcher = _watcher(app, drop, _BuggyFiles())
    results = {r.name.split("_", 1)[1]: r for r in watcher.scan()}
    assert results["good.csv"].outcome == "done" and _count(app, predictions) == len(data.predictions)
    assert results["buggy.csv"].outcome == "retry" and results["buggy.csv"].path.parent.name == "processing"
    assert results["buggy.csv"].error == "file system error: not a directory (ENOTDIR)"  # why it was not moved
    (folder / "failed").unlink()
    [again] = watcher.scan()  # the next scan retries it; now it can be moved aside
    assert again.outcome == "failed" and again.error == "internal error: RuntimeError (see the service log)"
    assert SECRET not in json.dumps([s for _p, s in _sidecars(drop)])


def test_links_fifos_and_directories_are_moved_aside_unread(app, drop, data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside.csv"
    write_csv(data.predictions, outside)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(f"{SECRET},x\n", encoding="utf-8")
    incoming = drop / DEVICE / "predictions" / "incoming"
    (incoming / "linked.csv").symlink_to(outside)
    (incoming / "passwd.csv").symlink_to(secret_file)
    (incoming / "linked.csv.ready").touch()
    os.mkfifo(incoming / "pipe.csv")  # opening it for reading would block the scan for ever
    (incoming / "folder.csv").mkdir()
    elsewhere = tmp_path / "elsewhere"  # a kind folder's incoming/ that is itself a link: not followed either
    (elsewhere).mkdir()
    write_csv(data.predictions, elsewhere / "p.csv")
    (drop / DEVICE / "ground-truth" / "incoming").rmdir()
    (drop / DEVICE / "ground-truth" / "incoming").symlink_to(elsewhere)

    watcher = _watcher(app, drop)
    scanned: list[Any] = []
    thread = threading.Thread(target=lambda: scanned.extend(watcher.scan()), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the scan hung on a fifo"
    results = {r.name.split("_", 1)[1]: r for r in scanned}
    assert set(results) == {"linked.csv", "passwd.csv", "pipe.csv", "folder.csv"}  # taken at once, all failed
    assert {r.outcome for r in results.values()} == {"failed"}
    assert "symbolic link: not followed" in results["linked.csv"].error
    assert "fifo" in results["pipe.csv"].error and "directory" in results["folder.csv"].error
    failed = drop / DEVICE / "predictions" / "failed"
    assert (failed / results["passwd.csv"].path.name).is_symlink()  # the link itself was moved, never read
    assert not (incoming / "linked.csv.ready").exists()
    assert _count(app, predictions) == 0 and outside.exists() and (elsewhere / "p.csv").exists()
    assert watcher.scan() == []  # nothing left, nothing read through the linked incoming/
    for _path, sidecar in _sidecars(drop):
        assert SECRET not in json.dumps(sidecar) and sidecar["batch"] is None
    outside_dir = tmp_path / "outside-dir"  # a failed/ that links elsewhere: nothing is written through it
    outside_dir.mkdir()
    stranger = drop / "unregistered-device" / "predictions"
    (stranger / "failed").symlink_to(outside_dir)
    (stranger / "incoming" / "x.csv").write_text("a\n1\n", encoding="utf-8")
    (stranger / "incoming" / "x.csv.ready").touch()
    [kept] = watcher.scan()
    assert kept.outcome == "retry" and kept.error == "file system error: a link to a folder, not followed (ENOTDIR)"
    assert list(outside_dir.iterdir()) == [] and kept.path.parent.name == "processing"
    (stranger / "failed").unlink()
    [aside] = watcher.scan()
    assert aside.outcome == "failed" and (stranger / "failed" / aside.path.name).is_file()
    linked_root = tmp_path / "linked-root"  # the operator's root may be a link: that one is followed
    linked_root.symlink_to(drop)
    write_csv(data.predictions, incoming / "p.csv")
    (incoming / "p.csv.ready").touch()
    [taken] = _watcher(app, linked_root).scan()
    assert taken.outcome == "done" and _count(app, predictions) == len(data.predictions)


def test_a_link_swapped_in_after_the_check_is_refused_or_never_read(tmp_path: Path) -> None:
    files = LocalDropFiles()
    real, decoy = tmp_path / "real.csv", tmp_path / "decoy.csv"
    real.write_text("a\nreal\n", encoding="utf-8")
    decoy.write_text(f"a\n{SECRET}\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(decoy)
    with pytest.raises(InputError, match="symbolic link"):
        with files.open_regular(link):
            pass
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match="not a regular file"):
        with files.open_regular(tmp_path / "pipe"):
            pass
    with files.open_regular(real) as readable:  # opened once; the path is then replaced by a link
        real.unlink()
        real.symlink_to(decoy)
        assert readable.read_text(encoding="utf-8") == "a\nreal\n"
        assert readable.read_text(encoding="utf-8") == "a\nreal\n"  # read again: still the opened file
