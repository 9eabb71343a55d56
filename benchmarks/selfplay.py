"""Self-play and opponent curricula on PettingZoo connect four (or tic-tac-toe): who is hardest to beat at equal games?

The learner trains through :class:`magister.rl.pettingzoo.OpponentEnv` on a PettingZoo classic game against
opponents from an :class:`~magister.opponents.OpponentPool` of its own snapshots (its parameters' bytes, one
every ``--snapshot-every`` games; bounded pool, random eviction). The opponent teachers decide whom it plays:
``self-play`` (the newest snapshot), ``fsp`` (uniform over the pool), ``pfsp`` (hard weighting by default)
and ``opponent-lp`` (learning-progress bandit). Every method plays the same number of games, seats
alternating; pool opponents play greedily.

``--game connect4`` (the default): ``connect_four_v3`` (6 x 7). The learner is an n-tuple network over
afterstates (one weight per line of four cells and its contents, mirror images shared) trained by
Q-learning; a winning move is worth 1 without being learnt.
``--game tictactoe``: ``tictactoe_v3``, a tabular Q-learner over the board up to its 8 symmetries.

Evaluation uses opponents nobody trains against: ``random``, ``greedy`` (wins at once when it can, else
random) and depth-limited negamax search at depths 2 and 4 (``search-2``, ``search-4``; random among
equally good moves; nothing but wins and losses within the horizon counts). A game's score is win 1,
draw 0.5, loss 0. In evaluation every player is greedy (ties broken at random) and the first move of each
game is random, half of the games in each seat.

Printed, per method, medians over seeds with [min-max]:

* the final snapshot's score against each held-out opponent, and its strict win and loss rates against
  ``search-4``;
* no forgetting: the final snapshot against every snapshot of its own first half of training, those taken
  after 1 to ``--games`` / 2 games (not the untrained step-0 snapshot) (strict wins, draws, losses; "not lost" =
  wins + draws);
* the Elo rating of the final snapshot, fitted to cross-play among the kept snapshots of
  all methods and the held-out opponents (``random`` anchored at 1000);
* the mean score against ``search-4`` of the final snapshot and the ``--last-snapshots`` - 1 before it (how much
  of a final score is where the run stopped), and "later beats earlier": the share of pairs of a run's kept
  snapshots in which the later one wins the cross-play (1 for a run that only improves; lower where it cycles);
* every method's gap to naive self-play against ``search-4``, seed by seed.

``--methods`` also takes ``trained-vs-search-2``: a reference row, the same learner trained at equal games
against ``search-2`` (a held-out opponent, on purpose): how far the learner gets when its opponents are not its
own snapshots. ``benchmarks/selfplay_diagnose.py`` measures why the methods do (not) differ.

Written to ``--out``: ``curves.csv`` and ``curves.png`` (score against the held-out opponents over
training), ``crossplay.png`` (the first seed's cross-play matrix), ``ratings.csv``, ``results.json``.

Usage::

    nice -n 10 python benchmarks/selfplay.py                          # connect four, 4 methods x 3 seeds, 2 workers
    python benchmarks/selfplay.py --game tictactoe                    # the tic-tac-toe benchmark
    python benchmarks/selfplay.py --games 600 --seeds 1 --quick       # smoke run
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

from magister.opponents.pool import EVICTIONS  # noqa: E402
from magister.bench.runner import Interrupted, exit_interrupted, run_jobs  # noqa: E402 - (a name here: tests run it in order)

METHODS = ("self-play", "fsp", "pfsp", "opponent-lp")
#: reference runs (not methods): the same learner trained against a held-out opponent, at the same number of games.
#: They break the held-out rule on purpose, to show how far the learner gets when its opponents are not its own
#: snapshots: room that no choice among its snapshots can use shows up as a gap to this row.
REFERENCES = ("trained-vs-search-2",)
HELD_OUT = ("random", "greedy", "search-2", "search-4")
STRONGEST = "search-4"
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
POW3 = 3 ** np.arange(9)
N_STATES = 3 ** 9

# ----------------------------------------------------------------- the game
# boards are tuples of 9 cells (0 empty, 1 first player, 2 second player), cell i = PettingZoo action i


def winner(board: tuple[int, ...]) -> int:
    """1 or 2 if that player has a line, 3 if the board is full (draw), else 0."""
    for a, b, c in LINES:
        if board[a] and board[a] == board[b] == board[c]:
            return board[a]
    return 3 if all(board) else 0


def key_of(board: tuple[int, ...], me: int) -> int:
    """Index of a board seen from ``me``'s side: base 3, 1 = mine, 2 = theirs (as PettingZoo's planes)."""
    k = 0
    for i, v in enumerate(board):
        if v:
            k += int(POW3[i]) * (1 if v == me else 2)
    return k


def _symmetries() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every board key: its canonical key under the 8 symmetries of the square, and for every key the
    map from its cells to the canonical board's cells (``INV[TR[key]][action]``)."""
    grid = np.arange(9).reshape(3, 3)
    perms = []
    for k in range(4):
        r = np.rot90(grid, k)
        perms += [r.reshape(-1), r.T.reshape(-1)]
    perms_a = np.array(perms)  # transformed[i] = board[perm[i]]
    inv = np.argsort(perms_a, axis=1)  # original cell a sits at inv[a] in the transformed board
    digits = (np.arange(N_STATES)[:, None] // POW3[None, :]) % 3
    keys = np.stack([digits[:, p] @ POW3 for p in perms_a])  # (8, N_STATES)
    tr = keys.argmin(0)
    return keys.min(0), tr, inv


CANON, TR, INV = _symmetries()


def qvals(q: np.ndarray, key: int, cells: np.ndarray) -> np.ndarray:
    """Q-values of playing ``cells`` on board ``key``, read from the canonical board's row."""
    return q[CANON[key], INV[TR[key]][cells]]


def key_of_obs(obs: dict[str, np.ndarray]) -> int:
    planes = obs["observation"].reshape(9, 2)
    return int(POW3 @ (planes[:, 0] + 2 * planes[:, 1]))


Policy = Callable[[tuple[int, ...], int, np.random.Generator], int]


def random_policy(state, me, rng) -> int:
    """A uniformly random legal move (tic-tac-toe boards are 9-tuples, connect-four states bit pairs)."""
    moves = [i for i in range(9) if not state[i]] if len(state) == 9 else c4_moves(state)
    return int(rng.choice(moves))


def greedy_policy(board, me, rng) -> int:
    moves = [i for i in range(9) if not board[i]]
    wins = [i for i in moves if winner(board[:i] + (me,) + board[i + 1:]) == me]
    return int(rng.choice(wins or moves))


@lru_cache(maxsize=None)
def negamax(board: tuple[int, ...], me: int, depth: int) -> float:
    """Value of ``board`` for ``me`` to move, searching ``depth`` plies (unknown = 0)."""
    w = winner(board)
    if w:  # a sooner win (more depth left) is worth more, a later loss costs less
        return 0.0 if w == 3 else (1.0 + 0.1 * depth) * (1.0 if w == me else -1.0)
    if depth == 0:
        return 0.0
    best = -10.0
    for i in range(9):
        if not board[i]:
            best = max(best, -negamax(board[:i] + (me,) + board[i + 1:], 3 - me, depth - 1))
    return best


def search_policy(depth: int) -> Policy:
    def policy(board, me, rng) -> int:
        moves = [i for i in range(9) if not board[i]]
        vals = [-negamax(board[:i] + (me,) + board[i + 1:], 3 - me, depth - 1) for i in moves]
        top = max(vals)
        return int(rng.choice([m for m, v in zip(moves, vals) if v == top]))
    return policy


def table_policy(q: np.ndarray) -> Policy:
    def policy(board, me, rng) -> int:
        moves = np.array([i for i in range(9) if not board[i]])
        vals = qvals(q, key_of(board, me), moves)
        return int(rng.choice(moves[vals == vals.max()]))
    return policy


HELD_OUT_POLICIES: dict[str, Policy] = {"random": random_policy, "greedy": greedy_policy,
                                        "search-2": search_policy(2), "search-4": search_policy(4)}


def play(game: "Game", p1: Policy, p2: Policy, rng: np.random.Generator) -> int:
    """One game, ``p1`` moving first, the first move random; returns the game's ``winner`` (1, 2 or 3 = draw)."""
    state = game.initial
    me, first = 1, True
    while True:
        moves = game.moves(state)
        i = int(rng.choice(moves)) if first else (p1 if me == 1 else p2)(state, me, rng)
        first = False
        state = game.apply(state, i, me)
        w = game.winner(state)
        if w:
            return w
        me = 3 - me


def match(game: "Game", a: Policy, b: Policy, games: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """``a`` against ``b``, half the games in each seat: (wins, draws, losses) of ``a``."""
    w = d = l = 0
    for g in range(games):
        a_first = g % 2 == 0
        res = play(game, a, b, rng) if a_first else play(game, b, a, rng)
        if res == 3:
            d += 1
        elif (res == 1) == a_first:
            w += 1
        else:
            l += 1
    return w, d, l


def in_first_half(step: int, games: int) -> bool:
    """Whether the snapshot taken after ``step`` training games is one of the first half of a ``games``-game run,
    the set the forgetting measure ("vs own 1st half") plays against: after step 0 (the untrained learner, which plays
    like ``greedy``, is no snapshot of training) up to and including the one at ``games / 2``."""
    return 0 < step <= games / 2


def rated_indices(n: int, per_run: int) -> list[int]:
    """Which of a run's ``n`` snapshots (step 0 first, the final one last) join the cross-play: step 0 and
    ``per_run`` evenly spaced after it, the final one included (all of them when there are fewer). Every
    ``n // per_run``-th one, as before, kept up to ``2 * per_run`` of them, two of them a snapshot apart (10 000
    games: the ones after 9 600 and 10 000); at the benchmark's 41 snapshots both rules keep the same 9."""
    if n - 1 <= per_run:
        return list(range(n))
    return [i * (n - 1) // per_run for i in range(per_run + 1)]


def score(wdl: tuple[int, int, int]) -> float:
    w, d, l = wdl
    return (w + 0.5 * d) / max(1, w + d + l)


# --------------------------------------------------------------- the learner
class QLearner:
    """Tabular Q-learning over boards seen from the side to move, one row per board up to the 8 symmetries
    of the square (765 rows are ever used); epsilon-greedy, random tie-breaks."""

    def __init__(self, rng: np.random.Generator, alpha: float = 0.3, epsilon: float = 0.1):
        self.q = np.zeros((N_STATES, 9), dtype=np.float32)
        self.rng, self.alpha, self.epsilon = rng, alpha, epsilon

    def act(self, key: int, mask: np.ndarray) -> int:
        legal = np.flatnonzero(mask)
        if self.rng.random() < self.epsilon:
            return int(self.rng.choice(legal))
        vals = qvals(self.q, key, legal)
        return int(self.rng.choice(legal[vals == vals.max()]))

    def update(self, key: int, action: int, reward: float, next_key: int | None, next_mask: np.ndarray | None) -> None:
        target = reward
        if next_key is not None:
            target += float(qvals(self.q, next_key, np.flatnonzero(next_mask)).max())
        c, i = CANON[key], INV[TR[key]][action]
        self.q[c, i] += self.alpha * (target - self.q[c, i])

    def train_game(self, env: Any) -> str:
        """One game through the ``OpponentEnv``; returns its outcome."""
        obs, _ = env.reset()
        key, mask = key_of_obs(obs), obs["action_mask"]
        while True:
            a = self.act(key, mask)
            obs, r, term, trunc, info = env.step(a)
            if term or trunc:
                self.update(key, a, r, None, None)
                return info["outcome"]
            nkey, nmask = key_of_obs(obs), obs["action_mask"]
            self.update(key, a, r, nkey, nmask)
            key, mask = nkey, nmask

    def snapshot(self) -> bytes:
        return self.q.tobytes()

    def params(self) -> np.ndarray:
        return self.q.copy()


def load_table(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32).reshape(N_STATES, 9)


def make_loader(rng: np.random.Generator) -> Callable[[bytes], Callable[[Any], int]]:
    def load_policy(data: bytes) -> Callable[[Any], int]:
        q = load_table(data)

        def policy(obs: dict[str, np.ndarray]) -> int:
            legal = np.flatnonzero(obs["action_mask"])
            vals = qvals(q, key_of_obs(obs), legal)
            return int(rng.choice(legal[vals == vals.max()]))
        return policy
    return load_policy


# ------------------------------------------------------------ connect four
# states are (bits of player 1, bits of player 2): bit c * 7 + r is column c, row r from the bottom (a 7th bit per
# column stays empty so that lines never wrap); the action is the column, as in PettingZoo's connect_four_v3
C4_COLS, C4_ROWS = 7, 6
C4_FULL = sum(((1 << C4_ROWS) - 1) << (7 * c) for c in range(C4_COLS))
C4_COLMASK = [((1 << C4_ROWS) - 1) << (7 * c) for c in range(C4_COLS)]
C4_TOP = [1 << (7 * c + C4_ROWS - 1) for c in range(C4_COLS)]
C4_BOTTOM = [1 << (7 * c) for c in range(C4_COLS)]
# PettingZoo's planes have row 0 at the top: the bit of cell (row, col) of an observation plane
C4_OBS_BITS = np.array([[1 << (7 * c + C4_ROWS - 1 - r) for c in range(C4_COLS)] for r in range(C4_ROWS)], dtype=np.int64)


def c4_won(x: int) -> bool:
    """Whether the bits ``x`` hold four in a row (vertical, horizontal, both diagonals)."""
    for s in (1, 7, 6, 8):
        m = x & (x >> s)
        if m & (m >> (2 * s)):
            return True
    return False


def c4_moves(state: tuple[int, int]) -> list[int]:
    mask = state[0] | state[1]
    return [c for c in range(C4_COLS) if not mask & C4_TOP[c]]


def c4_drop(mask: int, col: int) -> int:
    """The bit a piece dropped in ``col`` lands on."""
    return (mask + C4_BOTTOM[col]) & C4_COLMASK[col]


def c4_apply(state: tuple[int, int], col: int, me: int) -> tuple[int, int]:
    bit = c4_drop(state[0] | state[1], col)
    return (state[0] | bit, state[1]) if me == 1 else (state[0], state[1] | bit)


def c4_winner(state: tuple[int, int]) -> int:
    """1 or 2 if that player has four in a row, 3 if the board is full (draw), else 0."""
    if c4_won(state[0]):
        return 1
    if c4_won(state[1]):
        return 2
    return 3 if (state[0] | state[1]) == C4_FULL else 0


def c4_bits_of_obs(obs: dict[str, np.ndarray]) -> tuple[int, int]:
    """(the side to move's bits, the other side's bits) from a ``connect_four_v3`` observation."""
    planes = obs["observation"]
    return int((planes[:, :, 0] * C4_OBS_BITS).sum()), int((planes[:, :, 1] * C4_OBS_BITS).sum())


def c4_greedy_policy(state, me, rng) -> int:
    moves = c4_moves(state)
    wins = [c for c in moves if c4_won(c4_apply(state, c, me)[me - 1])]
    return int(rng.choice(wins or moves))


@lru_cache(maxsize=1 << 20)
def c4_negamax(a: int, b: int, depth: int) -> float:
    """Value for the side to move (bits ``a``; ``b`` just moved), searching ``depth`` plies (unknown = 0)."""
    if c4_won(b):
        return -(1.0 + 0.1 * depth)
    mask = a | b
    if mask == C4_FULL or depth == 0:
        return 0.0
    best = -10.0
    for c in range(C4_COLS):
        if not mask & C4_TOP[c]:
            best = max(best, -c4_negamax(b, a | c4_drop(mask, c), depth - 1))
    return best


def c4_search_policy(depth: int) -> Policy:
    def policy(state, me, rng) -> int:
        a, b = (state[0], state[1]) if me == 1 else (state[1], state[0])
        mask = a | b
        moves = c4_moves(state)
        vals = [-c4_negamax(b, a | c4_drop(mask, c), depth - 1) for c in moves]
        top = max(vals)
        return int(rng.choice([m for m, v in zip(moves, vals) if v == top]))
    return policy


def _c4_windows() -> tuple[np.ndarray, np.ndarray, int]:
    """The 69 lines of four cells (cell = col * 6 + row), each listed so that a line and its mirror image
    (column c <-> 6 - c) read their cells in matching order and share one weight group."""
    lines = []
    for c in range(C4_COLS):
        for r in range(C4_ROWS):
            for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
                cells = [(c + k * dc, r + k * dr) for k in range(4)]
                if all(0 <= x < C4_COLS and 0 <= y < C4_ROWS for x, y in cells):
                    lines.append(cells)
    groups: dict[frozenset, int] = {}
    order, group = [], []
    for cells in lines:
        key = frozenset(cells)
        mirror = frozenset((C4_COLS - 1 - x, y) for x, y in cells)
        if mirror in groups:  # read this line as the mirror image of one already listed
            first = next(ln for ln in lines if frozenset(ln) == mirror)
            cells = [(C4_COLS - 1 - x, y) for x, y in first]
            group.append(groups[mirror])
        else:
            groups[key] = len(groups)
            group.append(groups[key])
        order.append([x * C4_ROWS + y for x, y in cells])
    return np.array(order), np.array(group), len(groups)


C4_LINES, C4_GROUP, C4_NGROUPS = _c4_windows()
C4_CELL_SHIFT = np.array([7 * (i // C4_ROWS) + i % C4_ROWS for i in range(C4_COLS * C4_ROWS)], dtype=np.int64)
C4_PAT = np.array([1, 3, 9, 27])


def c4_patterns(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """For boards given as bit arrays (n,): the pattern index (0-80) of every line, (n, 69)."""
    cells = ((mine[:, None] >> C4_CELL_SHIFT) & 1) + 2 * ((theirs[:, None] >> C4_CELL_SHIFT) & 1)
    return cells[:, C4_LINES] @ C4_PAT


def c4_afterstates(w: np.ndarray, mine: int, theirs: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The legal columns, their afterstates' values for the side that moved (a win is worth 1, a full board 0,
    otherwise the n-tuple value) and the afterstates' line patterns."""
    mask = mine | theirs
    cols = [c for c in range(C4_COLS) if not mask & C4_TOP[c]]
    after = np.array([mine | c4_drop(mask, c) for c in cols], dtype=np.int64)
    pats = c4_patterns(after, np.full(len(cols), theirs, dtype=np.int64))
    vals = w[C4_GROUP, pats].sum(1)
    for i, a in enumerate(after):
        if c4_won(int(a)):
            vals[i] = 1.0
        elif (int(a) | theirs) == C4_FULL:
            vals[i] = 0.0
    return cols, vals, pats


def c4_greedy_move(w: np.ndarray, mine: int, theirs: int, rng: np.random.Generator) -> int:
    cols, vals, _ = c4_afterstates(w, mine, theirs)
    best = np.flatnonzero(vals >= vals.max() - 1e-9)
    return cols[int(rng.choice(best))]


class NTupleLearner:
    """An n-tuple network over afterstates (Lucas 2008; Thill et al. 2012 for connect four): the value of a board
    for the side that just moved is the sum of one weight per line of four cells, looked up by the line's
    contents (81 patterns; a line and its mirror image share weights). Q-learning on afterstates (the opponent's
    reply is part of the environment), epsilon-greedy; a move that wins is worth 1 without being learnt."""

    def __init__(self, rng: np.random.Generator, alpha: float = 0.005, epsilon: float = 0.1):
        self.w = np.zeros((C4_NGROUPS, 81), dtype=np.float32)
        self.rng, self.alpha, self.epsilon = rng, alpha, epsilon

    def _choose(self, obs: dict[str, np.ndarray]) -> tuple[int, float, np.ndarray | None, float]:
        """(column, its value, its afterstate's patterns or None if terminal, the greedy value)."""
        mine, theirs = c4_bits_of_obs(obs)
        cols, vals, pats = c4_afterstates(self.w, mine, theirs)
        top = float(vals.max())
        if self.rng.random() < self.epsilon:
            i = int(self.rng.integers(len(cols)))
        else:
            i = int(self.rng.choice(np.flatnonzero(vals >= top - 1e-9)))
        after = mine | c4_drop(mine | theirs, cols[i])
        terminal = c4_won(after) or (after | theirs) == C4_FULL
        return cols[i], float(vals[i]), None if terminal else pats[i], top

    def _update(self, pats: np.ndarray | None, value: float, target: float) -> None:
        if pats is not None:
            np.add.at(self.w, (C4_GROUP, pats), self.alpha * (target - value))

    def train_game(self, env: Any) -> str:
        obs, _ = env.reset()
        col, value, pats, _ = self._choose(obs)
        while True:
            obs, _, term, trunc, info = env.step(col)
            if term or trunc:
                self._update(pats, value, {"win": 1.0, "draw": 0.0, "loss": -1.0}[info["outcome"]])
                return info["outcome"]
            ncol, nvalue, npats, top = self._choose(obs)
            self._update(pats, value, top)
            col, value, pats = ncol, nvalue, npats

    def snapshot(self) -> bytes:
        return self.w.tobytes()

    def params(self) -> np.ndarray:
        return self.w.copy()


def c4_table_policy(w: np.ndarray) -> Policy:
    def policy(state, me, rng) -> int:
        mine, theirs = (state[0], state[1]) if me == 1 else (state[1], state[0])
        return c4_greedy_move(w, mine, theirs, rng)
    return policy


def c4_make_loader(rng: np.random.Generator) -> Callable[[bytes], Callable[[Any], int]]:
    def load_policy(data: bytes) -> Callable[[Any], int]:
        w = np.frombuffer(data, dtype=np.float32).reshape(C4_NGROUPS, 81)

        def policy(obs: dict[str, np.ndarray]) -> int:
            return c4_greedy_move(w, *c4_bits_of_obs(obs), rng)
        return policy
    return load_policy


# -------------------------------------------------------------- the games
@dataclass(frozen=True)
class Game:
    """A two-player game as the benchmark needs it: an engine for evaluation games, its held-out opponents,
    the PettingZoo env the learner trains in, the learner and how a snapshot becomes a policy."""

    name: str
    title: str
    initial: Any
    moves: Callable[[Any], list[int]]
    apply: Callable[[Any, int, int], Any]
    winner: Callable[[Any], int]
    held_out: dict[str, Policy]
    pettingzoo: str  # the module's name in pettingzoo.classic
    new_learner: Callable[[np.random.Generator, dict[str, Any]], Any]
    policy_of: Callable[[np.ndarray], Policy]
    make_loader: Callable[[np.random.Generator], Callable[[bytes], Callable[[Any], int]]]
    defaults: dict[str, Any]
    state_of_obs: Callable[[dict[str, np.ndarray]], Any]  # the engine state of an observation, the side to move = 1


def _ttt_moves(board: tuple[int, ...]) -> list[int]:
    return [i for i in range(9) if not board[i]]


def _ttt_apply(board: tuple[int, ...], i: int, me: int) -> tuple[int, ...]:
    return board[:i] + (me,) + board[i + 1:]


def _ttt_state_of_obs(obs: dict[str, np.ndarray]) -> tuple[int, ...]:
    planes = obs["observation"].reshape(9, 2)
    return tuple(int(a) + 2 * int(b) for a, b in planes)


GAMES: dict[str, Game] = {
    "connect4": Game(
        "connect4", "connect four (6 x 7)", (0, 0), c4_moves, c4_apply, c4_winner,
        {"random": random_policy, "greedy": c4_greedy_policy, "search-2": c4_search_policy(2),
         "search-4": c4_search_policy(4)},
        "connect_four_v3", lambda rng, cfg: NTupleLearner(rng, alpha=cfg["alpha"], epsilon=cfg["epsilon"]),
        c4_table_policy, c4_make_loader,
        {"games": 4000, "snapshot_every": 100, "alpha": 0.005, "epsilon": 0.1, "curve_games": 10, "eval_every": 8,
         "final_games": 100, "past_games": 4, "crossplay_games": 6}, c4_bits_of_obs),
    "tictactoe": Game(
        "tictactoe", "tic-tac-toe", (0,) * 9, _ttt_moves, _ttt_apply, winner,
        HELD_OUT_POLICIES, "tictactoe_v3",
        lambda rng, cfg: QLearner(rng, alpha=cfg["alpha"], epsilon=cfg["epsilon"]),
        table_policy, make_loader,
        {"games": 10000, "snapshot_every": 250, "alpha": 0.3, "epsilon": 0.1, "curve_games": 100, "eval_every": 4,
         "final_games": 1000, "past_games": 40, "crossplay_games": 20}, _ttt_state_of_obs),
}

# ------------------------------------------------------------------- one run
def run_one(method: str, seed: int, cfg: dict[str, Any]) -> dict[str, Any]:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import importlib

    import magister as mg
    from magister.opponents import OpponentPool
    from magister.rl.pettingzoo import OpponentEnv

    game = GAMES[cfg["game"]]
    pz_game = importlib.import_module(f"pettingzoo.classic.{game.pettingzoo}")
    t0 = time.perf_counter()
    ss = np.random.SeedSequence([seed, METHODS.index(method) if method in METHODS else 99])
    reference = method[len("trained-vs-"):] if method in REFERENCES else None
    rng_learner, rng_opp, rng_eval = (np.random.default_rng(s) for s in ss.spawn(3))
    rng_eval_same = np.random.default_rng(seed + 1000)  # the same evaluation games for every method
    games, every = cfg["games"], cfg["snapshot_every"]
    learner = game.new_learner(rng_learner, cfg)
    # the pool rewrites its index durably (fsync) at every reported game; a memory-backed folder keeps that off the disk
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        pool = OpponentPool(Path(tmp) / "pool", max_size=cfg["pool_size"], eviction=cfg.get("eviction", "random"), seed=seed,
                            max_ids=games // every + 2)
        pool.add(learner.snapshot(), step=0)
        if reference is None:
            teacher = mg.make_teacher(method, pool.space, pool=pool, seed=seed, **cfg.get("teacher_kwargs", {}).get(method, {}))
            env = OpponentEnv(pz_game.env, pool, game.make_loader(rng_opp), teacher=teacher, seat="alternate")
        else:  # one fixed opponent in a pool of its own; the learner's snapshots go to the other pool
            fixed = OpponentPool(Path(tmp) / "fixed", max_size=1, max_ids=1)
            fixed.add(reference.encode())
            teacher = mg.make_teacher("fsp", fixed.space, pool=fixed, seed=seed)
            held_policy = game.held_out[reference]

            def load_fixed(data: bytes) -> Callable[[Any], int]:
                return lambda obs: held_policy(game.state_of_obs(obs), 1, rng_opp)
            env = OpponentEnv(pz_game.env, fixed, load_fixed, teacher=teacher, seat="alternate")
        history: list[tuple[int, np.ndarray]] = [(0, learner.params())]
        curves: list[dict[str, Any]] = []
        outcomes = {"win": 0, "draw": 0, "loss": 0}
        for g in range(1, games + 1):
            if cfg.get("anneal"):  # the step size falls linearly from alpha to 0 over the games, for every method
                learner.alpha = cfg["alpha"] * (1.0 - (g - 1) / games)
            outcomes[learner.train_game(env)] += 1
            if g % every == 0:
                pool.add(learner.snapshot(), step=g)
                history.append((g, learner.params()))
                if (g // every) % cfg["eval_every"] == 0 or g == games:
                    pol = game.policy_of(history[-1][1])
                    row = {"method": method, "seed": seed, "games": g}
                    for name, opp in game.held_out.items():
                        row[name] = score(match(game, pol, opp, cfg["curve_games"], rng_eval))
                    curves.append(row)
        final = game.policy_of(learner.params())
        held = {name: match(game, final, opp, cfg["final_games"], rng_eval_same) for name, opp in game.held_out.items()}
        # the last snapshots before the final one against the strongest: how much of the final score is where the run stopped
        rng_last = np.random.default_rng(seed + 2000)  # its own stream: the columns measured before stay as they were
        last = [score(match(game, game.policy_of(q), game.held_out[STRONGEST], cfg["final_games"], rng_last))
                for _, q in history[-cfg["last_snapshots"]:-1]]
        first_half = [q for step, q in history if in_first_half(step, games)]
        wdl = np.zeros(3, dtype=int)
        for q in first_half:
            wdl += match(game, final, game.policy_of(q), cfg["past_games"], rng_eval)
        pool_records = [r.to_dict() for r in pool.records()]
        teacher_games = teacher.beliefs().get("games")
    kept = [history[i] for i in rated_indices(len(history), cfg["rated_per_run"])]
    return {
        "method": method, "seed": seed, "seconds": time.perf_counter() - t0, "train_outcomes": outcomes,
        "held_out": {k: list(v) for k, v in held.items()}, "vs_first_half": wdl.tolist(),
        "last_vs_strongest": last + [score(held[STRONGEST])],
        "n_first_half": len(first_half), "curves": curves, "kept": kept, "pool": pool_records,
        "teacher_games": teacher_games,
    }


# --------------------------------------------------------------- cross-play
def cross_play(game: Game, results: list[dict[str, Any]], games: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    labels = list(HELD_OUT)
    policies: list[Policy] = [game.held_out[n] for n in HELD_OUT]
    for r in results:
        for step, q in r["kept"]:
            labels.append(f"{r['method']}@{step}")
            policies.append(game.policy_of(q))
    n = len(policies)
    scores, counts = np.zeros((n, n)), np.zeros((n, n))
    rng = np.random.default_rng(seed)
    for i in range(n):
        for j in range(i + 1, n):
            w, d, l = match(game, policies[i], policies[j], games, rng)
            scores[i, j], counts[i, j] = (w + 0.5 * d) / games, games
            scores[j, i], counts[j, i] = 1 - scores[i, j], games
    np.fill_diagonal(scores, 0.5)
    return scores, counts, labels


def rate(scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Elo of every cross-play player, ``random`` (player 0) at 1000. :func:`cross_play` lists each pair's games on
    both sides of ``counts``; ``fit_elo`` counts a game from each side it is listed on, so one side is passed
    (both doubled the evidence against the prior: absolute ratings about 50 high)."""
    from magister.opponents import fit_elo

    return fit_elo(scores, np.triu(counts), anchor=0)


def later_beats_earlier(scores: np.ndarray, idx: list[int]) -> float:
    """Share of the pairs of one run's snapshots (``idx``, oldest first) in which the later one scores above 0.5
    against the earlier in cross-play: 1 for a run that only ever improves, lower where it cycles or forgets."""
    pairs = [(i, j) for a, i in enumerate(idx) for j in idx[a + 1:]]
    return float(np.mean([scores[j, i] > 0.5 for i, j in pairs])) if pairs else float("nan")


def fmt(values: list[float], pct: bool = True, signed: bool = False) -> str:
    """median [min-max] over seeds (in % with ``pct``); a range with a negative end (an Elo rating), or of
    ``signed`` values (gaps, with "+" on positive ones), reads "-1 [-3 to +2]", not "-1 [-3-2]"."""
    from magister.bench.report import median_range

    return median_range(values, 0, scale=100.0 if pct else 1.0, signed=signed)


def csv_text(rows: list[dict[str, Any]], fields: list[str]) -> str:
    """``rows`` as the text of a CSV file with the columns ``fields``."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from magister.bench.args import at_least, distinct, number_in, out_folder, quick_sets, strict_json, write_atomically

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--game", default="connect4", choices=list(GAMES))
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"any of {', '.join(METHODS)}; and {', '.join(REFERENCES)} as a reference row")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=at_least(0), default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--games", type=int, help="training games per method and seed (game's default)")
    ap.add_argument("--snapshot-every", type=int, help="(game's default)")
    ap.add_argument("--pool-size", type=at_least(1), default=20)
    ap.add_argument("--eviction", default="random", choices=EVICTIONS)
    ap.add_argument("--alpha", type=number_in(0.0, low_open=True), help="learner's step size (game's default)")
    ap.add_argument("--epsilon", type=number_in(0.0, 1.0),
                    help="learner's exploration, a probability (game's default)")
    ap.add_argument("--anneal", action="store_true",
                    help="the learner's step size falls linearly from --alpha to 0 over the games (every method)")
    ap.add_argument("--pfsp-weighting", default="hard", choices=["hard", "variance"])
    ap.add_argument("--eval-every", type=int, help="curve point every this many snapshots (game's default)")
    ap.add_argument("--curve-games", type=int)
    ap.add_argument("--final-games", type=int)
    ap.add_argument("--past-games", type=int, help="games against each first-half snapshot")
    ap.add_argument("--last-snapshots", type=int, default=5,
                    help="the final snapshot and those before it, each against the strongest (mean printed)")
    ap.add_argument("--rated-per-run", type=int, default=8, help="snapshots per run in the cross-play")
    ap.add_argument("--crossplay-games", type=int)
    ap.add_argument("--workers", type=at_least(1), default=2)
    ap.add_argument("--quick", action="store_true", help="small evaluation budgets (smoke runs): sets --curve-games, "
                    "--final-games, --past-games and --crossplay-games")
    ap.add_argument("--out", default="results/selfplay")
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS + REFERENCES]
    if unknown:
        ap.error(f"unknown methods {unknown}; choose from {METHODS + REFERENCES}")
    if not methods:
        ap.error("--methods names no method")
    distinct(methods, "--methods", ap)  # a repeated method ran its runs twice
    if args.seeds < 1:
        ap.error(f"--seeds must be at least 1, got {args.seeds}")
    quick_sets(ap, args, ("curve_games", "final_games", "past_games", "crossplay_games"))  # (replaced silently)
    game = GAMES[args.game]
    for k, v in game.defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.quick:
        args.curve_games, args.final_games, args.past_games, args.crossplay_games = 10, 40, 4, 4
    # checked before any run: each of these failed only after every run had trained (division by zero), or was
    # measured silently otherwise (--last-snapshots 0 averaged every snapshot; an odd number of evaluation games
    # gave one seat an extra game; --games off the snapshot grid rated a snapshot older than the final one)
    for name in ("games", "snapshot_every", "eval_every", "rated_per_run", "last_snapshots"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.games % args.snapshot_every:
        ap.error(f"--games ({args.games}) must be a multiple of --snapshot-every ({args.snapshot_every}): the last "
                 "snapshot is the final one that is rated")
    for name in ("curve_games", "final_games", "past_games", "crossplay_games"):
        v = getattr(args, name)
        if v < 2 or v % 2:
            ap.error(f"--{name.replace('_', '-')} must be an even number of at least 2 (half of the games in each "
                     f"seat), got {v}")
    cfg = {k: getattr(args, k) for k in ("game", "games", "snapshot_every", "pool_size", "eviction", "alpha", "epsilon",
                                          "eval_every", "curve_games", "final_games", "past_games", "rated_per_run",
                                          "last_snapshots")}
    cfg["teacher_kwargs"] = {"pfsp": {"weighting": args.pfsp_weighting}}
    cfg["anneal"] = args.anneal
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    jobs = [(m, s) for s in seeds for m in methods]
    out = out_folder(ap, args.out)  # a file there failed after every run had trained
    t0 = time.perf_counter()
    try:  # (Ctrl-C: one line, not a traceback from each worker)
        results = run_jobs(run_one, [(m, s, cfg) for m, s in jobs], workers=args.workers, star=True)
    except Interrupted as e:
        exit_interrupted(e)
    from magister.opponents import plot_cross_play

    final_rating: dict[tuple[str, int], float] = {}
    later_wins: dict[tuple[str, int], float] = {}
    rating_rows = []
    for s in seeds:
        runs = [r for r in results if r["seed"] == s]
        sc, ct, labels = cross_play(game, runs, args.crossplay_games, s)
        ratings = rate(sc, ct)
        for r in runs:
            final_rating[(r["method"], s)] = float(ratings[labels.index(f"{r['method']}@{r['kept'][-1][0]}")])
            later_wins[(r["method"], s)] = later_beats_earlier(sc, [labels.index(f"{r['method']}@{st}")
                                                                    for st, _ in r["kept"] if st > 0])
        rating_rows += [{"seed": s, "player": lab, "elo": float(e)} for lab, e in zip(labels, ratings)]
        if s == seeds[0]:
            plot_cross_play(sc, labels, out / "crossplay.png")
    # each file is put in place in one step: a write stopped partway left it half-written, an earlier run's lost
    write_atomically(out / "ratings.csv", csv_text(rating_rows, ["seed", "player", "elo"]))
    curves = [row for r in results for row in r["curves"]]
    write_atomically(out / "curves.csv", csv_text(curves, ["method", "seed", "games", *HELD_OUT]))
    _plot_curves(curves, methods, out / "curves.png")

    table: dict[str, dict[str, Any]] = {}
    print(f"\n{game.title}, {args.games} games per run, seeds {seeds[0]}-{seeds[-1]}; score = win 1, draw 0.5, loss 0 "
          f"(median [min-max] over seeds, %)\n")
    head = "| method | " + " | ".join(f"vs {n}" for n in HELD_OUT) + f" | won / lost vs {STRONGEST} | vs own 1st half: " \
           f"won / drew / lost | not lost | Elo (final) | vs {STRONGEST}, last {args.last_snapshots} (mean) | " \
           "later beats earlier | min/run |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for m in methods:
        runs = [r for r in results if r["method"] == m]
        held = {n: [score(tuple(r["held_out"][n])) for r in runs] for n in HELD_OUT}
        won = [r["held_out"][STRONGEST][0] / sum(r["held_out"][STRONGEST]) for r in runs]
        lost = [r["held_out"][STRONGEST][2] / sum(r["held_out"][STRONGEST]) for r in runs]
        past = [np.array(r["vs_first_half"]) / max(1, sum(r["vs_first_half"])) for r in runs]
        elo = [final_rating[(m, r["seed"])] for r in runs]
        last = [float(np.mean(r["last_vs_strongest"])) for r in runs]
        later = [later_wins[(m, r["seed"])] for r in runs]
        mins = [r["seconds"] / 60 for r in runs]
        table[m] = {"held_out": held, "won_vs_strongest": won, "lost_vs_strongest": lost, "vs_first_half": [p.tolist() for p in past],
                    "elo": elo, "last_vs_strongest": last, "later_beats_earlier": later, "minutes": mins}
        print(f"| {m} | " + " | ".join(fmt(held[n]) for n in HELD_OUT) + f" | {fmt(won)} / {fmt(lost)} | "
              + " / ".join(fmt([p[i] for p in past]) for i in range(3)) + f" | {fmt([p[0] + p[1] for p in past])} | "
              + f"{fmt(elo, pct=False)} | {fmt(last)} | {fmt(later)} | {statistics.median(mins):.1f} |")
    pool_methods = [m for m in methods if m not in ("self-play",) + REFERENCES]
    best = max(pool_methods, key=lambda m: statistics.median(table[m]["held_out"][STRONGEST]), default=None)
    if "self-play" in table:
        print(f"\nvs {STRONGEST}, points above naive self-play seed by seed (final snapshot; mean of the last "
              f"{args.last_snapshots}):")
        final_gap: dict[str, list[float]] = {}
        for m in [m for m in methods if m != "self-play"]:
            final_gap[m] = [a - b for a, b in zip(table[m]["held_out"][STRONGEST], table["self-play"]["held_out"][STRONGEST])]
            last_gap = [a - b for a, b in zip(table[m]["last_vs_strongest"], table["self-play"]["last_vs_strongest"])]
            per_seed = ", ".join(f"{100 * g:+.0f}" for g in final_gap[m])
            print(f"  {m}: {fmt(final_gap[m], signed=True)} ({per_seed}); last {args.last_snapshots}: "
                  f"{fmt(last_gap, signed=True)}")
        if best:
            print(f"best pool method vs {STRONGEST}: {best}, {fmt(final_gap[best], signed=True)} points above naive self-play (per seed)")
    print(f"\nwrote {out}/curves.csv, curves.png, crossplay.png, ratings.csv, results.json "
          f"({(time.perf_counter() - t0) / 60:.1f} min)")
    summary = {"args": vars(args), "table": table, "best": best,
               "runs": [{k: v for k, v in r.items() if k != "kept"} for r in results]}
    write_atomically(out / "results.json", strict_json(summary, indent=1, default=float))
    return summary


def _plot_curves(curves: list[dict[str, Any]], methods: list[str], path: Path) -> None:
    from matplotlib.figure import Figure

    from magister.checkpoint import save_figure  # (written whole: a Ctrl-C cut fig.savefig's picture short)

    fig = Figure(figsize=(4 * len(HELD_OUT), 3.4))
    for k, name in enumerate(HELD_OUT):
        ax = fig.add_subplot(1, len(HELD_OUT), k + 1)
        for m in methods:
            rows = [c for c in curves if c["method"] == m]
            steps = sorted({c["games"] for c in rows})
            vals = np.array([[c[name] for c in rows if c["games"] == s] for s in steps], dtype=object)
            med = [float(np.median(v)) for v in vals]
            lo = [float(np.min(v)) for v in vals]
            hi = [float(np.max(v)) for v in vals]
            ax.plot(steps, med, label=m)
            ax.fill_between(steps, lo, hi, alpha=0.15)
        ax.set_title(f"vs {name}", fontsize=9)
        ax.set_xlabel("training games")
        ax.set_ylim(0, 1)
        if k == 0:
            ax.set_ylabel("score (draw = 0.5)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


if __name__ == "__main__":
    main()
