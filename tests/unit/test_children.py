"""Tasks in forked child processes (``services.children``, the simulator's workers): every
result comes back once, a task's error is raised in the parent, a child that dies is reported
instead of waited for, and no child is left running after an error or an early stop."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from loyalty.services import children
from loyalty.services.children import ChildLost, TaskFailed, run_in_children


def _square(n: int) -> int:
    time.sleep(0.01 * (n % 3))  # finish out of order
    return n * n


def _pid_and_kept(_: int) -> tuple[int, int]:
    children.keep_until_exit(list(range(1000)))
    return os.getpid(), len(children._KEPT)


def _fails(n: int) -> int:
    if n == 2:
        raise ValueError(f"task {n} is bad")
    return n


class _Unpicklable(Exception):
    def __init__(self, handle: object) -> None:
        super().__init__("cannot travel")
        self.handle = handle

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("not picklable")


def _fails_unpicklably(_: int) -> int:
    raise _Unpicklable(object())


def _mark(path: str) -> None:
    """Write this process's id to ``path`` at once (a reader never sees it half written)."""
    Path(path + ".part").write_text(str(os.getpid()))
    os.replace(path + ".part", path)


def _sleeps(path: str) -> int:
    _mark(path)
    time.sleep(60)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    return True


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_every_task_gives_its_result_once_with_its_index(processes: int) -> None:
    tasks = list(range(10))
    results = list(run_in_children(_square, tasks, processes))
    assert sorted(i for i, _ in results) == tasks
    assert all(value == tasks[i] ** 2 for i, value in results)


def test_each_task_runs_in_a_child_of_its_own_which_keeps_what_it_is_given() -> None:
    results = dict(run_in_children(_pid_and_kept, list(range(4)), processes=2))
    pids = {pid for pid, _ in results.values()}
    assert len(pids) == 4 and os.getpid() not in pids
    assert all(kept == 1 for _, kept in results.values())  # a fresh child each time
    assert children._KEPT == []  # nothing kept in the parent


def test_in_this_process_nothing_is_kept_for_the_end() -> None:
    results = dict(run_in_children(_pid_and_kept, [0, 1], processes=1))
    assert {pid for pid, _ in results.values()} == {os.getpid()}
    assert children._KEPT == []


def test_a_task_error_is_raised_in_the_parent() -> None:
    with pytest.raises(ValueError, match="task 2 is bad"):
        list(run_in_children(_fails, list(range(5)), processes=2))
    assert not multiprocessing.active_children()


def test_an_error_that_cannot_be_sent_back_is_told_with_its_traceback() -> None:
    with pytest.raises(TaskFailed, match="cannot travel"):
        list(run_in_children(_fails_unpicklably, [0, 1], processes=2))


def test_a_child_that_dies_is_reported_and_the_others_are_killed(tmp_path: Path) -> None:
    marks = [str(tmp_path / f"pid-{i}") for i in range(2)]
    iterator = run_in_children(_sleeps, marks, processes=2)
    pids: list[int] = []

    def kill_first() -> None:
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            pids[:] = [int(Path(m).read_text()) for m in marks if Path(m).exists()]
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)

    import threading

    threading.Thread(target=kill_first, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(ChildLost, match="ended"):
        next(iterator)
    assert time.monotonic() - started < 30, "waited for the sleeping child"
    assert len(pids) == 2
    assert not any(_alive(pid) for pid in pids), "a child was left running"


def test_closing_early_kills_the_children_still_running(tmp_path: Path) -> None:
    marks = [str(tmp_path / f"pid-{i}") for i in range(3)]
    iterator = run_in_children(_square_then_sleep, [(0, marks[0]), (1, marks[1])], processes=2)
    _, value = next(iterator)  # the quick one
    assert value == 0
    deadline = time.monotonic() + 30
    while not Path(marks[1]).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = int(Path(marks[1]).read_text())
    iterator.close()
    assert not _alive(pid)
    assert not multiprocessing.active_children()


def _square_then_sleep(task: tuple[int, str]) -> int:
    n, path = task
    if n == 1:
        _mark(path)
        time.sleep(60)
    return n * n
