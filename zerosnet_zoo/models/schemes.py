"""Multistep schemes as network parts: the coefficients a block mixes its terms with.

A scheme *spec* (a small frozen dataclass) says what a family uses and makes the
coefficients module of each block.  Every such module returns on each forward
``(alpha_0, ..., alpha_{d-1}, beta)``: python floats for fixed schemes, a 1-D tensor for
trainable ones, and reports its current values with ``scheme()``, so that a trained
network can be checked with ``stability.analyze``.
"""

import math
from dataclasses import dataclass
from typing import Final, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import stability
from ..stability import Scheme

__all__ = [
    'FixedScheme', 'ZeroSLambdaScheme', 'LMTrainableScheme',
    'Coefficients', 'FixedCoefficients', 'LambdaCoefficients', 'LMCoefficients', 'starter_coefficients',
]


class Coefficients(nn.Module):
    """A block's coefficients: ``forward()`` gives (alpha_0, ..., alpha_{order-1}, beta).

    ``order`` is the number of state terms the block mixes; ``starter`` marks the plain
    residual steps (1, 1) that open a higher-order scheme (they are no step of the scheme).
    """
    order: Final[int]
    starter: Final[bool]

    def __init__(self, order: int, starter: bool = False):
        super().__init__()
        self.order = order
        self.starter = starter

    def scheme(self) -> Scheme:
        """The coefficients now, as ``stability.analyze(*scheme)`` takes them."""
        raise NotImplementedError


class FixedCoefficients(Coefficients):
    """Fixed coefficients stay python floats: beta scales the branch's last convolution weight
    and each alpha is the ``alpha=`` of an in-place addition, so no coefficient tensor is read
    (and the outputs are those the shipped weights were measured with, bit for bit)."""
    values: List[float]  # (alpha_0, ..., beta); a class annotation, as TorchScript wants it

    def __init__(self, alphas: Sequence[float], beta: float, starter: bool = False):
        super().__init__(len(alphas), starter)
        self.values = [float(a) for a in alphas] + [float(beta)]

    def forward(self) -> List[float]:
        return self.values

    def scheme(self) -> Scheme:
        return Scheme(tuple(self.values[:-1]), self.values[-1])


def starter_coefficients() -> FixedCoefficients:
    """A starter block's y[k+1] = y[k] + f(y[k]): the order-1 step with coefficients (1, 1)."""
    return FixedCoefficients((1.0,), 1.0, starter=True)


KEEP_MARGIN = 1e-3  # how far inside the zero-stable set keep_zero_stable holds lambda


class LambdaCoefficients(Coefficients):
    """ZeroSNet-Tra: a trainable lambda; every forward recomputes the coefficients from it.

    With ``keep_zero_stable`` the stored parameter is ``lam_raw`` and lambda is
    ``1/3 + m + softplus(lam_raw)`` (for an initial lambda > 1/3 + m) or ``-1 - m - softplus(lam_raw)``
    (for an initial lambda < -1 - m), m = ``KEEP_MARGIN``.  Whatever the optimizer does, lambda
    then stays in the branch of the zero-stable set (-inf, -1] U (1/3, inf) it started in, at
    least m from its edge, with smooth, never-zero gradients (a clamp would stop learning at the
    edge).  The margin matters where softplus underflows to 0: lambda = 1/3 is a triple root at 1,
    while at 1/3 + m the parasitic roots lie 1.1e-3 inside the unit circle.
    """
    keep_zero_stable: Final[bool]  # a TorchScript constant: only the branch in use is compiled

    def __init__(self, init: float, keep_zero_stable: bool = False):
        super().__init__(order=3)
        self.keep_zero_stable = keep_zero_stable
        if keep_zero_stable:
            if init > 1 / 3 + KEEP_MARGIN:
                self.edge, self.sign = 1 / 3 + KEEP_MARGIN, 1.0
            elif init < -1 - KEEP_MARGIN:
                self.edge, self.sign = -1 - KEEP_MARGIN, -1.0
            else:
                raise ValueError(
                    f'keep_zero_stable=True needs an initial lambda at least {KEEP_MARGIN:g} inside the '
                    f'zero-stable set (-inf, -1] U (1/3, inf), i.e. below {-1 - KEEP_MARGIN:g} or above '
                    f'1/3 + {KEEP_MARGIN:g}; got {init}')
            raw = _softplus_inverse(self.sign * (init - self.edge))
            self.lam_raw = nn.Parameter(torch.full((1,), raw))
        else:
            self.edge, self.sign = 0.0, 1.0
            self.lam = nn.Parameter(torch.full((1,), float(init)))

    def parameters_for(self, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        """The state-dict entries (relative to this module) that make its lambda equal ``lam``."""
        if not self.keep_zero_stable:
            return {'lam': lam.detach().clone().reshape(1)}
        gap = self.sign * (float(lam) - self.edge)
        if gap <= 0:
            raise ValueError(f'lambda = {float(lam)} lies outside the part of the zero-stable branch this block is '
                             f'constrained to (keep_zero_stable=True, {KEEP_MARGIN:g} from its edge); '
                             f'load it without keep_zero_stable')
        return {'lam_raw': torch.full((1,), _softplus_inverse(gap))}

    def lam_value(self) -> torch.Tensor:
        """The current lambda, shape (1,)."""
        if self.keep_zero_stable:
            return self.edge + self.sign * F.softplus(self.lam_raw)
        return self.lam

    def forward(self) -> torch.Tensor:
        lam = self.lam_value()
        return torch.cat([
            3 * (1 + lam) / (4 * lam),
            -1 / lam,
            (1 + lam) / (4 * lam),
            (3 * lam - 1) / (2 * lam),
        ])

    def scheme(self) -> Scheme:
        return stability.zerosnet_coefficients(float(self.lam_value().detach()))


def _softplus_inverse(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class LMCoefficients(Coefficients):
    """LM-ResNet of Lu et al. (2018): trainable k, y[n+1] = (1-k) y[n] + k y[n-1] + f(y[n]).

    k starts uniform in [-0.1, 0], as in Lu et al.
    """

    def __init__(self):
        super().__init__(order=2)
        self.k = nn.Parameter(torch.empty(1).uniform_(-0.1, 0.0))

    def forward(self) -> torch.Tensor:
        return torch.cat([1 - self.k, self.k, torch.ones_like(self.k)])

    def scheme(self) -> Scheme:
        k = float(self.k.detach())
        return Scheme((1.0 - k, k), 1.0)


@dataclass(frozen=True)
class FixedScheme:
    """The same fixed coefficients in every multistep block."""
    alphas: tuple[float, ...]
    beta: float

    def __post_init__(self):
        values = [*self.alphas, self.beta]
        if not self.alphas or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f'scheme coefficients must be finite numbers, got alphas={self.alphas}, beta={self.beta}')

    @property
    def order(self) -> int:
        return len(self.alphas)

    def make(self) -> FixedCoefficients:
        return FixedCoefficients(self.alphas, self.beta)

    @classmethod
    def from_sequence(cls, coefficients: Sequence[float], order: int) -> 'FixedScheme':
        """From ``(alpha_0, ..., alpha_{order-1}, beta)``, with a clear error for a wrong size."""
        values = tuple(coefficients)
        if len(values) != order + 1:
            raise ValueError(
                f'coefficients must hold {order + 1} numbers (alpha_0..alpha_{order - 1}, beta) '
                f'for a scheme of order {order}, got {len(values)}: {values}')
        try:
            values = tuple(float(v) for v in values)
        except (TypeError, ValueError) as e:
            raise ValueError(f'coefficients must be numbers, got {coefficients!r}') from e
        return cls(values[:-1], values[-1])


@dataclass(frozen=True)
class ZeroSLambdaScheme:
    """ZeroSNet-Tra: one trainable lambda per third-order block."""
    init: float
    keep_zero_stable: bool = False
    order: int = 3

    def __post_init__(self):
        stability.zerosnet_coefficients(self.init)  # raises for lambda = 0 or non-finite

    def make(self) -> LambdaCoefficients:
        return LambdaCoefficients(self.init, self.keep_zero_stable)


@dataclass(frozen=True)
class LMTrainableScheme:
    """LM-ResNet (Lu et al. 2018): one trainable k per second-order block, beta = 1."""
    order: int = 2

    def make(self) -> LMCoefficients:
        return LMCoefficients()
