"""A throwaway PostgreSQL cluster for the tests and benchmarks: initdb + pg_ctl in a temporary
directory on a free port (as the ``postgres`` user when running as root, since initdb refuses
root). ``make test`` installs Debian's ``postgresql`` package when the binaries are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*cmd: str) -> None:
    if os.geteuid() == 0:
        cmd = ("runuser", "-u", "postgres", "--", *cmd)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")


@contextmanager
def postgres_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a cluster; yield its SQLAlchemy URL; stop and delete it afterwards. ``durable``
    keeps PostgreSQL's default fsync settings (for benchmarks); tests turn them off."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL binaries not found: run `make test` (it installs them)")
    root = tempfile.mkdtemp(prefix="loyalty-pg-")
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    port = _free_port()
    options = f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    _run(initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8")
    _run(pg_ctl, "-D", data, "-o", options, "-l", os.path.join(root, "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
