"""Helpers for the service tests: a uvicorn subprocess, a throwaway PostgreSQL cluster, log replay."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import httpx

import magister as mg

ADMIN = "admin-secret-for-tests"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn`` serving ``create_app`` in a child process (so it can be killed with SIGKILL)."""

    def __init__(self, db: str, port: int | None = None, admin_token: str = ADMIN, checkpoint_every: int = 2000):
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = admin_token
        self.checkpoint_every = checkpoint_every
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="magister-serve-", suffix=".log", delete=False)

    def start(self, timeout: float = 60.0) -> "Server":
        env = dict(os.environ, MAGISTER_DB=self.db, MAGISTER_ADMIN_TOKEN=self.admin_token,
                   MAGISTER_CHECKPOINT_EVERY=str(self.checkpoint_every), OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "magister.serve.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
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

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def replay(info: dict[str, Any], events: list[dict[str, Any]]) -> mg.Teacher:
    """Rebuild a teacher from a curriculum's settings and its full event log, independently of the server."""
    teacher = mg.make_teacher(info["teacher"], mg.space_from_spec(info["space"]), seed=info["seed"],
                              score_range=info["score_range"], **info["settings"])
    space = teacher.space
    group: list[dict[str, Any]] = []

    def flush() -> None:
        if group:
            teacher.observe_batch([space.from_json(e["task"]) for e in group], [e["score"] for e in group])
            group.clear()

    for e in events:
        if e["kind"] == "observe":
            if group and group[0]["batch"] != e["batch"]:
                flush()
            group.append(e)
        else:
            flush()
            tasks = teacher.propose(e["k"])
            assert json.dumps([space.to_json(t) for t in tasks]) == json.dumps(e["tasks"]), "replayed draw differs"
    flush()
    return teacher


def full_history(client: Any, name: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = client.get(f"/v1/curricula/{name}/history", params={"after": after, "limit": 50000},
                       headers=headers or AUTH)
        assert r.status_code == 200, r.text
        h = r.json()
        out.extend(h["events"])
        if not h["more"]:
            return out
        after = h["last_seq"]


def states_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Deep equality of two state dicts (numpy arrays compared exactly)."""
    import numpy as np

    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(np.asarray(a), np.asarray(b))
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


# ------------------------------------------------------------- PostgreSQL
def postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return str(Path(found[-1]).parent) if found else None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (temp dir, free port, own socket dir); yields its SQLAlchemy URL.

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
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=50"
    run(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-w", "-t", "60", "-l", os.path.join(root, "log"), "start")
    try:
        run(f"{bindir}/createdb", "-h", sock, "-p", str(port), "-U", "magister", "magister")
        yield f"postgresql+psycopg://magister@127.0.0.1:{port}/magister"
    finally:
        with contextlib.suppress(Exception):
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
