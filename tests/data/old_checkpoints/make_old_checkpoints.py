"""Write the checkpoints of this folder with an OLD magister (not run by the tests).

    git -C REPO archive COMMIT | tar -x -C /tmp/old_COMMIT
    PYTHONPATH=/tmp/old_COMMIT/src python make_old_checkpoints.py COMMIT . riac plr ...

Each teacher is driven 60 rounds of ``propose(2)`` / ``observe_batch`` (150 for ``exp3``) by the conformance
suite's ``ToyLearner``, saved as ``NAME-COMMIT.mg``, then driven 15 rounds more: ``expected.json`` keeps the
learner's state at the save and those 30 proposals (and the teacher's ``probability`` belief at the save), which
``tests/test_old_checkpoints.py`` checks the teacher loaded by this magister proposes.
``lp-bandit-030ed2a.mg`` is ``lp-bandit`` on ``Discrete(5)``, seed 3, after 60 rounds, saved at 030ed2a (before
its noise estimates were kept).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import magister as mg
from magister.testing import ToyLearner

BOX3 = mg.Box([0.0] * 3, [1.0, 2.0, 10.0])
#: name -> (settings, space, scores: "graded" (the learner's competence), "binary" (competence >= 0.3), "noisy")
CASES = {
    "riac": (dict(max_points=30, min_width=0.1), BOX3, "graded"),
    "riac-plus": (dict(max_points=30, min_width=0.1), BOX3, "binary"),
    "covar-gmm-plus": (dict(fit_rate=20, window=40, bootstrap=40, potential_ks=[1, 2, 3]), BOX3, "binary"),
    "exp3": (dict(reward="progress", scale=300.0, fast=0.3, slow=0.1), mg.Discrete(5), "noisy"),
    "plr": (dict(capacity=8, replay_prob=0.6), None, "graded"),  # on MazeSpace(6, wall_density=0.2)
    "difficulty-band": ({}, mg.Discrete(5), "graded"),
    # (no similarity: no search, so any n_candidates was taken before the limit of a search's candidates)
    "continual-designer": (dict(n_candidates=2_000_000), mg.Discrete(5), "graded"),
}


class Scorer:
    """The scores of ``ToyLearner`` as graded, thresholded or coin-flip (a fixed low-discrepancy sequence)."""

    def __init__(self, learner: ToyLearner, kind: str, count: int = 0):
        self.learner, self.kind, self.count = learner, kind, count

    def __call__(self, task: object) -> float:
        c = self.learner.attempt(task)
        if self.kind == "binary":
            return float(c >= 0.3)
        if self.kind == "noisy":
            self.count += 1
            return float((self.count * 0.6180339887) % 1.0 < c)
        return c


def drive(teacher: mg.Teacher, score: Scorer, rounds: int) -> list:
    out = []
    for _ in range(rounds):
        tasks = list(teacher.propose(2))
        teacher.observe_batch(tasks, [score(x) for x in tasks])
        out += [teacher.space.to_json(x) for x in tasks]
    return out


def main(commit: str, out: Path, names: list[str]) -> None:
    index_path = out / "expected.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    for name in names:
        settings, space, kind = CASES[name]
        if space is None:  # (magister.levels is younger than some commits)
            from magister.levels.spaces import MazeSpace

            space = MazeSpace(6, wall_density=0.2)
        teacher = mg.make_teacher(name, space, seed=3, **settings)
        score = Scorer(ToyLearner(space), kind)
        drive(teacher, score, 150 if kind == "noisy" else 60)
        fname = f"{name}-{commit}.mg"
        teacher.save(out / fname)
        saved = {"commit": commit, "scores": kind, "competence": score.learner.competence.tolist(),
                 "count": score.count, "probability": teacher.beliefs().get("probability")}
        saved["after"] = drive(teacher, score, 15)
        index[fname] = saved
    index_path.write_text(json.dumps(index, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
