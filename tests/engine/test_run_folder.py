"""Run folders (sofkd_lib.engine.run_folder): the lock that keeps one trainer per folder, the files checked."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

from sofkd_lib.data.io import DataError
from sofkd_lib.engine.run_folder import LOCK_NAME, RunFolderInUse, RunFolderLock, check_run_folder
from tests.special_files import identity, make_special, need


@pytest.fixture
def live_pid():
    """The pid of a process that runs for the test's duration (ended by its pid afterwards)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lock(folder, pid, host=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(f"{pid} {host or socket.gethostname()}\n")


def test_a_folder_held_by_a_live_process_is_refused_naming_it_and_the_pid(tmp_path, live_pid):
    run = tmp_path / "run"
    _lock(run, live_pid)
    for check in (lambda: RunFolderLock(run).acquire(), lambda: check_run_folder(run, what="--out")):
        with pytest.raises(RunFolderInUse, match=rf"^run folder {run} is in use by pid {live_pid} \(lock "):
            check()
    assert (run / LOCK_NAME).read_text() == f"{live_pid} {socket.gethostname()}\n"  # the holder's lock untouched


def test_a_lock_from_another_host_cannot_be_checked_so_it_holds(tmp_path, dead_pid):
    _lock(tmp_path, dead_pid, host="elsewhere.example")
    with pytest.raises(RunFolderInUse, match=f"in use by pid {dead_pid} on elsewhere.example"):
        RunFolderLock(tmp_path).acquire()


def test_a_dead_holders_lock_is_taken_over_with_a_note_and_its_half_writes_removed(tmp_path, dead_pid, capsys):
    _lock(tmp_path, dead_pid)
    for name in (".last.k1ll3d00.pt", ".metrics.x_9a0b1c.csv", ".keep", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    with RunFolderLock(tmp_path) as lock:
        lock.acquire()
        assert (tmp_path / LOCK_NAME).read_text().split() == [str(os.getpid()), socket.gethostname()]
        assert f"note: {tmp_path} was held by pid {dead_pid}, which is no longer running; taking it over" \
            in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", LOCK_NAME, "notes.txt"]
        with pytest.raises(RunFolderInUse, match="in use by pid"):  # a second holder in this very process
            RunFolderLock(tmp_path).acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", "notes.txt"]  # released


def test_a_lock_naming_this_process_that_it_does_not_hold_is_stale(tmp_path):
    """A trainer killed by SIGKILL whose pid this process got again (pid reuse in containers)."""
    _lock(tmp_path, os.getpid())
    with RunFolderLock(tmp_path) as lock:
        assert lock.acquire().held
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_is_released_on_an_error_and_rank_other_than_0_holds_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), RunFolderLock(tmp_path) as lock:
        lock.acquire()
        raise KeyboardInterrupt
    assert not (tmp_path / LOCK_NAME).exists()
    with RunFolderLock(tmp_path, enabled=False) as lock:
        assert not lock.acquire().held and not (tmp_path / LOCK_NAME).exists()


KINDS = {"chardev": "a character device", "fifo": "a named pipe (FIFO)", "symlink": "a symbolic link",
         "dangling": "a symbolic link"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_run_file_or_folder_that_is_not_regular_is_refused_and_left_as_it_is(tmp_path, kind):
    run = tmp_path / "run"
    run.mkdir()
    os.rename(need(make_special(tmp_path / "special"), kind), run / "last.pt")
    before = identity(run / "last.pt")
    with pytest.raises(DataError, match=rf"^--out {run}: {run}/last.pt is {re.escape(KINDS[kind])}, not a regular"):
        check_run_folder(run, what="--out")
    assert identity(run / "last.pt") == before
    os.rename(run / "last.pt", tmp_path / "out")
    with pytest.raises(DataError, match=rf"^--out {tmp_path}/out is {re.escape(KINDS[kind])}, not a folder"):
        check_run_folder(tmp_path / "out", what="--out")
