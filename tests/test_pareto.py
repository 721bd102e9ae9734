"""dse.search.pareto: exact fronts against brute force, hypervolume against hand cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dse.search.pareto import hypervolume, normalize, pareto_mask


def brute_mask(values, directions):
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    v = np.asarray(values, dtype=float) * sign
    finite = np.all(np.isfinite(v), axis=1)
    out = np.zeros(len(v), dtype=bool)
    for i in np.flatnonzero(finite):
        others = v[finite]
        dominated = np.all(others <= v[i], axis=1) & np.any(others < v[i], axis=1)
        out[i] = not dominated.any()
    return out


@st.composite
def problems(draw):
    m = draw(st.integers(1, 4))
    n = draw(st.integers(0, 60))
    # Small integer grids make ties and duplicates common (the hard cases).
    elems = st.one_of(st.integers(-3, 3).map(float), st.floats(-1e3, 1e3, allow_nan=False),
                      st.sampled_from([np.nan, np.inf]))
    values = draw(arrays(np.float64, (n, m), elements=elems))
    directions = draw(st.lists(st.sampled_from(["minimize", "maximize"]), min_size=m, max_size=m))
    return values, directions


@settings(max_examples=300, deadline=None)
@given(problems())
def test_pareto_mask_matches_brute_force(problem):
    values, directions = problem
    assert np.array_equal(pareto_mask(values, directions), brute_mask(values, directions))


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("kind", ["uniform", "ties", "simplex"])
def test_pareto_mask_large_blocks_match_brute_force(m, kind, monkeypatch):
    """Sizes above the block and prefilter thresholds (the paths hypothesis' small cases miss)."""
    import dse.search.pareto as pareto

    monkeypatch.setattr(pareto, "BLOCK", 64)
    monkeypatch.setattr(pareto, "FRONT_BLOCK", 16)
    rng = np.random.default_rng(m)
    n = 3_000
    if kind == "uniform":
        v = rng.random((n, m))
    elif kind == "ties":
        v = rng.integers(0, 12, (n, m)).astype(float)
    else:  # a large front
        v = rng.dirichlet(np.ones(m), n) + 0.05 * rng.random((n, m))
    directions = ["minimize", "maximize", "minimize", "maximize"][:m]
    v[:, 1] *= -1  # the maximized column: same front as the minimized original
    got = pareto_mask(v, directions)
    # Reference: a chunked brute force (n x n comparisons, vectorized).
    w = v * np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    want = np.ones(n, dtype=bool)
    for s in range(0, n, 500):
        c = w[s:s + 500]
        le = np.all(w[:, None, :] <= c[None, :, :], axis=2)
        lt = np.any(w[:, None, :] < c[None, :, :], axis=2)
        want[s:s + 500] = ~(le & lt).any(axis=0)
    assert np.array_equal(got, want)


def test_pareto_mask_hand_cases():
    v = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [1, 6], [np.nan, 0]])
    assert pareto_mask(v, ["minimize", "minimize"]).tolist() == [True, True, True, False, True, False, False]
    # maximize throughput, minimize area
    v = np.array([[10.0, 5.0], [20.0, 5.0], [15.0, 1.0]])
    assert pareto_mask(v, ["maximize", "minimize"]).tolist() == [False, True, True]
    assert pareto_mask(np.empty((0, 3)), ["minimize"] * 3).shape == (0,)
    with pytest.raises(ValueError):
        pareto_mask(np.zeros((2, 2)), ["minimize"])
    with pytest.raises(ValueError):
        pareto_mask(np.zeros((2, 1)), ["upward"])


def test_hypervolume_hand_cases():
    # Normalized by bounds [0, 1]: one point at the ideal covers ref^M.
    assert hypervolume([[0.0, 0.0]], ["minimize"] * 2, ref_point=[1, 1], bounds=[(0, 1), (0, 1)]) == pytest.approx(1.0)
    # Staircase (0.5, 0) and (0, 0.5) with ref (1, 1): 1 - 0.25 = 0.75; dominated points add nothing.
    pts = [[0.5, 0.0], [0.0, 0.5], [0.6, 0.6]]
    assert hypervolume(pts, ["minimize"] * 2, ref_point=[1, 1], bounds=[(0, 1), (0, 1)]) == pytest.approx(0.75)
    # Maximization mirrors: throughput 100 (best) maps to 0.
    assert hypervolume([[100.0, 0.0]], ["maximize", "minimize"], ref_point=[1, 1],
                       bounds=[(0, 100), (0, 10)]) == pytest.approx(1.0)
    # Default reference 1.1 and default bounds (the points' own range): two corners in 2-D.
    hv = hypervolume([[0.0, 1.0], [1.0, 0.0]], ["minimize"] * 2)
    assert hv == pytest.approx(1.1 * 0.1 + 0.1 * 1.1 - 0.1 * 0.1 + 0.0)  # two 1.1 x 0.1 slabs + overlap
    # 3-D cube corner; points beyond the reference are ignored.
    assert hypervolume([[0.5, 0.5, 0.5], [2, 2, 2]], ["minimize"] * 3, ref_point=[1, 1, 1],
                       bounds=[(0, 1)] * 3) == pytest.approx(0.125)
    assert hypervolume(np.empty((0, 2)), ["minimize"] * 2) == 0.0


def test_hypervolume_subset_never_exceeds_superset():
    rng = np.random.default_rng(3)
    v = rng.random((400, 3))
    dirs = ["maximize", "minimize", "minimize"]
    bounds = np.column_stack([v.min(0), v.max(0)])
    full = hypervolume(v, dirs, bounds=bounds)
    part = hypervolume(v[:100], dirs, bounds=bounds)
    assert 0 < part <= full
    assert hypervolume(v[pareto_mask(v, dirs)], dirs, bounds=bounds) == pytest.approx(full)


def test_normalize_directions():
    out = normalize([[0.0, 10.0], [5.0, 0.0]], ["minimize", "maximize"], [(0, 5), (0, 10)])
    assert out.tolist() == [[0.0, 0.0], [1.0, 1.0]]


def test_3d_sweep_hypervolume_matches_optunas_exact_method():
    from optuna._hypervolume import compute_hypervolume

    from dse.search.pareto import _hypervolume_3d_sweep, pareto_mask

    rng = np.random.default_rng(7)
    for n in (1, 2, 50, 600):
        pts = rng.random((n, 3))
        pts[: n // 3, 0] = pts[n // 3: 2 * (n // 3), 0]  # ties in x
        pts = np.unique(pts[pareto_mask(pts, ["minimize"] * 3)], axis=0)
        ref = np.array([1.1, 1.2, 1.05])
        assert _hypervolume_3d_sweep(pts, ref) == pytest.approx(
            float(compute_hypervolume(pts, ref, assume_pareto=True)), rel=1e-9)
    # A front on a simplex (every point non-dominated) exercises the staircase updates fully.
    pts = rng.dirichlet(np.ones(3), 3000)
    ref = np.ones(3) * 1.1
    assert _hypervolume_3d_sweep(pts, ref) == pytest.approx(
        float(compute_hypervolume(pts, ref, assume_pareto=True)), rel=1e-9)
