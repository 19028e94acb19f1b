"""Zero stability of linear multistep schemes, the mathematics behind ZeroSNet.

A residual block that mixes the current feature map with d - 1 earlier ones is one step
of a d-th order linear multistep method (h = 1)::

    y[n+1] = alpha[0] y[n] + alpha[1] y[n-1] + ... + alpha[d-1] y[n-d+1] + beta f(y[n])

Its characteristic polynomial is ``r(rho) = rho^d - alpha[0] rho^(d-1) - ... - alpha[d-1]``.
The scheme is *zero-stable* when every root has modulus <= 1 and every root of modulus 1
is simple (the root condition), and *consistent* when ``sum(alpha) = 1`` and
``beta = 1 + sum(i * alpha[i])``.

This module is pure NumPy (no torch) so the command line and any analysis script can use
it without a deep-learning stack.

Numerical tolerance: roots come from the eigenvalues of the companion matrix, so a root of
multiplicity m is only accurate to about eps**(1/m) (about 1e-5 for a triple root).
Roots closer together than ``tol`` (default 1e-4) are therefore treated as one multiple
root, and a root counts as lying on the unit circle when ``abs(abs(rho) - 1) <= tol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

__all__ = [
    'DEFAULT_TOL',
    'ZeroStabilityWarning',
    'Scheme',
    'StabilityReport',
    'characteristic_polynomial',
    'roots',
    'analyze',
    'parasitic_moduli',
    'max_parasitic_modulus',
    'zerosnet_coefficients',
    'is_zero_stable_lambda',
    'zero_stable_lambda_set',
    'optimal_lambda',
    'preresnet_coefficients',
    'lm_coefficients',
]

DEFAULT_TOL = 1e-4


class ZeroStabilityWarning(UserWarning):
    """A network was built with a scheme that violates the root condition."""


class Scheme(NamedTuple):
    """Coefficients of one multistep scheme: ``analyze(*scheme)`` checks it."""
    alphas: tuple[float, ...]
    beta: float


@dataclass(frozen=True)
class StabilityReport:
    """What the root condition and the consistency conditions say about a scheme."""
    alphas: tuple[float, ...]
    beta: float | None
    roots: tuple[complex, ...]
    moduli: tuple[float, ...]
    zero_stable: bool
    consistent: bool | None
    reasons: tuple[str, ...]  # one human-readable line per failed condition

    def to_dict(self) -> dict:
        """A JSON-ready view (roots as [re, im] pairs)."""
        return {
            'alphas': list(self.alphas),
            'beta': self.beta,
            'roots': [[r.real, r.imag] for r in self.roots],
            'moduli': list(self.moduli),
            'zero_stable': self.zero_stable,
            'consistent': self.consistent,
        }

    def summary(self) -> str:
        """One line: the coefficients, the root moduli and the verdict of the root condition."""
        beta = '' if self.beta is None else f', beta {self.beta:.4g}'
        return (f"alphas {', '.join(f'{a:.4g}' for a in self.alphas)}{beta}; "
                f"root moduli {', '.join(f'{m:.3f}' for m in self.moduli)}; "
                f"zero-stable: {'yes' if self.zero_stable else 'no'}")


def _as_alphas(alphas: Sequence[float]) -> np.ndarray:
    a = np.asarray(alphas, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f'alphas must be a non-empty 1-D sequence of numbers, got shape {a.shape}')
    if not np.all(np.isfinite(a)):
        raise ValueError(f'alphas must be finite, got {a.tolist()}')
    return a


def characteristic_polynomial(alphas: Sequence[float]) -> np.ndarray:
    """Coefficients, highest power first, of ``rho^d - alpha_0 rho^(d-1) - ... - alpha_(d-1)``."""
    return np.concatenate([[1.0], -_as_alphas(alphas)])


def roots(alphas: Sequence[float]) -> np.ndarray:
    """The d complex roots of the characteristic polynomial, largest modulus first."""
    r = np.roots(characteristic_polynomial(alphas)).astype(complex)
    return r[np.argsort(-np.abs(r), kind='stable')]


def _clusters(r: np.ndarray, tol: float) -> list[list[int]]:
    """Group root indices whose roots lie within ``tol`` of each other (single linkage)."""
    groups: list[list[int]] = []
    for i, z in enumerate(r):
        near = [g for g in groups if any(abs(z - r[j]) <= tol for j in g)]
        merged = [i] + [j for g in near for j in g]
        groups = [g for g in groups if g not in near] + [merged]
    return groups


def analyze(alphas: Sequence[float], beta: float | None = None, tol: float = DEFAULT_TOL) -> StabilityReport:
    """Check the root condition (and, when ``beta`` is given, consistency) of a scheme."""
    a = _as_alphas(alphas)
    if beta is not None and not math.isfinite(beta):
        raise ValueError(f'beta must be finite, got {beta}')
    r = roots(a)
    moduli = np.abs(r)
    reasons = []

    for group in _clusters(r, tol):
        centre = complex(np.mean(r[group]))  # the mean of a perturbed multiple root is accurate
        m = abs(centre)
        if m > 1 + tol:
            reasons.append(f'root {_fmt_complex(centre)} has modulus {m:.6g} > 1')
        elif abs(m - 1) <= tol and len(group) > 1:
            reasons.append(f'root {_fmt_complex(centre)} on the unit circle has multiplicity {len(group)}')
    zero_stable = not reasons

    consistent = None
    if beta is not None:
        total = float(a.sum())
        expected_beta = 1.0 + float(np.dot(np.arange(a.size), a))
        consistent = True
        if abs(total - 1.0) > tol:
            consistent = False
            reasons.append(f'sum(alpha) = {total:.6g}, consistency needs 1')
        if abs(beta - expected_beta) > tol:
            consistent = False
            reasons.append(f'beta = {beta:.6g}, consistency needs 1 + sum(i*alpha_i) = {expected_beta:.6g}')

    return StabilityReport(
        alphas=tuple(float(x) for x in a),
        beta=None if beta is None else float(beta),
        roots=tuple(complex(z) for z in r),
        moduli=tuple(float(m) for m in moduli),
        zero_stable=zero_stable,
        consistent=consistent,
        reasons=tuple(reasons),
    )


def _fmt_complex(z: complex) -> str:
    return f'{z.real:.4g}' if abs(z.imag) < 1e-12 else f'{z.real:.4g}{z.imag:+.4g}j'


def parasitic_moduli(alphas: Sequence[float], tol: float = DEFAULT_TOL) -> np.ndarray:
    """Moduli of the roots other than the principal root rho = 1, largest first.

    A scheme with no root within ``tol`` of 1 (an inconsistent one) has no principal root,
    so all its roots count: for y[n+1] = 2 y[n] + f the answer is [2].
    """
    r = roots(alphas)
    distance = np.abs(r - 1.0)
    if distance.min() <= tol:
        r = np.delete(r, int(np.argmin(distance)))
    return np.abs(r)


def max_parasitic_modulus(alphas: Sequence[float], tol: float = DEFAULT_TOL) -> float:
    """The largest modulus among the parasitic roots (0 when there are none)."""
    m = parasitic_moduli(alphas, tol)
    return float(m.max()) if m.size else 0.0


def _check_lambda(lam) -> np.ndarray:
    lam = np.asarray(lam, dtype=float)
    if not np.all(np.isfinite(lam)):
        raise ValueError(f'lambda must be finite, got {lam.tolist()}')
    if np.any(lam == 0):
        raise ValueError('lambda = 0 is singular for ZeroSNet (its coefficients divide by lambda); '
                         'pick any other value, e.g. the optimal -9/5')
    return lam


def zerosnet_coefficients(lam: float) -> Scheme:
    """The ZeroSNet scheme for a given lambda (the paper's eq. 7 family); consistent for every lambda != 0.

    Vectorized: an array of lambdas gives arrays of coefficients.
    """
    lam = _check_lambda(lam)
    alphas = (3 * (1 + lam) / (4 * lam), -1 / lam, (1 + lam) / (4 * lam))
    beta = (3 * lam - 1) / (2 * lam)
    if lam.ndim == 0:
        return Scheme(tuple(float(a) for a in alphas), float(beta))
    return Scheme(alphas, beta)


def is_zero_stable_lambda(lam, tol: float = DEFAULT_TOL):
    """Whether the ZeroSNet scheme with this lambda satisfies the root condition (vectorized)."""
    lam = _check_lambda(lam)
    flat = [analyze(zerosnet_coefficients(x).alphas, tol=tol).zero_stable for x in lam.ravel()]
    return flat[0] if lam.ndim == 0 else np.array(flat).reshape(lam.shape)


# The ZeroSNet characteristic polynomial always has the root 1 (it is consistent), and
# dividing it out leaves the parasitic quadratic rho^2 + (1 - 3 mu) rho + mu with
# mu = (1 + lambda) / (4 lambda) = alpha_2.  Everything about the lambda set follows from it.

def _lambda_from_mu(mu: float) -> float:
    return 1.0 / (4.0 * mu - 1.0)


def zero_stable_lambda_set(tol: float = DEFAULT_TOL) -> list[tuple[float, float, bool, bool]]:
    """The lambda set on which ZeroSNet is zero-stable, as (low, high, low_closed, high_closed).

    A parasitic root crosses the unit circle only at +1 (1 + 1 - 3 mu + mu = 0, mu = 1),
    at -1 (1 - 1 + 3 mu + mu = 0, mu = 0) or as a complex pair of modulus sqrt(mu) = 1.
    So the candidate boundaries are mu = 0 and mu = 1, plus the singular lambda = 0; the
    root condition, evaluated by ``analyze``, decides each interval and each end point.
    The result is (-inf, -1] U (1/3, inf): at lambda = -1 the roots are 1, 0, -1, all
    simple, so that end is closed, unlike the paper's open interval in Theorem 2.
    """
    boundaries = sorted({_lambda_from_mu(0.0), _lambda_from_mu(1.0), 0.0})
    edges = [-math.inf] + boundaries + [math.inf]
    intervals = []
    for low, high in zip(edges[:-1], edges[1:]):
        if not is_zero_stable_lambda(_probe(low, high), tol=tol):
            continue
        low_closed = low not in (0.0, -math.inf) and bool(is_zero_stable_lambda(low, tol=tol))
        high_closed = high not in (0.0, math.inf) and bool(is_zero_stable_lambda(high, tol=tol))
        intervals.append((low, high, low_closed, high_closed))
    return intervals


def _probe(low: float, high: float) -> float:
    """A point strictly inside (low, high)."""
    if math.isinf(low):
        return high - 1.0
    if math.isinf(high):
        return low + 1.0
    return 0.5 * (low + high)


def optimal_lambda() -> float:
    """The lambda minimizing the largest parasitic root modulus (Theorem 3 of the paper).

    For real coefficients the parasitic quadratic rho^2 + (1 - 3 mu) rho + mu has, for
    complex roots, modulus sqrt(mu); for real roots, a larger root as the discriminant grows.
    The max-modulus is therefore smallest where the discriminant (1 - 3 mu)^2 - 4 mu =
    9 mu^2 - 10 mu + 1 vanishes (a double root), taking the candidate with the smaller
    double root |3 mu - 1| / 2.  That gives mu = 1/9, lambda = -9/5.
    """
    candidates = np.roots([9.0, -10.0, 1.0]).real
    mu = min(candidates, key=lambda m: abs(3 * m - 1) / 2)
    return _lambda_from_mu(float(mu))


def preresnet_coefficients(alpha: float = 1.0) -> Scheme:
    """First-order scheme y[n+1] = alpha y[n] + f(y[n]) (PreResNet is alpha = 1)."""
    return Scheme((float(alpha),), 1.0)


def lm_coefficients(k: float) -> Scheme:
    """The LM-architecture of the paper's eq. (8): y[n+1] = (1-k) y[n] + k y[n-1] + (2k+1) f.

    Implemented as printed; by the consistency conditions beta should be 1 + k, so
    ``analyze`` reports it inconsistent for every k != 0.
    """
    return Scheme((1.0 - k, float(k)), 2.0 * k + 1.0)
