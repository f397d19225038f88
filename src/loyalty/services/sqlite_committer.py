"""SQLite: a pipelined batch import's writes, committed by a process of its own.

SQLite writes in the process that holds the connection, and ``executemany`` takes the
interpreter's lock back after every row: a thread that commits batch k beside the thread that
applies batch k+1 only takes turns with it (measured in stop 26: no faster). A batch's writes
are ~30% of an import's CPU time (``write_all`` and the commit; docs/PERFORMANCE.md), so here
they run in a child process, on a connection of its own, while the importer applies the next
batch on its core.

The importer (``PipelinedImport``) sends each batch's statements as plain data
(``registry.portable``) with the batch's rejections, progress and clock. The child takes the
write lock (``BEGIN IMMEDIATE``, waiting for a live input's transaction as a live input waits),
checks that no other connection committed since ``baseline`` (``PRAGMA data_version`` of its
connection moves when another connection commits, never for its own commits) and that the
file's progress is the one the batch started from, writes, commits, and answers. Otherwise
nothing is written and the batch is answered stale (``StaleBatch``): the importer does it again
the ordinary way. The baseline is taken before the batches it covers read anything, so a batch
never trusts a read that someone else's commit overtook.

The child is a fresh interpreter running this module (``python -m``; not a ``fork``: SQLite's
per-process lock bookkeeping is not safe to inherit, and not ``multiprocessing``'s ``spawn``,
which imports the caller's main script again), talking through two pipes; it builds its own
``DurableEngine`` from the database's URL and the program. It starts while the importer does its
first batch alone (~0.6 s to import).

    committer = SqliteCommitter(program, url, source)
    committer.baseline()                 # before the first batch reads
    pending = committer.commit(writes, rejections, done, (done + n, accepted), now)
    ...                                  # the next batch reads and applies meanwhile
    pending.result()                     # 0, or raises StaleBatch
    committer.close()
"""

from __future__ import annotations

import gc
import marshal
import os
import pickle
import signal
import subprocess
import sys
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from loyalty.adapters.sql.database import DatabaseError
from loyalty.adapters.sql.registry import (
    PortableWrite,
    StaleBatch,
    expect_progress,
    rebuilt,
    write_all,
)
from loyalty.programs.schema import Program

# where this ``loyalty`` package was imported from (an installed or compiled build), put first on
# the child's path so that it runs the same code
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def can_start() -> bool:
    """Whether a child can be given the pipes (POSIX: ``pass_fds``)."""
    return os.name == "posix"


class SqliteCommitter:
    """The child process that commits one import's batches (``source``: the file's digest)."""

    def __init__(self, program: Program, url: str, source: str) -> None:
        answers, their_answers = os.pipe()
        their_requests, requests = os.pipe()
        _widen(requests)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        fds = (their_requests, their_answers)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, *map(str, fds)],
                pass_fds=fds,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            for fd in fds:
                os.close(fd)
        self._answers = Pipe(answers, writable=False)
        self._requests = Pipe(requests, readable=False)
        # A batch's statements are ~1 KB an input (~40 MB for 40,000): a thread writes them to
        # the pipe while the importer goes on to the next batch (~0.1-0.2 s a batch otherwise)
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="loyalty-import-send")
        self._sending: Future[None] | None = None  # the last request's, its answer not yet read
        self._starting = False
        # its answer (the child has opened the database) is awaited by the next request
        self._send(("start", pickle.dumps(program), url, source))
        self._starting = True

    def baseline(self) -> None:
        """Take the version every later commit is checked against (``PRAGMA data_version``);
        called before a batch that takes nothing over from a batch before it reads."""
        self._send(("baseline",))
        self.result()

    def commit(
        self,
        writes: list[PortableWrite],
        rejections: list[dict[str, Any]],
        expected: int,
        progress: tuple[int, int],
        now: datetime | None,
    ) -> SqliteCommitter:
        """Send a batch to be checked, written and committed, without waiting; its outcome is
        ``result()``'s. ``expected``: the file's lines done before the batch (another import of
        the file may have moved them before the baseline), ``progress``: after it."""
        at = now.isoformat() if now is not None else None
        self._send(("commit", writes, rejections, expected, progress, at))
        return self

    def result(self) -> int:
        """Wait for the answer to the last request: 0 (as ``PipelinedImport`` takes a commit's
        transaction id), or ``StaleBatch`` raised (someone else committed since the baseline, or
        the database refused the writes)."""
        sending, self._sending = self._sending, None
        assert sending is not None
        try:
            sending.result()
            answer = pickle.loads(self._answers.recv_bytes())
        except (EOFError, OSError):
            raise self._lost() from None
        if answer[0] == "stale":
            raise StaleBatch(answer[1])
        if answer[0] == "error":
            raise DatabaseError(f"the import's committing process failed:\n{answer[1]}", "import")
        return 0

    def close(self) -> None:
        """End the child: at once if it is still busy (a transaction it has not committed is
        rolled back by SQLite), else once it has closed its connection."""
        if self._process.poll() is None:
            if self._sending is not None:  # (a request in hand)
                self._process.kill()
            else:
                try:
                    self._send(("stop",))
                    self.result()  # (its checkpoint done)
                except DatabaseError:
                    pass
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._sender.shutdown()  # (its write, if any, failed when the child ended)
        self._requests.close()
        self._answers.close()

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._starting:
            self._starting = False
            self.result()
        assert self._sending is None
        self._sending = self._sender.submit(self._requests.send_bytes, _dumps(message))

    def _lost(self) -> DatabaseError:
        try:
            code = self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        return DatabaseError(
            f"the import's committing process ended (exit code {code}); the "
            "batches it had not committed are not, and the import can be run again",
            "import",
        )


def _serve(requests: Pipe, answers: Pipe) -> None:
    """The child: answer each request on one connection until told to stop."""
    from loyalty.services.durable import DurableEngine  # (not imported by the module: a cycle)

    _, program_data, url, source = _loads(requests.recv_bytes())
    try:
        program: Program = pickle.loads(program_data)
        durable = DurableEngine(program, url, create=False)
    except Exception:
        answers.send_bytes(pickle.dumps(("error", traceback.format_exc())))
        return
    answers.send_bytes(pickle.dumps(("ok", "")))
    conn = durable.db.connect()
    version: int | None = None
    # The collector paused: a batch's rows (~10 tuples an input) would count towards collections
    # that scan them all, again and again while its writes make more objects (8% of this
    # process's time in a profile). The few reference cycles a batch leaves are collected after
    # it, in a heap holding little else (what was made to start up is frozen out of the scans).
    gc.disable()
    gc.freeze()
    while True:
        try:
            message = _loads(requests.recv_bytes())
        except EOFError:  # the importer ended without a word (killed): so does this
            break
        if message[0] == "stop":
            _checkpoint(conn)
            answers.send_bytes(pickle.dumps(("ok", "")))
            break
        answer: tuple[str, str] = ("ok", "")
        try:
            with conn.begin() as transaction:  # ``BEGIN IMMEDIATE``: the write lock
                current = int(conn.exec_driver_sql("PRAGMA data_version").scalar_one())
                if message[0] == "baseline":
                    version = current
                    transaction.rollback()
                elif current != version:
                    raise StaleBatch("another connection committed since the batch read")
                else:
                    _, writes, rejections, expected, progress, at = message
                    now = datetime.fromisoformat(at) if at is not None else None
                    expect_progress(conn, program.id, source, expected)
                    write_all(rebuilt(conn, writes))
                    durable._batch_done(conn, source, now, rejections, progress)
        except (StaleBatch, DBAPIError) as exc:
            answer = ("stale", str(exc).splitlines()[0])
        except Exception:
            answer = ("error", traceback.format_exc())
        answers.send_bytes(pickle.dumps(answer))
        del message
        gc.collect()
    conn.close()
    durable.db.dispose()


def _widen(fd: int) -> None:
    """Give a pipe a 1 MiB buffer instead of 64 KiB where the system allows it (Linux): a batch's
    statements then cross in fewer turns of the two processes."""
    import fcntl  # (POSIX: ``can_start``)

    widen = getattr(fcntl, "F_SETPIPE_SZ", None)
    if widen is not None:
        with suppress(OSError):  # (above the system's limit for this user: the default stays)
            fcntl.fcntl(fd, widen, 1 << 20)


def _checkpoint(conn: Connection) -> None:
    """Copy the write-ahead log into the database file as far as no reader holds it back
    (``PASSIVE``: waits for nobody). While the batches overlapped, the importer's reads held back
    some of the checkpoints that follow the commits; this is their work, done before the import
    ends instead of left to later writers."""
    driver = conn.connection.driver_connection  # (outside any transaction: autocommit)
    assert driver is not None
    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _dumps(message: tuple[Any, ...]) -> bytes:
    """A request as bytes: by ``marshal`` (its rows are tuples of strings, numbers, booleans
    and None: ~2x as fast as ``pickle``), or by ``pickle`` if it holds anything else."""
    try:
        return b"m" + marshal.dumps(message)
    except ValueError:
        return b"p" + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes) -> tuple[Any, ...]:
    body = memoryview(data)[1:]
    message: tuple[Any, ...] = marshal.loads(body) if data[:1] == b"m" else pickle.loads(body)
    return message


if __name__ == "__main__":  # the child: ``python -m loyalty.services.sqlite_committer IN OUT``
    # Ctrl-C at a terminal reaches the whole process group: the importer ends this child itself
    # (``close``: at once if a commit is in hand), which otherwise would print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Pipe(int(sys.argv[1]), writable=False), Pipe(int(sys.argv[2]), readable=False))
