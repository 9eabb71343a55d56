"""RIAC: Robust Intelligent Adaptive Curiosity (Baranes and Oudeyer, 2009).

The task space (in unit coordinates) is split recursively into regions by a
``RegionTree`` (``magister.regions``): each region remembers its latest
``(task, score)`` pairs, a region holding more than ``max_points`` tries
``n_cuts`` random axis-aligned cuts and keeps the one that best separates
learning progress. Learning progress (LP) of a region is
``|mean(older half) - mean(newer half)|`` of its recent scores (exactly 0 for equal scores, however
their means round).

Each proposal is drawn from a mix (reference 70 / 20 / 10):

* ``ratio_region``: pick a region with probability proportional to its LP
  (uniformly if no region shows progress yet), then a uniform task inside it;
* ``ratio_random``: a uniform task over the whole space;
* the rest: pick a region by LP, take its lowest-scoring remembered task and
  perturb it with Gaussian noise of ``perturb_std`` (unit coordinates),
  clipped to the region.

Splits follow the reference by default: the split score is the children's LP
difference alone (``balance=False``: the reference's population term
multiplied two constants) and each candidate cut is drawn anywhere in the
region, redrawn until both children hold ``min_points``, thin ones refused
(``cuts="region"``). ``balance=True`` weighs the score by ``n_low * n_high``
and ``cuts="valid"`` draws values only where both children are wide enough
(what ``riac-plus`` uses). As in the reference code, the two new leaves
start with the LP of the *last* cut attempted rather than of the chosen one
(``child_lp="last"``; each leaf's LP is recomputed at its next observation);
``child_lp="best"`` gives them the chosen cut's. Other differences from the
reference code (see ``docs/teachers-riac-adr.md``): the
perturbation noise is in unit coordinates, region lookups and cut evaluation
are vectorised, and every random draw uses the teacher's own generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..regions import RegionTree
from ..settings import flag, fraction, number
from ..teacher import Teacher, register


@register("riac")
class RIAC(Teacher):
    """Region-based learning-progress teacher (RIAC), faithful to the reference defaults."""

    kind = "continuous"
    conformance_kwargs = {"max_points": 30, "min_width": 0.1}
    #: what checkpoints saved before ``balance`` and ``cuts`` (f6d5ec0) and ``child_lp`` (a40da43) did
    legacy_settings = {"balance": True, "cuts": "valid", "child_lp": "best"}

    def __init__(
        self,
        space,
        *,
        seed=None,
        score_range=None,
        max_points: int = 200,
        lp_window: int | None = None,
        n_cuts: int = 50,
        min_width: float = 1.0 / 15.0,
        min_points: int | None = None,
        discard: float = 0.25,
        ratio_region: float = 0.7,
        ratio_random: float = 0.2,
        perturb_std: float = 0.1,
        leaves_only: bool = False,
        lp_power: float = 1.0,
        min_gap: float = 0.0,
        lp_z: float = 0.0,
        competence_weight: float = 0.0,
        split_alpha: float = 0.0,
        noise_z: float = 0.0,
        balance: bool = False,
        cuts: str = "region",
        child_lp: str = "last",
        binary_noise: bool = False,
    ):
        super().__init__(space, seed=seed, score_range=score_range)
        self.ratio_region = fraction("ratio_region", ratio_region)
        self.ratio_random = fraction("ratio_random", ratio_random)
        if self.ratio_region + self.ratio_random > 1.0 + 1e-12:
            raise ConfigError(
                f"ratio_region + ratio_random must be <= 1 (the rest goes to perturbing the worst task), "
                f"got {ratio_region} + {ratio_random}"
            )
        # (an infinite one was taken: every perturbed task went to a corner of its region; numpy numbers were refused)
        self.perturb_std = number("perturb_std", perturb_std, 0.0, hint="a standard deviation in unit coordinates")
        self.leaves_only = flag("leaves_only", leaves_only)
        self.lp_power = number("lp_power", lp_power, 0.0, 8.0, low_open=True,
                               hint="regions are drawn in proportion to progress ** lp_power")
        self.tree = RegionTree(
            space.dim, max_points=max_points, lp_window=lp_window, n_cuts=n_cuts, min_width=min_width,
            min_points=min_points, discard=discard, min_gap=min_gap, lp_z=lp_z, competence_weight=competence_weight,
            split_alpha=split_alpha, noise_z=noise_z, balance=balance, cuts=cuts,
            child_lp=child_lp, binary_noise=binary_noise,
        )

    # ------------------------------------------------------------ sampling
    def _candidates(self) -> np.ndarray:
        return self.tree.leaves if self.leaves_only else np.arange(self.tree.n_nodes)

    def region_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """``(region ids, probability of picking each)`` for the LP-driven modes."""
        nodes = self._candidates()
        w = self.tree.progress(nodes) ** self.lp_power
        total = w.sum()
        if not np.isfinite(total) or total <= 0:
            return nodes, np.full(len(nodes), 1.0 / len(nodes))
        return nodes, w / total

    def _propose(self, k: int) -> np.ndarray:
        return np.clip(self._draw(k)[0], 0.0, 1.0)

    def _draw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """RIAC's mix of region, uniform and perturbed-worst-task draws, before clipping, and the
        LP-picked region of each row."""
        d = self.space.dim
        mode = self.rng.random(k)
        u = self.rng.random((k, d))
        nodes, p = self.region_probabilities()
        pick = nodes[self.rng.choice(len(nodes), size=k, p=p)]
        noise = self.rng.normal(0.0, 1.0, size=(k, d))
        out = u.copy()  # uniform over the space by default
        lo, hi = self.tree.low[pick], self.tree.high[pick]
        in_region = mode < self.ratio_region
        out[in_region] = lo[in_region] + u[in_region] * (hi[in_region] - lo[in_region])
        perturb = mode >= self.ratio_region + self.ratio_random
        if self.n_observed == 0:
            perturb[:] = False
        if perturb.any():
            worst = self.tree.worst_point(pick[perturb])
            moved = worst + self.perturb_std * noise[perturb]
            out[perturb] = np.clip(moved, lo[perturb], hi[perturb])
        return out, pick

    def _observe(self, x: np.ndarray, scores: np.ndarray) -> None:
        self.tree.add(x, scores, self.rng)

    # ------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {"tree": self.tree.state_dict()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.tree.load_state_dict(state["tree"])

    def _beliefs(self) -> dict[str, Any]:
        nodes, p = self.region_probabilities()
        lp_share = self.ratio_region + max(0.0, 1.0 - self.ratio_region - self.ratio_random)
        prob = dict(zip(nodes.tolist(), (lp_share * p).tolist()))
        regions = self.tree.summary()
        for r in regions:
            r["probability"] = float(prob.get(r["id"], 0.0))
        return {
            "kind": "regions",
            "regions": regions,
            "n_regions": self.tree.n_nodes,
            "n_leaves": int(self.tree.is_leaf.sum()),
            "ratio_random": self.ratio_random,
        }
