"""Run the service for tests and benchmarks: a uvicorn child process, a throwaway PostgreSQL cluster.

``Server(db).start()`` runs ``uvicorn`` on ``create_app`` in a child process
(so a test can kill it with SIGKILL like a crash); ``postgres_cluster()``
creates a temporary PostgreSQL cluster from Debian's binaries (as the
``postgres`` user when running as root), yields its URL and removes it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Iterator

from ..errors import missing_extra_import

try:
    import httpx
except ImportError as _e:
    raise missing_extra_import("magister.serve.harness", "serve", _e) from _e

ADMIN = "admin-secret-for-tests"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _remove_log(log: Any) -> None:
    log.close()
    with contextlib.suppress(OSError):
        os.unlink(log.name)


class Server:
    """``uvicorn`` serving ``create_app`` in a child process (so it can be killed with SIGKILL)."""

    def __init__(self, db: str, port: int | None = None, admin_token: str = ADMIN, checkpoint_every: int = 2000,
                 env: dict[str, str] | None = None):
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = admin_token
        self.checkpoint_every = checkpoint_every
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="magister-serve-", suffix=".log", delete=False)
        # the log outlives stop() (a test may restart the same Server, or read output() after a kill) and is
        # removed when the Server object goes away or the interpreter exits; stop() alone used to leave it in /tmp
        weakref.finalize(self, _remove_log, self.log)

    def start(self, timeout: float = 60.0) -> Server:
        env = dict(os.environ, MAGISTER_DB=self.db, MAGISTER_ADMIN_TOKEN=self.admin_token,
                   MAGISTER_CHECKPOINT_EVERY=str(self.checkpoint_every), OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **self.env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "magister.serve.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
             "--timeout-keep-alive", "60"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        # one client for all the polls: a new one per poll costs the poller tens of ms of CPU
        # (TLS context set-up), which on a busy machine delays the very start-up it is waiting for
        with httpx.Client(timeout=1.0) as poll:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
                try:
                    if poll.get(f"{self.url}/v1/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ------------------------------------------------------------- PostgreSQL
def postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return str(Path(found[-1]).parent) if found else None


@contextlib.contextmanager
def postgres_cluster(options: str = "") -> Iterator[str]:
    """A throwaway PostgreSQL cluster (temp dir, free port, own socket dir); yields its SQLAlchemy URL.

    ``options``: more server settings (``-c name=value ...``), e.g. to load ``pg_stat_statements``.

    PostgreSQL refuses to run as root, so when the tests run as root the
    cluster belongs to the ``postgres`` user and is driven with ``runuser``.
    """
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    root = tempfile.mkdtemp(prefix="magister-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.makedirs(sock)
    port = free_port()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        os.chmod(root, 0o755)

    def run(*cmd: str) -> None:
        full = (["runuser", "-u", "postgres", "--"] if as_root else []) + list(cmd)
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    run(f"{bindir}/initdb", "-D", data, "-U", "magister", "--auth=trust", "-E", "UTF8", "--no-sync")
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 {options}"
    run(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-w", "-t", "60", "-l", os.path.join(root, "log"), "start")
    try:
        run(f"{bindir}/createdb", "-h", sock, "-p", str(port), "-U", "magister", "magister")
        yield f"postgresql+psycopg://magister@127.0.0.1:{port}/magister"
    finally:
        with contextlib.suppress(Exception):
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
