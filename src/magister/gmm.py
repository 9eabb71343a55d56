"""Gaussian mixtures for curriculum teachers: a small, fast, deterministic EM in numpy.

ALP-GMM and Covar-GMM refit a *bank* of full-covariance Gaussian mixtures,
one per candidate component count ``k``, every few hundred episodes and keep
the one with the lowest AIC. The reference code fits each mixture from
scratch with scikit-learn, one after the other, and that refit dominates its
run time. Here every candidate is fitted **at once**: the components of all
candidates are stored back to back, every Mahalanobis distance comes from two
matrix products on quadratic features of the data, the per-candidate
log-sum-exp runs on a padded ``(C, K, N)`` grid, and a candidate stops
iterating as soon as it has converged. A refit can also **warm start** from
the previous bank (each candidate from its own previous parameters, dead
components re-seeded on random points), which needs far fewer iterations
than a cold start when the data drift slowly, as they do in a curriculum.

Everything random goes through an explicit ``numpy.random.Generator``, so a
fit is a pure function of (data, previous bank, generator state).

Main entry points: :func:`fit_bank` (returns a :class:`MixtureBank`),
:func:`aic`, :func:`sample_mixture`, :func:`log_prob`. The teacher skeleton
built on them is :class:`magister.mixture_teacher.MixtureTeacher`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError

__all__ = ["MixtureBank", "fit_bank", "aic", "n_parameters", "sample_mixture", "log_prob", "responsibilities",
           "component_moments"]

_EPS = 10 * np.finfo(float).eps
_LOG_2PI = float(np.log(2 * np.pi))
_FLOOR = -1e300  # log-weight of unused components (finite, so no inf arithmetic)


def n_parameters(k: int | np.ndarray, dim: int) -> int | np.ndarray:
    """Free parameters of a ``k``-component full-covariance mixture in ``dim`` dimensions."""
    return k * dim + k * dim * (dim + 1) // 2 + k - 1


def aic(loglik: float | np.ndarray, k: int | np.ndarray, dim: int) -> float | np.ndarray:
    """Akaike information criterion ``2 p - 2 log L`` (lower is better)."""
    return 2.0 * n_parameters(k, dim) - 2.0 * np.asarray(loglik)


@dataclass
class MixtureBank:
    """Mixtures for several candidate component counts, fitted together.

    Arrays are padded to the largest candidate ``K``: ``weights (C, K)``,
    ``means (C, K, D)``, ``covs (C, K, D, D)``; component ``j`` of candidate
    ``c`` is in use when ``j < ks[c]`` (unused ones have weight 0).
    """

    ks: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    loglik: np.ndarray
    n_iter: int = 0

    @property
    def aic(self) -> np.ndarray:
        return np.asarray(aic(self.loglik, self.ks, self.means.shape[-1]))

    @property
    def best(self) -> int:
        """Index of the candidate with the lowest AIC (first one on ties)."""
        return int(np.argmin(self.aic))

    def mixture(self, c: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weights (k,), means (k, D), covs (k, D, D))`` of candidate ``c`` (default: best)."""
        c = self.best if c is None else int(c)
        k = int(self.ks[c])
        return self.weights[c, :k].copy(), self.means[c, :k].copy(), self.covs[c, :k].copy()

    def to_state(self) -> dict[str, Any]:
        return {"ks": self.ks.copy(), "weights": self.weights.copy(), "means": self.means.copy(),
                "covs": self.covs.copy(), "loglik": self.loglik.copy(), "n_iter": int(self.n_iter)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MixtureBank:
        bank = cls(
            ks=np.asarray(state["ks"], dtype=np.int64).copy(),
            weights=np.asarray(state["weights"], dtype=float).copy(),
            means=np.asarray(state["means"], dtype=float).copy(),
            covs=np.asarray(state["covs"], dtype=float).copy(),
            loglik=np.asarray(state["loglik"], dtype=float).copy(),
            n_iter=int(state.get("n_iter", 0)),
        )
        C, K = bank.weights.shape
        D = bank.means.shape[-1]
        if bank.ks.shape != (C,) or bank.means.shape != (C, K, D) or bank.covs.shape != (C, K, D, D):
            raise ValueError("mixture bank arrays have inconsistent shapes")
        if not all(np.isfinite(a).all() for a in (bank.weights, bank.means, bank.covs)):
            raise ValueError("mixture bank arrays hold NaN or infinite values")
        if ((bank.ks < 1) | (bank.ks > K)).any():
            raise ValueError(f"mixture bank component counts must be 1..{K}, got {bank.ks.tolist()}")
        # (a weight <= 0 was taken, shown in the beliefs and used to choose components until the next refit)
        if (bank.weights < 0).any() or not (bank.weights[_active(bank.ks, K)] > 0).all():
            raise ValueError("mixture weights must be > 0 for the components in use (and 0 for the padding)")
        return bank


# --------------------------------------------------------------------- helpers
def _active(ks: np.ndarray, K: int) -> np.ndarray:
    """Mask ``(C, K)`` of the components each candidate uses."""
    return np.arange(K)[None, :] < ks[:, None]


def _cholesky(covs: np.ndarray) -> np.ndarray:
    """Batched Cholesky; adds jitter if rounding made a covariance lose definiteness."""
    jitter = 0.0
    eye = np.eye(covs.shape[-1])
    for _ in range(6):
        try:
            return np.linalg.cholesky(covs + jitter * eye)
        except np.linalg.LinAlgError:
            jitter = 1e-8 if jitter == 0.0 else jitter * 100
    raise np.linalg.LinAlgError("covariance matrices are not positive definite even with jitter")


def _log_gauss(X: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """``log N(x_n | mean, cov)`` for every component: shape ``(..., N)``."""
    D = X.shape[-1]
    chol = _cholesky(covs)
    inv = np.linalg.inv(chol)  # lower-triangular inverses, (..., D, D)
    diff = X - means[..., None, :]  # (..., N, D)
    y = np.matmul(diff, np.swapaxes(inv, -1, -2))
    maha = np.einsum("...nd,...nd->...n", y, y)
    half_logdet = np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    return -0.5 * maha - half_logdet[..., None] - 0.5 * D * _LOG_2PI


def _features(X: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Products ``x_i x_j`` (``i <= j``) of every row: ``(N, D (D + 1) / 2)``."""
    iu = np.triu_indices(X.shape[1])
    return X[:, iu[0]] * X[:, iu[1]], iu


@functools.lru_cache(maxsize=64)
def _offdiag_twice(D: int) -> np.ndarray:
    """``(D (D + 1) / 2,)``: 1 for the diagonal products of :func:`_features`, 2 for the others
    (each stands for ``x_i x_j`` and ``x_j x_i``). Read-only, shared."""
    iu = np.triu_indices(D)
    out = np.where(iu[0] == iu[1], 1.0, 2.0)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _eye(D: int) -> np.ndarray:
    """``np.eye(D)``, read-only and shared."""
    out = np.eye(D)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _symmetric_index(D: int) -> np.ndarray:
    """``(D, D)``: the position in the ``i <= j`` products of :func:`_features` of entry ``(i, j)`` and ``(j, i)``."""
    iu = np.triu_indices(D)
    out = np.empty((D, D), dtype=np.intp)
    out[iu[0], iu[1]] = out[iu[1], iu[0]] = np.arange(len(iu[0]))
    out.flags.writeable = False
    return out


def _e_step(X: np.ndarray, quad: np.ndarray, iu: tuple[np.ndarray, np.ndarray], weights: np.ndarray,
            means: np.ndarray, covs: np.ndarray, layout: tuple[int, int, np.ndarray, np.ndarray],
            work: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """E-step for many mixtures at once, components stored flat.

    ``weights (M,)``, ``means (M, D)``, ``covs (M, D, D)`` hold the components
    of ``C`` mixtures back to back; ``layout = (C, K, pad, seg)`` from
    :func:`_layout` places them in a padded ``(C, K)`` grid for the
    per-mixture log-sum-exp. Returns responsibilities ``(M, N)`` and the total
    log-likelihood of each mixture ``(C,)``.

    Mahalanobis distances of all points to all components come from two
    matrix products on quadratic features of ``X`` (``x^T P x = sum_ij P_ij
    x_i x_j``). No Python loop over mixtures, components or points.

    ``work``: scratch rows ``(at least C K + 2 M, N)`` kept from one call to the next (fresh
    arrays in every E-step made the allocator return memory and fault it in again: about 1,400
    page faults per cold refit, some 15% of its time).
    """
    N, D = X.shape
    C, K, pad, seg = layout
    sign, logdet = np.linalg.slogdet(covs)
    if not (sign > 0).all():  # rounding broke definiteness: repair through a jittered Cholesky
        covs = np.matmul(*(lambda L: (L, np.swapaxes(L, -1, -2)))(_cholesky(covs)))
        sign, logdet = np.linalg.slogdet(covs)
    prec = np.linalg.inv(covs)  # (M, D, D)
    pm = np.matmul(prec, means[:, :, None])[:, :, 0]
    qcoef = prec[:, iu[0], iu[1]]
    qcoef *= _offdiag_twice(D)
    const = (pm * means).sum(axis=1)
    # the operations below are the ones of maha = qcoef @ quad.T - 2 (pm @ X.T) + const, then
    # -maha / 2 + offset, done in place (the same roundings, fewer temporaries)
    M = len(means)
    if work is None or work.shape[0] < C * K + 2 * M or work.shape[1] != N:
        work = np.empty((C * K + 2 * M, N))
    maha = np.matmul(qcoef, quad.T, out=work[:M])  # (M, N)
    lin = np.matmul(pm, X.T, out=work[M:2 * M])
    lin *= 2.0
    maha -= lin
    maha += const[:, None]
    np.maximum(maha, 0.0, out=maha)  # rounding could make a distance slightly negative
    offset = np.log(np.maximum(weights, 1e-300)) - 0.5 * logdet - 0.5 * D * _LOG_2PI
    maha *= -0.5
    maha += offset[:, None]  # log(w_j N(x_n | j)), (M, N)
    flat = work[2 * M:2 * M + C * K]
    flat.fill(_FLOOR)
    flat[pad] = maha
    a = flat.reshape(C, K, N)
    mx = a.max(axis=1, keepdims=True)  # (C, 1, N)
    a -= mx
    # exp of very negative numbers is slow (denormals): clamp first. Unused slots then
    # weigh exp(-100) ~ 4e-44 relative to the best component: negligible, and dropped below.
    np.maximum(a, -100.0, out=a)
    e = np.exp(a, out=a)
    tot = e.sum(axis=1)  # (C, N)
    resp = e.reshape(C * K, N)[pad]
    resp /= tot[seg]  # (only the components in use are divided)
    np.log(tot, out=tot)
    tot += mx[:, 0, :]  # mx + log(tot)
    return resp, tot.sum(axis=1)


def _m_step(X: np.ndarray, quad: np.ndarray, iu: tuple[np.ndarray, np.ndarray], resp: np.ndarray,
            reg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means and covariances ``(M,), (M, D), (M, D, D)`` from responsibilities ``(M, N)``."""
    N, D = X.shape
    nk = resp.sum(axis=1) + _EPS
    mu = resp @ X
    mu /= nk[:, None]
    upper = resp @ quad  # E[x_i x_j], i <= j, then minus mu_i mu_j
    upper /= nk[:, None]
    upper -= mu[:, iu[0]] * mu[:, iu[1]]
    cov = upper[:, _symmetric_index(D)]
    cov += reg * _eye(D)
    return nk / N, mu, cov


def _layout(ks: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray]:
    """``(C, K, pad, seg)``: mixtures with ``ks`` components stored back to back; ``pad[j]``
    is the row of component ``j`` in a padded ``(C * K)`` grid, ``seg[j]`` its mixture."""
    C, K = len(ks), int(ks.max())
    pad = np.concatenate([c * K + np.arange(k) for c, k in enumerate(ks)]).astype(np.int64)
    return C, K, pad, np.repeat(np.arange(C), ks)


def _kmeans_init(X: np.ndarray, ks: np.ndarray, K: int, rng: np.random.Generator, lloyd: int = 10) -> np.ndarray:
    """One-hot responsibilities from nested k-means++ seeds refined by Lloyd steps, ``(C, K, N)``.

    Candidate ``c`` uses the first ``ks[c]`` seeds (``ks[c] <= K``, ``ks[c] <= N``).
    """
    N, D = X.shape
    centres = np.empty((K, D))
    centres[0] = X[rng.integers(N)]
    d2 = ((X - centres[0]) ** 2).sum(1)
    for j in range(1, K):
        total = d2.sum()
        if total <= 0:
            i = int(rng.integers(N))
        else:
            i = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
            i = min(i, N - 1)
        centres[j] = X[i]
        d2 = np.minimum(d2, ((X - centres[j]) ** 2).sum(1))
    C = len(ks)
    unused = ~_active(ks, K)
    cent = np.broadcast_to(centres, (C, K, D)).copy()
    xx = np.einsum("nd,nd->n", X, X)
    XT = np.ascontiguousarray(X.T)
    ids = np.arange(K, dtype=np.min_scalar_type(K - 1))[None, :, None]  # (small labels compare faster)
    best, better = np.empty((C, N)), np.empty((C, N), dtype=bool)
    finite = float(xx.max()) < 1e300  # then no distance overflows to inf - inf = NaN

    def labels(cent: np.ndarray) -> np.ndarray:
        # squared distances from |x|^2 - 2 x.c + |c|^2 (matrix products, not a (C, K, N, D) array),
        # computed in place: |c|^2 - (2 (c . x)) + |x|^2
        dist = cent @ XT
        dist *= 2.0
        np.subtract(np.einsum("ckd,ckd->ck", cent, cent)[..., None], dist, out=dist)
        dist += xx
        dist[unused] = np.inf
        if not finite:  # argmin's answer on NaN: the first one
            return dist.argmin(axis=1).astype(ids.dtype)
        # argmin over the centres (the first of equal ones) as a running minimum, faster than argmin
        # along a middle axis (which copies the grid and scans C * N rows of K one by one)
        lab = np.zeros((C, N), dtype=ids.dtype)
        np.copyto(best, dist[:, 0])
        for j in range(1, K):
            np.less(dist[:, j], best, out=better)
            np.copyto(best, dist[:, j], where=better)
            lab[better] = j
        return lab

    for _ in range(lloyd):
        onehot = (labels(cent)[:, None, :] == ids).astype(float)
        cnt = onehot.sum(-1)
        new = np.matmul(onehot, X) / np.maximum(cnt, 1)[..., None]
        new = np.where((cnt > 0)[..., None], new, cent)
        if np.array_equal(new, cent):
            break
        cent = new
    return (labels(cent)[:, None, :] == ids).astype(float)


def _reseed_dead(X: np.ndarray, quad: np.ndarray, iu: tuple[np.ndarray, np.ndarray], weights: np.ndarray,
                 means: np.ndarray, covs: np.ndarray, ks: np.ndarray, rng: np.random.Generator,
                 reg: float) -> None:
    """Move components that explain less than one point onto random points (flat arrays, in place)."""
    resp, _ = _e_step(X, quad, iu, weights, means, covs, _layout(ks))
    dead = np.flatnonzero(resp.sum(axis=1) < 1.0)
    if len(dead) == 0:
        return
    picks = rng.integers(0, len(X), size=len(dead))
    means[dead] = X[picks]
    covs[dead] = np.diag(X.var(axis=0) / int(ks.max()) + reg)
    seg = np.repeat(np.arange(len(ks)), ks)
    weights[dead] = 1.0 / ks[seg[dead]]
    weights /= np.bincount(seg, weights=weights)[seg]


def fit_bank(
    X: np.ndarray,
    ks: Sequence[int],
    rng: np.random.Generator,
    *,
    warm: MixtureBank | None = None,
    reg: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
) -> MixtureBank:
    """Fit one full-covariance mixture per ``k`` in ``ks`` on ``X (N, D)``, all at once.

    ``warm``: a previous bank with the same ``ks`` and dimension to start from
    (otherwise nested k-means++ seeds). ``reg`` is added to every covariance
    diagonal; EM stops for a candidate once its mean log-likelihood per point
    improves by less than ``tol`` (as scikit-learn does), or after
    ``max_iter`` iterations. Candidates with more components than points are
    given log-likelihood ``-inf`` so AIC never picks them.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or len(X) == 0:
        raise ConfigError(f"fit_bank needs a non-empty (N, D) array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ConfigError("fit_bank got NaN or infinite data; clean the points before fitting")
    ks_arr = np.asarray(list(ks), dtype=np.int64)
    if ks_arr.ndim != 1 or len(ks_arr) == 0 or (ks_arr < 1).any():
        raise ConfigError(f"candidate component counts must be whole numbers >= 1, got {list(ks)}")
    N, D = X.shape
    K = int(ks_arr.max())
    active = _active(ks_arr, K)
    usable = ks_arr <= N
    if warm is not None and (warm.weights.shape != (len(ks_arr), K) or warm.means.shape[-1] != D
                             or not np.array_equal(warm.ks, ks_arr)):
        warm = None
    quad, iu = _features(X)
    M = int(ks_arr.sum())
    if warm is None:
        resp = _kmeans_init(X, np.minimum(ks_arr, N), K, rng)[active]  # (M, N)
        wf, mf, cf = _m_step(X, quad, iu, resp, reg)
    else:
        wf, mf, cf = warm.weights[active], warm.means[active], warm.covs[active]
        _reseed_dead(X, quad, iu, wf, mf, cf, ks_arr, rng, reg)
    C = len(ks_arr)
    prev = np.full(C, -np.inf)
    done = np.zeros(C, dtype=bool)
    loglik = np.full(C, -np.inf)
    it = 0
    live = np.arange(C)  # candidates still iterating; their components are gathered in w/m/c
    comps = np.arange(M)
    layout = _layout(ks_arr)
    seg = layout[3]
    w, m, c = wf.copy(), mf.copy(), cf.copy()
    work = np.empty((C * K + 2 * M, N))  # the E-step's scratch rows, allocated once
    for it in range(1, max_iter + 1):
        resp, ll = _e_step(X, quad, iu, w, m, c, layout, work)
        loglik[live] = ll
        newly = np.abs(ll - prev[live]) / N < tol
        prev[live] = ll
        if newly.any():  # freeze converged candidates where they are, iterate the rest
            stop = newly[seg]
            wf[comps[stop]], mf[comps[stop]], cf[comps[stop]] = w[stop], m[stop], c[stop]
            done[live[newly]] = True
            if done.all():
                break
            go = ~stop
            live, comps, resp = live[~newly], comps[go], resp[go]
            w, m, c = w[go], m[go], c[go]
            layout = _layout(ks_arr[live])
            seg = layout[3]
        if it == max_iter:  # out of iterations: keep the parameters the log-likelihood belongs to
            wf[comps], mf[comps], cf[comps] = w, m, c
            break
        w, m, c = _m_step(X, quad, iu, resp, reg)
    assert len(wf) == M
    weights = np.zeros((C, K))
    means = np.zeros((C, K, D))
    covs = np.broadcast_to(np.eye(D), (C, K, D, D)).copy()
    weights[active], means[active], covs[active] = wf, mf, cf
    loglik = np.where(usable & np.isfinite(loglik), loglik, -np.inf)
    return MixtureBank(ks=ks_arr, weights=weights, means=means, covs=covs, loglik=loglik, n_iter=it)


def log_prob(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """Log density of a single mixture ``(k,), (k, D), (k, D, D)`` at the rows of ``X``."""
    X = np.asarray(X, dtype=float)
    a = _log_gauss(X, means, covs) + np.log(np.maximum(weights, 1e-300))[:, None]
    mx = a.max(axis=0)
    return mx + np.log(np.exp(a - mx).sum(axis=0))


def responsibilities(X: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """Posterior probability of each component of a mixture ``(k,), (k, D), (k, D, D)`` for each row of
    ``X (N, D)``: ``(k, N)``, every column summing to 1."""
    a = _log_gauss(np.asarray(X, dtype=float), means, covs) + np.log(np.maximum(weights, 1e-300))[:, None]
    a -= a.max(axis=0)
    e = np.exp(np.maximum(a, -700.0))
    return e / e.sum(axis=0)


def component_moments(X: np.ndarray, resp: np.ndarray, reg: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(k, D)`` and covariance ``(k, D, D)`` (plus ``reg`` on the diagonal) of the rows of ``X (N, D)``
    weighted by each component's responsibilities ``(k, N)`` (the M-step's moments, on any columns)."""
    X = np.asarray(X, dtype=float)
    nk = resp.sum(axis=1) + _EPS
    mu = (resp @ X) / nk[:, None]
    diff = X[None, :, :] - mu[:, None, :]  # (k, N, D)
    cov = np.einsum("kn,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
    return mu, cov + reg * np.eye(X.shape[1])


def sample_mixture(
    rng: np.random.Generator,
    probs: np.ndarray,
    means: np.ndarray,
    chols: np.ndarray,
    m: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``m`` points: component ``j`` with probability ``probs[j]``, then ``N(means[j], L L^T)``.

    ``chols`` are Cholesky factors ``(k, D, D)``. Returns ``(points (m, D),
    components (m,))``. Vectorised: two generator calls whatever ``m``.
    """
    cdf = np.cumsum(probs)
    comp = np.searchsorted(cdf, rng.random(m) * cdf[-1], side="right")
    comp = np.minimum(comp, len(probs) - 1)
    z = rng.standard_normal((m, means.shape[-1]))
    pts = means[comp] + np.matmul(chols[comp], z[:, :, None])[:, :, 0]
    return pts, comp
