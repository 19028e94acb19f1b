"""The zero-stability toolkit against the paper (the root condition, Table 10, the optimal lambda)
and independent computations."""

import math

import numpy as np
import pytest

from zerosnet_zoo import paper, stability

# The root moduli and the verdict the paper's Table 10 lists for each of its schemes (paper.TABLE_10, in order)
TABLE_10_ROOTS = [
    ((1.84, 0.74, 0.74), False), ((0.57, 1.00, 2.18), False), ((4.24, 0.24, 1.00), False),
    ((1.88, 0.13, 1.00), False), ((1.00, 0.87, 0.87), True), ((0.81, 0.61, 0.61), True),
    ((0.94, 0.33, 0.33), True), ((1.00, 0.52, 0.52), True), ((0.60, 0.82, 0.82), True),
    ((0.33, 0.33, 1.00), True),
]


@pytest.mark.parametrize('alphas, beta, moduli, stable',
                         [(c[:3], c[3], moduli, stable) for c, (moduli, stable) in zip(paper.TABLE_10, TABLE_10_ROOTS,
                                                                                        strict=True)])
def test_table_10(alphas, beta, moduli, stable):
    report = stability.analyze(alphas, beta)
    assert sorted(round(m, 2) for m in report.moduli) == sorted(moduli)
    assert report.zero_stable is stable
    # the roots really are roots of rho^3 - a0 rho^2 - a1 rho - a2
    for r in report.roots:
        assert abs(r ** 3 - alphas[0] * r ** 2 - alphas[1] * r - alphas[2]) < 1e-9
    if not stable:
        assert any('modulus' in reason for reason in report.reasons)


def test_characteristic_polynomial_and_order_one():
    assert stability.characteristic_polynomial([0.5, 0.3]).tolist() == [1.0, -0.5, -0.3]
    assert stability.analyze([1.0], 1.0).zero_stable and stability.analyze([1.0], 1.0).consistent
    report = stability.analyze([2.0], 1.0)  # PreResNet with alpha = 2: root 2
    assert not report.zero_stable and report.moduli == (2.0,)


def test_repeated_unit_roots_fail():
    report = stability.analyze([2.0, -1.0])  # (rho - 1)^2
    assert not report.zero_stable
    assert any('multiplicity 2' in r for r in report.reasons)
    # simple roots on the circle are fine: rho^2 - 1
    assert stability.analyze([0.0, 1.0]).zero_stable


def test_summary_line():
    # rho^3 - rho^2 (the PreResNet step written with two unused history terms): roots 1, 0, 0
    assert stability.analyze([1.0, 0.0, 0.0], 1.0).summary() == \
        'alphas 1, 0, 0, beta 1; root moduli 1.000, 0.000, 0.000; zero-stable: yes'
    assert stability.analyze([2.0, -1.0]).summary() == 'alphas 2, -1; root moduli 1.000, 1.000; zero-stable: no'


def test_lambda_boundaries():
    # lambda = -1: roots 1, 0, -1, all simple -> zero-stable
    s = stability.zerosnet_coefficients(-1.0)
    assert sorted(round(z.real, 9) for z in stability.analyze(s.alphas).roots) == [-1, 0, 1]
    assert stability.is_zero_stable_lambda(-1.0)
    # lambda = 1/3: triple root at 1 -> not zero-stable
    s = stability.zerosnet_coefficients(1 / 3)
    report = stability.analyze(s.alphas)
    assert np.allclose(report.roots, 1, atol=1e-4)
    assert not report.zero_stable and 'multiplicity 3' in report.reasons[0]
    lams = np.array([-5.0, -1.001, -0.999, -0.5, 0.1, 0.3333, 0.334, 1.0, 10.0])
    assert stability.is_zero_stable_lambda(lams).tolist() == [True, True, False, False, False, False, True, True, True]


def test_lambda_set_matches_root_condition_scan():
    intervals = stability.zero_stable_lambda_set()
    assert intervals == [(-math.inf, -1.0, False, True), (pytest.approx(1 / 3), math.inf, False, False)]
    grid = np.concatenate([np.linspace(-20, -0.01, 997), np.linspace(0.01, 20, 997)])
    inside = [any((lo < x < hi) or (hc and x == hi) for lo, hi, _, hc in intervals) for x in grid]
    assert stability.is_zero_stable_lambda(grid).tolist() == inside


def test_zerosnet_coefficients_consistent_for_every_lambda():
    for lam in [-7.3, -1.8, -1, -0.2, 0.25, 1 / 3, 1, 4.5]:
        s = stability.zerosnet_coefficients(lam)
        assert stability.analyze(s.alphas, s.beta).consistent
    vec = stability.zerosnet_coefficients(np.array([-1.8, 0.5]))  # Table 10 rows 10 and 5
    assert np.allclose(vec.alphas[0], [1 / 3, 2.25]) and np.allclose(vec.beta, [16 / 9, 0.5])


def test_optimal_lambda_is_derived_and_optimal():
    lam = stability.optimal_lambda()
    assert lam == pytest.approx(-9 / 5, abs=1e-12)
    s = stability.zerosnet_coefficients(lam)
    assert np.allclose([*s.alphas, s.beta], [1 / 3, 5 / 9, 1 / 9, 16 / 9])
    assert sorted(np.round(stability.analyze(s.alphas).roots, 6).real) == pytest.approx([-1 / 3, -1 / 3, 1], abs=1e-6)
    # independent brute force over the stable set
    grid = np.concatenate([np.linspace(-30, -1, 5801), np.linspace(0.34, 30, 5801)])
    worst = [stability.max_parasitic_modulus(stability.zerosnet_coefficients(x).alphas) for x in grid]
    assert grid[int(np.argmin(worst))] == pytest.approx(-1.8, abs=0.01)
    assert min(worst) == pytest.approx(1 / 3, abs=1e-3)


def test_eq8_lm_architecture():
    for k in [-1.5, -0.5, 0.5, 1.5, 0.0]:
        s = stability.lm_coefficients(k)
        report = stability.analyze(s.alphas, s.beta)
        assert sorted(z.real for z in report.roots) == pytest.approx(sorted([1.0, -k]))
        assert report.zero_stable is (abs(k) <= 1)
        assert report.consistent is (k == 0)
        if k != 0:
            assert any('beta' in r for r in report.reasons)


def test_consistency_reasons():
    report = stability.analyze([0.5, 0.3, 0.1], 0.1)
    assert report.consistent is False
    assert any('sum(alpha)' in r for r in report.reasons) and any('beta' in r for r in report.reasons)
    assert stability.analyze([0.5, 0.5]).consistent is None


@pytest.mark.parametrize('bad', [0, 0.0, float('nan'), float('inf')])
def test_bad_lambda(bad):
    with pytest.raises(ValueError, match='lambda'):
        stability.zerosnet_coefficients(bad)


def test_bad_alphas():
    with pytest.raises(ValueError, match='finite'):
        stability.analyze([1.0, float('nan')])
    with pytest.raises(ValueError, match='non-empty'):
        stability.analyze([])
    with pytest.raises(ValueError, match='beta'):
        stability.analyze([1.0], float('inf'))


def test_parasitic_moduli():
    assert stability.max_parasitic_modulus(stability.zerosnet_coefficients(-1.8).alphas) == pytest.approx(1 / 3, abs=1e-6)
    assert stability.max_parasitic_modulus([1.0]) == 0.0           # PreResNet: only the principal root
    assert stability.max_parasitic_modulus([2.0]) == 2.0           # no root at 1: every root is parasitic
    assert stability.max_parasitic_modulus([0.5, 0.5]) == pytest.approx(0.5)  # roots 1 and -0.5
    assert stability.max_parasitic_modulus([0.1, 0.2, 0.3]) == pytest.approx(0.81, abs=0.01)
