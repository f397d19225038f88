"""Tasks run in forked child processes that end without freeing what they built.

A simulation task replays a partition of a history through a fresh engine per variant: hundreds
of megabytes of small objects (members, lots, ledger entries, orders). Freeing them one by one
when the task returns costs ~6.5% of the simulation's CPU time, and a worker of a pool must free
them before its next task. Here each task runs in a child forked for it alone, which sends its
result back through a pipe and ends with ``os._exit``: the operating system takes its memory
back at once. What a function still holds is freed when it returns, so a task hands what it
wants left unfreed to ``keep_until_exit``. Forking costs a few milliseconds (the child shares
the parent's pages until either writes them), against seconds of work a task.

    for index, result in run_in_children(work, tasks, processes=2):
        ...  # in the order the tasks finish

A child that ends without sending its result (killed, out of memory) raises ``ChildLost``; an
exception inside a task is raised again in the parent. Either way, and on any exception or
interruption of the caller (the generator is closed), the children still running are killed
at once: none is left behind working for nobody.

Needs the ``fork`` start method (Linux, macOS): without it, or with one process, the tasks run
one after the other in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Generator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, cast

_T = TypeVar("_T")
_R = TypeVar("_R")


class ChildLost(Exception):
    """A child process ended before sending its task's result (killed, out of memory)."""


class TaskFailed(Exception):
    """A task raised an exception that could not be sent back as itself (not picklable)."""


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


_KEPT: list[Any] = []  # in a child: what its task left for the end of the process
_IN_CHILD = [False]


def keep_until_exit(thing: Any) -> None:
    """In a child: ``thing`` is never freed object by object (the process ends with it). In the
    parent (tasks run one after the other): nothing, it is freed as usual."""
    if _IN_CHILD[0]:
        _KEPT.append(thing)


def run_in_children(
    work: Callable[[_T], _R], tasks: Sequence[_T], processes: int
) -> Generator[tuple[int, _R], None, None]:
    """``(index, work(tasks[index]))`` for every task, in the order they finish, with at most
    ``processes`` children at once (each task in a child of its own)."""
    if processes <= 1 or not can_fork() or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            yield index, work(task)
        return
    context = multiprocessing.get_context("fork")
    waiting = list(range(len(tasks)))[::-1]  # popped from the end: the first task first
    running: dict[Connection, tuple[Any, int]] = {}

    def start() -> None:
        while waiting and len(running) < processes:
            index = waiting.pop()
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(work, tasks[index], sender), daemon=True)
            child.start()
            sender.close()  # the child's end: EOF here once the child has ended
            running[receiver] = (child, index)

    try:
        start()
        while running:
            for ready in wait(list(running)):
                receiver = cast(Connection, ready)  # ``wait`` was given connections only
                child, index = running.pop(receiver)
                try:
                    ok, value = receiver.recv()
                except EOFError:
                    child.join()
                    raise ChildLost(
                        f"task {index + 1} of {len(tasks)}: its process ended (exit code "
                        f"{child.exitcode}) before sending its result"
                    ) from None
                finally:
                    receiver.close()
                child.join()
                if not ok:
                    raise value
                start()  # the next tasks start before the caller looks at this result
                yield index, value
    finally:
        for receiver, (child, _) in running.items():
            child.kill()
            child.join()
            receiver.close()


def _child(work: Callable[[_T], _R], task: _T, sender: Connection) -> None:
    """Run in the child: do the task, send ``(True, result)`` or ``(False, exception)``, and end
    the process without freeing anything."""
    code = 0
    _IN_CHILD[0] = True
    try:
        try:
            message: tuple[bool, Any] = (True, work(task))
            told = ""
        except BaseException as exc:  # handed to the parent, which raises it
            message = (False, exc)
            told = traceback.format_exc()
        try:
            sender.send(message)
        except Exception:  # the exception (or, rarely, the result) does not pickle
            sender.send((False, TaskFailed(told or traceback.format_exc())))
        sender.close()
    except BaseException:  # the parent is gone (broken pipe): nobody to tell
        code = 1
    os._exit(code)
