"""The teacher service in two minutes: start a server, create a curriculum, teach over HTTP.

Runs ``magister serve`` in a child process on a temporary SQLite file, creates
a curriculum over a 2-D Box with the ALP-GMM teacher, and lets a toy learner
(which improves on easy tasks first) practise through ``HTTPTeacher`` — the
same calls as a local teacher — next to the same learner under uniform sampling. Open the printed dashboard link while it runs
(``--keep`` leaves the server up afterwards).

    .venv/bin/python examples/serve_quickstart.py [--steps 400] [--keep]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import magister as mg
from magister.errors import ConfigError
from magister.serve.client import create_curriculum
from magister.serve.harness import Server
from magister.settings import whole


def practise(teacher, steps: int, seed: int = 0) -> float:
    """A toy learner that improves by practising tasks near its skill; returns its skill at the end
    (0: only the easiest tasks, 1: the hardest)."""
    # a stream of its own: seeded like the teachers (seed 0), the learner's noise was drawn from the same bits as
    # their proposals
    rng = np.random.default_rng([seed, 1])
    skill = 0.0
    for _ in range(steps // 10):
        tasks = teacher.propose(10)  # an array (10, 2), exactly like a local teacher
        difficulty = tasks.sum(axis=1) / 2
        scores = np.clip(1.0 - np.abs(difficulty - skill) * 2 + rng.normal(0, 0.05, 10), 0, 1)
        teacher.observe_batch(tasks, scores)  # durable before this returns; retried safely if the link drops
        skill += 0.004 * scores.mean()
    return skill


def main(steps: int = 400, keep: bool = False) -> dict[str, float]:
    # the learner asks for 10 tasks at a time: refused before the server starts, a budget of 5 ran no task
    # and 405 ran 400 while the last line said 405
    if whole("steps", steps, 10) % 10:
        raise ConfigError(f"steps must be a multiple of 10 (the learner asks for 10 tasks at a time), got {steps}")
    token = "quickstart-admin-token"
    space = mg.Box([0, 0], [1, 1], names=["friction", "slope"])
    # the database lives in a temporary folder, removed (after the server stops) when the example ends
    with tempfile.TemporaryDirectory(prefix="magister-serve-") as tmp, \
            Server(os.path.join(tmp, "teachers.db"), admin_token=token) as server:
        print(f"server: {server.url}  dashboard: {server.url}/dashboard#token={token}")
        teacher = create_curriculum(server.url, "walker", space, "alp-gmm", token=token, seed=0, fit_rate=50)
        # the same learner under uniform sampling, through the same service
        uniform = create_curriculum(server.url, "walker-uniform", space, "uniform", token=token, seed=0)
        skill = {"alp-gmm": practise(teacher, steps), "uniform": practise(uniform, steps)}
        print(f"observed {teacher.n_observed}, proposed {teacher.n_proposed}")
        print("beliefs keys:", sorted(teacher.beliefs())[:8])
        local = teacher.to_local()  # an exact local copy of the remote teacher
        print("local copy:", local, "with", local.n_observed, "observations")
        print(f"teacher alp-gmm: {skill['alp-gmm']:.1%} vs uniform {skill['uniform']:.1%} of the way to the "
              f"hardest task after {steps} tasks (the toy learner's skill): "
              f"{'beats' if skill['alp-gmm'] > skill['uniform'] else 'does not beat'} uniform")
        if keep:
            print("server left running; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    return skill


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--keep", action="store_true", help="leave the server running at the end (Ctrl-C to stop)")
    args = ap.parse_args()
    from magister.errors import ConfigError

    try:
        main(args.steps, args.keep)
    except ConfigError as e:  # a refused option: the usage and the reason, not a traceback
        ap.error(str(e))
