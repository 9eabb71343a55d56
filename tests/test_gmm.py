"""The mixture machinery (magister.gmm) and the bounded history (magister.history)."""

from __future__ import annotations

import numpy as np
import pytest

from magister.errors import ConfigError
from magister.gmm import (MixtureBank, aic, component_moments, fit_bank, log_prob, n_parameters, responsibilities,
                          sample_mixture)
from magister.history import History

CENTRES = np.array([[0.2, 0.2, 0.1], [0.8, 0.3, 0.5], [0.5, 0.8, 0.9]])


def clusters(rng, n=80, scale=0.03, centres=CENTRES):
    return np.concatenate([c + scale * rng.standard_normal((n, centres.shape[1])) for c in centres])


def test_em_recovers_well_separated_clusters():
    X = clusters(np.random.default_rng(0))
    bank = fit_bank(X, [3], np.random.default_rng(1))
    w, m, c = bank.mixture(0)
    order = np.argsort(m[:, 0])
    assert np.allclose(m[order], CENTRES[np.argsort(CENTRES[:, 0])], atol=0.02)
    assert np.allclose(w, 1 / 3, atol=0.02)
    # each covariance close to 0.03^2 I
    assert np.allclose(c, 0.03 ** 2 * np.eye(3), atol=4e-4)


def test_aic_picks_the_true_number_of_components():
    rng = np.random.default_rng(3)
    for true_k in (1, 2, 3):
        X = clusters(rng, n=150, centres=CENTRES[:true_k])
        bank = fit_bank(X, range(1, 7), np.random.default_rng(0))
        assert bank.ks[bank.best] == true_k, bank.aic


def test_aic_and_parameter_count_match_the_textbook():
    assert n_parameters(3, 2) == 3 * 2 + 3 * 3 + 2
    assert aic(-10.0, 1, 1) == pytest.approx(2 * 2 + 20.0)


def test_loglik_matches_a_direct_density_evaluation():
    X = clusters(np.random.default_rng(5))
    bank = fit_bank(X, [2, 3], np.random.default_rng(0))
    for c in range(2):
        w, m, cov = bank.mixture(c)
        # direct evaluation with scipy-free formula
        dens = np.zeros(len(X))
        for j in range(len(w)):
            diff = X - m[j]
            inv = np.linalg.inv(cov[j])
            q = np.einsum("ni,ij,nj->n", diff, inv, diff)
            dens += w[j] * np.exp(-0.5 * q) / np.sqrt(np.linalg.det(2 * np.pi * cov[j]))
        assert bank.loglik[c] == pytest.approx(np.log(dens).sum(), rel=1e-6)
        assert np.allclose(log_prob(X, w, m, cov), np.log(dens))


def test_warm_start_converges_faster_to_as_good_a_fit():
    rng = np.random.default_rng(7)
    X = clusters(rng)
    first = fit_bank(X, range(2, 8), np.random.default_rng(0))
    X2 = X + 0.005 * rng.standard_normal(X.shape)
    cold = fit_bank(X2, range(2, 8), np.random.default_rng(1))
    warm = fit_bank(X2, range(2, 8), np.random.default_rng(1), warm=first)
    assert warm.n_iter < cold.n_iter
    assert warm.ks[warm.best] == cold.ks[cold.best] == 3
    assert warm.loglik[1] == pytest.approx(cold.loglik[1], rel=1e-3)


def test_fit_is_deterministic_under_the_generator():
    X = clusters(np.random.default_rng(2))
    a = fit_bank(X, range(2, 6), np.random.default_rng(9))
    b = fit_bank(X, range(2, 6), np.random.default_rng(9))
    assert np.array_equal(a.means, b.means) and np.array_equal(a.loglik, b.loglik)
    again = MixtureBank.from_state(a.to_state())
    assert np.array_equal(again.covs, a.covs) and again.best == a.best


@pytest.mark.parametrize("X", [
    np.full((50, 3), 0.5),  # every point identical
    np.random.default_rng(0).random((3, 2)),  # fewer points than components
    np.c_[np.random.default_rng(1).random((60, 2)), np.zeros(60)],  # a constant column
    np.array([[0.0, 1.0]]),  # a single point
])
def test_degenerate_data_does_not_crash(X):
    bank = fit_bank(X, range(1, 6), np.random.default_rng(0))
    assert np.isfinite(bank.means).all() and np.isfinite(bank.covs).all()
    assert bank.ks[bank.best] <= len(X)
    w, m, c = bank.mixture()
    assert np.all(np.linalg.eigvalsh(c) > 0)
    warm = fit_bank(X, range(1, 6), np.random.default_rng(1), warm=bank)
    assert np.isfinite(warm.loglik[warm.best])


def test_bad_input_is_refused():
    with pytest.raises(ConfigError):
        fit_bank(np.array([[np.nan, 0.0]]), [1], np.random.default_rng(0))
    with pytest.raises(ConfigError):
        fit_bank(np.zeros((0, 2)), [1], np.random.default_rng(0))
    with pytest.raises(ConfigError):
        fit_bank(np.zeros((5, 2)), [0, 1], np.random.default_rng(0))


def test_sample_mixture_follows_component_probabilities_and_shapes():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0], [10.0, 10.0]])
    chols = np.stack([np.eye(2) * 0.1, np.diag([1.0, 2.0])])
    pts, comp = sample_mixture(rng, np.array([0.25, 0.75]), means, chols, 20000)
    assert abs(comp.mean() - 0.75) < 0.02
    sel = pts[comp == 1]
    assert np.allclose(sel.mean(0), [10, 10], atol=0.1)
    assert np.allclose(sel.std(0), [1.0, 2.0], atol=0.05)


# ------------------------------------------------------------------ history
def test_history_is_bounded_and_keeps_the_latest_in_order():
    h = History(2, capacity=5)
    X = np.arange(16, dtype=float).reshape(8, 2)
    h.add(X[:3], np.arange(3))
    h.add(X[3:], np.arange(3, 8))
    assert len(h) == 5 and h.total == 8
    assert np.array_equal(h.x, X[3:]) and np.array_equal(h.y, np.arange(3, 8))
    lx, ly = h.last(2)
    assert np.array_equal(lx, X[6:]) and np.array_equal(ly, [6, 7])
    h.add(np.zeros((12, 2)), np.zeros(12))  # more than capacity at once
    assert len(h) == 5 and h.total == 20 and not h.y.any()


def test_nearest_neighbour_matches_brute_force():
    rng = np.random.default_rng(4)
    X, Y = rng.random((700, 3)), rng.random(700)
    cap = 128
    h = History(3, cap)
    got, has = h.query_then_add(X, Y, chunk=50)
    assert not has[0] and has[1:].all()
    for i in range(1, 700):
        lo = max(0, i - cap)
        d = ((X[lo:i] - X[i]) ** 2).sum(1)
        assert got[i] == Y[lo:i][d.argmin()]
    # one by one gives exactly the same, and single nearest() agrees too
    h2 = History(3, cap)
    one = [h2.query_then_add(x[None], [y])[0][0] for x, y in zip(X, Y)]
    assert np.array_equal(got, one)
    q = rng.random(3)
    slot, dist = h2.nearest(q)
    brute = ((h2.x - q) ** 2).sum(1)
    assert dist == pytest.approx(np.sqrt(brute.min()))
    assert h2.value_at(slot) == h2.y[brute.argmin()]
    assert np.array_equal(h2.nearest_values(X[:5]), [h2.value_at(h2.nearest(x)[0]) for x in X[:5]])


def test_ties_go_to_the_most_recent_point():
    h = History(1, 10)
    h.add([[0.5], [0.5], [0.2]], [1.0, 2.0, 3.0])
    assert h.value_at(h.nearest([0.5])[0]) == 2.0
    got, _ = h.query_then_add([[0.5], [0.5]], [4.0, 5.0])
    assert np.array_equal(got, [2.0, 4.0])


def test_history_state_round_trip_and_errors():
    rng = np.random.default_rng(0)
    h = History(2, 7)
    h.add(rng.random((11, 2)), rng.random(11))
    g = History(2, 7)
    g.load_state_dict(h.state_dict())
    q = rng.random((4, 2))
    assert np.array_equal(g.nearest_values(q), h.nearest_values(q)) and g.total == h.total
    with pytest.raises(ValueError):
        History(3, 7).load_state_dict(h.state_dict())
    with pytest.raises(ValueError):
        History(2, 7).nearest([0.1, 0.2])
    with pytest.raises(ValueError):
        h.add(np.zeros((2, 2)), [1.0])
    with pytest.raises(ConfigError):
        History(2, 0)


def test_responsibility_moments_reproduce_a_converged_fit():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0.2, 0.05, (150, 2)), rng.normal(0.7, 0.1, (150, 2))])
    w, m, c = fit_bank(X, [2], np.random.default_rng(1), tol=1e-10, max_iter=500).mixture()
    r = responsibilities(X, w, m, c)
    assert r.shape == (2, 300) and np.allclose(r.sum(axis=0), 1.0)
    mu, cov = component_moments(X, r, reg=1e-6)
    assert np.allclose(mu, m, atol=1e-6) and np.allclose(cov, c, atol=1e-6)
    # any extra column: its weighted mean per component
    y = (X[:, 0] > 0.45).astype(float)
    mu2, _ = component_moments(np.column_stack([X, y]), r)
    assert np.allclose(np.sort(mu2[:, 2]), [0.0, 1.0], atol=0.02)


def _reference_steps(X, ks, weights, means, covs, resp):
    """The E-step, M-step and k-means labels written as plain expressions (as before the in-place rewrite)."""
    from magister.gmm import _FLOOR, _LOG_2PI, _EPS, _layout

    N, D = X.shape
    iu = np.triu_indices(D)
    quad = X[:, iu[0]] * X[:, iu[1]]
    C, K, pad, _ = _layout(ks)
    sign, logdet = np.linalg.slogdet(covs)
    prec = np.linalg.inv(covs)
    pm = np.matmul(prec, means[:, :, None])[:, :, 0]
    qcoef = prec[:, iu[0], iu[1]] * np.where(iu[0] == iu[1], 1.0, 2.0)
    maha = qcoef @ quad.T - 2.0 * (pm @ X.T)
    maha += (pm * means).sum(axis=1)[:, None]
    np.maximum(maha, 0.0, out=maha)
    offset = np.log(np.maximum(weights, 1e-300)) - 0.5 * logdet - 0.5 * D * _LOG_2PI
    flat = np.full((C * K, N), _FLOOR)
    flat[pad] = -0.5 * maha + offset[:, None]
    a = flat.reshape(C, K, N)
    mx = a.max(axis=1, keepdims=True)
    e = np.exp(np.maximum(a - mx, -100.0))
    tot = e.sum(axis=1, keepdims=True)
    e_resp = (e / tot).reshape(C * K, N)[pad]
    ll = (mx + np.log(tot))[:, 0, :].sum(axis=1)
    nk = resp.sum(axis=1) + _EPS
    mu = (resp @ X) / nk[:, None]
    upper = (resp @ quad) / nk[:, None] - mu[:, iu[0]] * mu[:, iu[1]]
    cov = np.empty((len(nk), D, D))
    cov[:, iu[0], iu[1]] = upper
    cov[:, iu[1], iu[0]] = upper
    cov += 1e-6 * np.eye(D)
    return (e_resp, ll), (nk / N, mu, cov)


@pytest.mark.parametrize("D", [1, 2, 4, 7])
def test_in_place_em_steps_give_the_plain_expressions_to_the_last_bit(D):
    """The E- and M-steps were rewritten with in-place operations and a cached layout; each figure must be the
    same floating-point operations in the same order as the plain expressions (published proposals depend on the
    last bit of every fit)."""
    from magister.gmm import _e_step, _features, _layout, _m_step

    rng = np.random.default_rng(D)
    X = np.concatenate([rng.normal(0.2, 0.05, (60, D)), rng.random((90, D))])
    ks = np.array([1, 4, 2, 5])
    M = int(ks.sum())
    weights = np.concatenate([rng.dirichlet(np.ones(k)) for k in ks])
    means = X[rng.integers(0, len(X), M)]
    A = rng.normal(size=(M, D, D)) * 0.1
    covs = A @ np.swapaxes(A, -1, -2) + 0.01 * np.eye(D)
    quad, iu = _features(X)
    resp, ll = _e_step(X, quad, iu, weights, means, covs, _layout(ks))
    (ref_resp, ref_ll), _ = _reference_steps(X, ks, weights, means, covs, resp)
    assert resp.tobytes() == ref_resp.tobytes() and ll.tobytes() == ref_ll.tobytes()
    # scratch rows reused from an earlier E-step (stale, larger than needed) change nothing
    work = np.full((100, len(X)), np.nan)
    for _ in range(2):
        again, ll_again = _e_step(X, quad, iu, weights, means, covs, _layout(ks), work)
        assert again.tobytes() == ref_resp.tobytes() and ll_again.tobytes() == ref_ll.tobytes()
    _, ref_m = _reference_steps(X, ks, weights, means, covs, resp)
    for got, want in zip(_m_step(X, quad, iu, resp, 1e-6), ref_m):
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("scale", [1.0, 5e153])
def test_kmeans_labels_are_argmin_on_ties_and_on_overflowing_data(scale):
    """k-means picks each point's nearest centre by a running minimum; it must be argmin's pick: the first of
    equally near centres (lattice data with repeated points and centres), and on data so large that distances
    overflow (inf - inf = NaN; argmin takes the first NaN) the argmin itself."""
    import magister.gmm as gmm

    X = np.repeat(np.stack(np.meshgrid(np.arange(4.0), np.arange(3.0)), -1).reshape(-1, 2), 3, axis=0) * scale
    ks = np.array([1, 3, 6, 10])
    with np.errstate(all="ignore"):
        got = gmm._kmeans_init(X, ks, 10, np.random.default_rng(4))
        want = _plain_kmeans_init(X, ks, np.random.default_rng(4))
    assert got.tobytes() == want.tobytes()


def _plain_kmeans_init(X, ks, rng):
    """The k-means seeding and Lloyd steps with argmin over the padded axis (as before the running minimum)."""
    N, D, K = len(X), 2, 10
    centres = np.empty((K, D))
    centres[0] = X[rng.integers(N)]
    d2 = ((X - centres[0]) ** 2).sum(1)
    for j in range(1, K):
        total = d2.sum()
        i = int(rng.integers(N)) if total <= 0 else min(
            int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right")), N - 1)
        centres[j] = X[i]
        d2 = np.minimum(d2, ((X - centres[j]) ** 2).sum(1))
    active = np.arange(K)[None, :] < ks[:, None]
    cent = np.broadcast_to(centres, (len(ks), K, D)).copy()
    xx = np.einsum("nd,nd->n", X, X)

    def labels(cent):
        dist = np.einsum("ckd,ckd->ck", cent, cent)[..., None] - 2.0 * (cent @ np.ascontiguousarray(X.T)) + xx
        return np.where(active[..., None], dist, np.inf).argmin(axis=1)

    ids = np.arange(K)[None, :, None]
    for _ in range(10):
        onehot = (labels(cent)[:, None, :] == ids).astype(float)
        cnt = onehot.sum(-1)
        new = np.where((cnt > 0)[..., None], np.matmul(onehot, X) / np.maximum(cnt, 1)[..., None], cent)
        if np.array_equal(new, cent):
            break
        cent = new
    return (labels(cent)[:, None, :] == ids).astype(float)


@pytest.mark.parametrize("max_iter, tol", [(2, 0.0), (100, 1e-3)])
def test_each_candidates_loglik_is_that_of_the_mixture_returned(max_iter, tol):
    # stopped by max_iter or converged: the log-likelihood AIC compares is the one of the parameters kept
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    X[:100] += 4.0
    bank = fit_bank(X, [1, 2, 3], np.random.default_rng(1), max_iter=max_iter, tol=tol)
    for c in range(3):
        assert bank.loglik[c] == pytest.approx(log_prob(X, *bank.mixture(c)).sum(), rel=1e-9)


def test_a_candidate_with_more_components_than_points_is_never_picked():
    X = np.random.default_rng(0).random((4, 2))
    bank = fit_bank(X, [1, 2, 6], np.random.default_rng(1))
    assert bank.loglik[2] == -np.inf and bank.best != 2


@pytest.mark.parametrize("max_iter", [1, 100])
def test_a_warm_start_that_reseeds_dead_components_returns_mixtures(max_iter):
    # the data moved away from two of the previous components: they explain less than one point and are reseeded;
    # every candidate's weights still sum to 1, and its log-likelihood is that of the mixture returned
    rng = np.random.default_rng(0)
    old = rng.normal(size=(300, 2)) * 0.1
    old[:100] += 5.0
    old[100:200] -= 5.0
    prev = fit_bank(old, [2, 3], np.random.default_rng(1))
    X = rng.normal(size=(300, 2)) * 0.1
    bank = fit_bank(X, [2, 3], np.random.default_rng(2), warm=prev, max_iter=max_iter)
    for c in range(2):
        w, means, covs = bank.mixture(c)
        assert w.sum() == pytest.approx(1.0)
        assert bank.loglik[c] == pytest.approx(log_prob(X, w, means, covs).sum(), rel=1e-9)
