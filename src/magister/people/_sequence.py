"""Shared machinery of the PyTorch sequence learner models (``dkt``, ``sakt``).

Not an algorithm of its own: the skill vocabulary of the network, each
learner's answers as sequences, the training loop (Adam, mini-batches of
sequence chunks, early stopping on learners held out of ``fit``'s log), the
online state per learner, and saving the network as plain numpy arrays.
PyTorch is imported only inside methods (the ``[torch]`` extra), so importing
``magister.people`` stays light.

A subclass supplies the network (:meth:`SequenceModel._make_net`), the
training forward pass over padded chunks (:meth:`SequenceModel._train_logits`),
the vectorised replay of many learners from their saved states
(:meth:`SequenceModel._run`), one online step (:meth:`SequenceModel._step`)
and the per-skill P(correct) of a state (:meth:`SequenceModel._probs`).
"""

from __future__ import annotations

import contextlib
import time as _time
from typing import Any, ClassVar, Iterator

import numpy as np

from ..errors import ConfigError, missing_extra_import
from ..settings import flag
from .base import LearnerModel, new_number, reading_setting
from .events import Event, EventLog
from .evaluate import auc

__all__ = ["SequenceModel", "require_torch"]


def require_torch():
    """Import torch, or say which extra to install (an ``ImportError``, as every missing extra of magister)."""
    try:
        import torch
    except ImportError as e:
        raise missing_extra_import("this learner model (DKT or SAKT)", "torch", e) from e
    return torch


class SequenceModel(LearnerModel):
    """Base of the PyTorch knowledge-tracing models.

    Common settings: ``epochs`` (most passes over the training learners),
    ``batch_size`` (chunks per step), ``lr`` (Adam), ``seq_len`` (training
    chunk length; a model with a bounded window, SAKT, also gives each chunk
    the answers before it that its predictions see, unscored; a model whose
    state runs over the whole history, DKT, starts each chunk from the state
    the learner's previous chunk ended in, without backpropagating into it),
    ``valid_fraction`` (share of ``fit``'s learners held out
    to pick the best epoch; 0 trains on all and keeps the last epoch),
    ``patience`` (epochs without a better validation AUC before stopping; where
    the held-out learners' answers are all right or all wrong the AUC is
    undefined and every epoch runs, the last one kept),
    ``max_minutes`` (stop starting new epochs after that long), ``seed``,
    ``threads`` (``torch.set_num_threads`` during ``fit``, restored after;
    default 1: the per-step products of a small network are too small to
    share between threads, and on ASSISTments 2015 two threads spent more CPU
    seconds per epoch than one; None leaves torch's own setting),
    ``mastery_threshold`` (predicted P(correct) at which a skill counts as
    mastered), ``graded``.
    """

    mastery_is_p_correct: ClassVar[bool] = True
    # True (DKT): a prediction depends on the learner's whole history through the model's state, so in training
    # each learner's chunks are taken in order and a chunk starts from the state the previous one ended in
    # (detached: truncated backpropagation through time), as replay carries the state across the whole sequence
    train_carries_state: ClassVar[bool] = False

    def __init__(self, *, epochs: int = 20, batch_size: int = 64, lr: float = 1e-3, seq_len: int = 200,
                 valid_fraction: float = 0.1, patience: int = 2, max_minutes: float | None = None, seed: int = 0,
                 threads: int | None = 1, mastery_threshold: float = 0.9, graded: bool = False,
                 **network: Any):
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, seq_len=seq_len,
                         valid_fraction=valid_fraction, patience=patience, max_minutes=max_minutes, seed=seed,
                         threads=threads, mastery_threshold=mastery_threshold, graded=graded, **network)
        # a setting given anew as text ("0.1", which float() read), a bool or None (seed=None failed at fit only)
        for k, v in dict(epochs=epochs, batch_size=batch_size, seq_len=seq_len).items():
            new_number(self.name, k, v, "a whole number >= 1", whole=True)
        new_number(self.name, "patience", patience, "a whole number >= 0", whole=True)
        new_number(self.name, "threads", threads, "a whole number >= 1 (or None)", whole=True, none=True)
        new_number(self.name, "lr", lr, "a finite number > 0")
        new_number(self.name, "valid_fraction", valid_fraction, "a number in [0, 1)")
        new_number(self.name, "mastery_threshold", mastery_threshold, "a probability")
        new_number(self.name, "max_minutes", max_minutes, "a number > 0 (or None)", none=True, finite=False)
        new_number(self.name, "seed", seed, f"a whole number in 0..{2**64 - 1} (what torch.manual_seed takes)",
                   whole=True, low=0, high=2**64 - 1)
        for k, v in dict(epochs=epochs, batch_size=batch_size, seq_len=seq_len).items():
            with reading_setting(self.name, k, v, "a whole number >= 1"):
                if int(v) != v or int(v) < 1:
                    raise ConfigError(f"{self.name} {k} must be a whole number >= 1, got {v!r}")
        with reading_setting(self.name, "patience", patience, "a whole number >= 0"):
            if int(patience) != patience or int(patience) < 0:
                raise ConfigError(f"{self.name} patience must be a whole number >= 0, got {patience!r}")
        with reading_setting(self.name, "lr", lr, "a number > 0"):
            if not float(lr) > 0:
                raise ConfigError(f"{self.name} lr must be > 0, got {lr!r}")
        with reading_setting(self.name, "valid_fraction", valid_fraction, "in [0, 1)"):
            if not 0.0 <= float(valid_fraction) < 1.0:
                raise ConfigError(f"{self.name} valid_fraction must be in [0, 1), got {valid_fraction!r}")
        with reading_setting(self.name, "max_minutes", max_minutes, "a number > 0 (or None)"):
            if max_minutes is not None and not float(max_minutes) > 0:
                raise ConfigError(f"{self.name} max_minutes must be > 0 (or None), got {max_minutes!r}")
        with reading_setting(self.name, "threads", threads, "a whole number >= 1 (or None)"):
            if threads is not None and (int(threads) != threads or int(threads) < 1):
                raise ConfigError(f"{self.name} threads must be a whole number >= 1 (or None), got {threads!r}")
        with reading_setting(self.name, "mastery_threshold", mastery_threshold, "a probability"):
            if not 0.0 <= float(mastery_threshold) <= 1.0:
                raise ConfigError(f"mastery_threshold must be a probability, got {mastery_threshold!r}")
        self.graded = flag("graded", graded)
        self.mastery_threshold = float(mastery_threshold)
        self.n_slots = 0  # skills the network knows (fit's skills); later skills share the last, unknown slot
        # the network's slot of each skill code known at fit (a replaced stand-in skill: the unknown slot)
        self.slots = np.zeros(0, dtype=np.int64)
        self.net: Any = None
        self.states: dict[int, Any] = {}  # learner code -> the model's state (numpy arrays)
        self._prob_cache: dict[int, np.ndarray] = {}
        self.history: list[dict[str, float]] = []  # per epoch: train loss, validation AUC, seconds

    # ------------------------------------------------------------ hooks
    def _make_net(self, n_slots: int):
        raise NotImplementedError

    def _train_logits(self, net, skills, correct, lengths, state=None):
        """Logits (B, T) of each step of padded chunks, each predicted from the chunk's earlier steps, and the state
        after each row's last step (None for a model that does not carry it).

        ``state`` (only where :attr:`train_carries_state`): None (every row starts from the empty state) or the state
        the previous call returned, whose first B rows are this call's rows (the learners whose chunks go on); the
        returned state is detached, so no gradient flows into the previous chunk.
        """
        raise NotImplementedError

    def _train_context(self) -> int:
        """How many of a learner's answers before a training chunk the chunk carries as unscored context.

        0: none (DKT carries its state from chunk to chunk instead, :attr:`train_carries_state`). A model whose
        prediction depends only on a bounded window of earlier answers (SAKT) gives its window, so that training
        sees what replay sees.
        """
        return 0

    def _run(self, seqs: list[tuple[np.ndarray, np.ndarray]], states: list[Any]) -> tuple[list[np.ndarray], list]:
        """Predict-then-update over each sequence from its state; the predictions and the final states."""
        raise NotImplementedError

    def _step(self, state: Any, slot: int, y: float) -> Any:
        raise NotImplementedError

    def _probs(self, state: Any) -> np.ndarray:
        """P(correct) of every slot from ``state`` (None = a learner with no answers yet)."""
        raise NotImplementedError

    def _pack_states(self, states: list[Any]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _unpack_states(self, packed: dict[str, Any], n: int) -> list[Any]:
        raise NotImplementedError

    # ------------------------------------------------------------ helpers
    def _correct(self, outcome) -> np.ndarray:
        o = np.asarray(outcome, dtype=float)
        return (o > 1).astype(float) if self.graded else np.clip(o, 0.0, 1.0)

    def _slot(self, s: int) -> int:
        """The network's index of skill code ``s`` (skills unseen in fit share the last slot)."""
        return int(self.slots[s]) if s < len(self.slots) else self.n_slots - 1

    def _need_fit(self) -> None:
        if self.net is None:
            raise ConfigError(f"{self.name} is not fitted: call fit(log) (or load a saved model) first")

    @contextlib.contextmanager
    def _torch_context(self) -> Iterator[Any]:
        """torch with this model's thread count, its RNG forked (the global seed is left alone)."""
        torch = require_torch()
        threads = self.settings.get("threads")
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(int(threads))
        try:
            with torch.random.fork_rng(devices=[]):
                yield torch
        finally:
            torch.set_num_threads(before)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[Any]:
        """torch without gradients for prediction and online steps (no RNG is drawn, threads are left as they are:
        switching thread pools per answer costs more than the answer)."""
        torch = require_torch()
        with torch.no_grad():
            yield torch

    def _sequences(self, lc: np.ndarray, sc: np.ndarray, y: np.ndarray, time: np.ndarray):
        """Per learner (in code order of first appearance): row indices, slots, outcomes, in time order."""
        order = np.lexsort((np.arange(len(lc)), time, lc))
        l_sorted = lc[order]
        cuts = np.flatnonzero(np.r_[True, l_sorted[1:] != l_sorted[:-1]])
        bounds = np.r_[cuts, len(order)]
        slots = np.append(self.slots, self.n_slots - 1)[np.minimum(sc, len(self.slots))]
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows = order[a:b]
            out.append((int(l_sorted[a]), rows, slots[rows], y[rows]))
        return out

    # ---------------------------------------------------------------- fit
    def fit(self, log: EventLog) -> SequenceModel:
        """Train the network on every learner's answers in ``log`` (early stopping on held-out learners)."""
        if len(log) == 0:
            raise ConfigError(f"{self.name} fit needs at least one event")
        # refused before anything changes: a refit refused after the slots were renumbered left the fitted network
        # with the new slots (SAKT: every prediction an IndexError)
        n_learners = len(np.unique(log.learner))
        if n_learners - int(round(float(self.settings["valid_fraction"]) * n_learners)) < 1:
            raise ConfigError(f"{self.name} fit needs more learners than the validation share holds out")
        self._fit_graded(log)
        lc, _, sc = self._adopt_vocab(log)
        self._grow()
        y = self._correct(log.outcome)
        # a slot for every skill but the replaced stand-ins (no items, nothing observed), which share the unknown
        # slot, so asking about an item before its tagged answers does not change the network (nor any prediction)
        keep = np.ones(len(self._skills), dtype=bool)
        keep[sorted(self._hidden_skills())] = False
        self.n_slots = int(keep.sum()) + 1
        self.slots = np.where(keep, np.cumsum(keep) - 1, self.n_slots - 1).astype(np.int64)
        seqs = self._sequences(lc, sc, y, log.time)
        rng = np.random.default_rng(int(self.settings["seed"]))
        n_valid = int(round(float(self.settings["valid_fraction"]) * len(seqs)))  # (len(seqs) - n_valid >= 1)
        perm = rng.permutation(len(seqs))
        valid = [seqs[i] for i in perm[:n_valid]]
        train = [seqs[i] for i in perm[n_valid:]]
        L, C = int(self.settings["seq_len"]), self._train_context()
        # each chunk: its answers, after up to C earlier answers of the learner as context (no loss on those);
        # a learner's chunks are consecutive in ``chunks``, from ``first_chunk`` on
        chunks = [(sl[max(0, a - C):a + L], yy[max(0, a - C):a + L], min(a, C))
                  for _, _, sl, yy in train for a in range(0, len(sl), L)]
        n_chunks = np.array([-(-len(sl) // L) for _, _, sl, _ in train])
        first_chunk = np.r_[0, np.cumsum(n_chunks)[:-1]]
        carry = self.train_carries_state
        with self._torch_context() as torch:
            torch.manual_seed(int(self.settings["seed"]))
            net = self._make_net(self.n_slots)
            opt = torch.optim.Adam(net.parameters(), lr=float(self.settings["lr"]))
            best, best_auc, bad = None, -np.inf, 0
            start = _time.perf_counter()
            limit = self.settings.get("max_minutes")
            self.history = []
            bs = int(self.settings["batch_size"])
            lengths_all = np.array([len(c[0]) for c in chunks])
            context_all = np.array([c[2] for c in chunks])

            def train_step(idx, state=None):
                """One Adam step on the chunks ``idx``; their loss and count of scored answers, and their state."""
                lens = lengths_all[idx]
                T = int(lens.max())
                S = np.zeros((len(idx), T), dtype=np.int64)
                Y = np.zeros((len(idx), T), dtype=np.float32)
                for r, j in enumerate(idx):
                    n = lens[r]
                    S[r, :n], Y[r, :n] = chunks[j][0], chunks[j][1]
                steps = np.arange(T)[None, :]
                mask = torch.as_tensor((steps >= context_all[idx][:, None]) & (steps < lens[:, None]))
                St, Yt = torch.as_tensor(S), torch.as_tensor(Y)
                logits, state = self._train_logits(net, St, Yt, torch.as_tensor(lens), state)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], Yt[mask])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
                opt.step()
                return float(loss.detach()) * int(mask.sum()), int(mask.sum()), state

            for epoch in range(int(self.settings["epochs"])):
                net.train()
                total, count = 0.0, 0
                if not carry:
                    # batches of chunks of similar length (less padding), in random order
                    order = np.argsort(lengths_all + rng.random(len(chunks)) * 8, kind="stable")
                    batches = [order[i:i + bs] for i in range(0, len(order), bs)]
                    for bi in rng.permutation(len(batches)):
                        loss_sum, n, _ = train_step(batches[bi])
                        total, count = total + loss_sum, count + n
                else:
                    # groups of learners of similar length; a group's k-th step trains its learners' k-th chunks
                    # from the states their (k-1)-th chunks ended in. The groups' steps are interleaved at random,
                    # each group's in order. Within a group the learners with more chunks come first, so the rows
                    # of a step are the first rows of the group's previous step (a chunk that goes on is full)
                    by_len = np.argsort(np.array([len(t[2]) for t in train]) + rng.random(len(train)) * 8,
                                        kind="stable")
                    groups = [by_len[i:i + bs] for i in range(0, len(by_len), bs)]
                    groups = [g[np.argsort(-n_chunks[g], kind="stable")] for g in groups]
                    walk = rng.permutation(np.repeat(np.arange(len(groups)), [n_chunks[g[0]] for g in groups]))
                    done = np.zeros(len(groups), dtype=np.int64)
                    states: dict[int, Any] = {}
                    for gi in walk:
                        g, k = groups[gi], int(done[gi])
                        rows = g[n_chunks[g] > k]
                        loss_sum, n, states[gi] = train_step(first_chunk[rows] + k, states.get(gi))
                        total, count = total + loss_sum, count + n
                        done[gi] += 1
                        if done[gi] == n_chunks[g[0]]:
                            del states[gi]
                net.eval()
                self.net = net
                entry = {"epoch": float(epoch + 1), "train_loss": total / max(count, 1),
                         "seconds": _time.perf_counter() - start}
                if valid:
                    preds, _ = self._run([(s, yy) for _, _, s, yy in valid], [None] * len(valid))
                    yv = np.concatenate([yy for _, _, _, yy in valid]) >= 0.5
                    score = auc(yv, np.concatenate(preds))
                    entry["valid_auc"] = score
                    if np.isnan(score):
                        pass  # held-out answers all right (or all wrong): no AUC, so no early stopping; keep the last
                    elif score > best_auc + 1e-5:
                        best_auc, bad = score, 0
                        best = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    else:
                        bad += 1
                self.history.append(entry)
                if valid and bad > int(self.settings["patience"]):
                    break
                if limit is not None and _time.perf_counter() - start > 60.0 * float(limit):
                    break
            if best is not None:
                net.load_state_dict(best)
            net.eval()
        self.net = net
        self.reset()
        return self

    # -------------------------------------------------------------- online
    def _state_of(self, l: int):
        return self.states.get(l)

    def _probs_of(self, l: int | None) -> np.ndarray:
        """Predicted P(correct) per slot of learner ``l`` next (``None``: a learner never seen, with no answers; not
        cached, nothing kept)."""
        if l is None:
            with self._inference():
                return self._probs(None)
        p = self._prob_cache.get(l)
        if p is None:
            with self._inference():
                p = self._probs(self.states.get(l))
            self._prob_cache[l] = p
        return p

    def predict(self, learner: str, item: str, time: float | None = None,
                skills: tuple[str, ...] | None = None) -> float:
        self._need_fit()
        l = self._known_learner(learner)
        _, s = self._item_code(item, skills, answered=False)
        return float(self._probs_of(l)[self._slot(s)])

    def update(self, event: Event) -> None:
        self._need_fit()
        l = self._learner_code(event.learner)
        _, s = self._item_code(event.item, event.skills)
        with self._inference():
            self.states[l] = self._step(self.states.get(l), self._slot(s), float(self._correct(event.outcome)))
        self._prob_cache.pop(l, None)

    def replay(self, log: EventLog) -> np.ndarray:
        """Predict-then-update over ``log``, many learners at once through the network."""
        self._need_fit()
        out = np.empty(len(log))
        if len(log) == 0:
            return out
        lc, _, sc = self._adopt_vocab(log)
        self._grow()
        seqs = self._sequences(lc, sc, self._correct(log.outcome), log.time)
        with self._inference():
            preds, states = self._run([(s, yy) for _, _, s, yy in seqs], [self.states.get(l) for l, *_ in seqs])
        for (l, rows, _, _), p, st in zip(seqs, preds, states):
            out[rows] = p
            self.states[l] = st
            self._prob_cache.pop(l, None)
        return out

    def state(self, learner: str, time: float | None = None) -> dict[str, dict[str, float]]:
        self._need_fit()
        p = self._probs_of(self._known_learner(learner))
        out = {}
        for name, s in self._listed_skills().items():
            v = float(p[self._slot(s)])
            out[name] = {"mastery": v, "p_correct": v, "mastered": float(v >= self.mastery_threshold)}
        return out

    def mastery(self, learner: str, skill: str, time: float | None = None) -> float:
        """Predicted P(correct) on the skill next, the scale of ``mastery_threshold``; a skill (or learner) never
        seen gets the value of one with no answers and is not added (a read changes nothing)."""
        self._need_fit()
        s = self._skills.get(str(skill))
        l = self._known_learner(learner)
        if s is None:  # a skill never seen: the unknown slot, giving no name a code (a read changes nothing)
            return float(self._probs_of(l)[self.n_slots - 1])
        return float(self._probs_of(l)[self._slot(s)])

    def reset(self) -> None:
        self.states = {}
        self._prob_cache = {}

    # ------------------------------------------------------------- storage
    def _get_params(self) -> dict[str, Any]:
        if self.net is None:
            return {"n_slots": np.array([0])}
        weights = {k: v.detach().cpu().numpy().copy() for k, v in self.net.state_dict().items()}
        return {"n_slots": np.array([self.n_slots]), "slots": self.slots.copy(), "net": weights}

    def _set_params(self, params: dict[str, Any]) -> None:
        self.n_slots = int(np.asarray(params["n_slots"]).reshape(-1)[0])
        # (saved before replaced stand-in skills lost their slots: skill code i is slot i)
        self.slots = (np.asarray(params["slots"], dtype=np.int64).reshape(-1).copy() if "slots" in params
                      else np.arange(max(self.n_slots - 1, 0), dtype=np.int64))
        self.net = None
        if self.n_slots:
            torch = require_torch()
            net = self._make_net(self.n_slots)
            try:
                net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in params["net"].items()})
            except (RuntimeError, KeyError) as e:
                raise ConfigError(f"saved {self.name} weights do not fit its settings: {e}") from None
            net.eval()
            self.net = net

    def _get_learner_state(self) -> dict[str, Any]:
        codes = sorted(self.states)
        return {"learners": np.array(codes, dtype=np.int64), **self._pack_states([self.states[c] for c in codes])}

    def _set_learner_state(self, state: dict[str, Any]) -> None:
        codes = np.asarray(state["learners"], dtype=np.int64).reshape(-1)
        self.states = dict(zip(codes.tolist(), self._unpack_states(state, len(codes))))
        self._prob_cache = {}
