"""Multistep schemes as network parts: the coefficients a block mixes its terms with.

A scheme *spec* (a small frozen dataclass) says what a family uses and makes the
coefficients of each block: a ``stability.Scheme`` of plain numbers for fixed schemes, or a
module for trainable ones, which returns on each forward a 1-D tensor
``(alpha_0, ..., alpha_{d-1}, beta)`` and reports its current values with ``scheme()``, so
a trained network can be checked with ``stability.analyze``.
"""

import math
from dataclasses import dataclass
from typing import Final, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import stability
from ..stability import Scheme

__all__ = [
    'FixedScheme', 'ZeroSLambdaScheme', 'LMTrainableScheme',
    'LambdaCoefficients', 'LMCoefficients',
]

class LambdaCoefficients(nn.Module):
    """ZeroSNet-Tra: a trainable lambda; every forward recomputes the coefficients from it.

    With ``keep_zero_stable`` the stored parameter is ``lam_raw`` and lambda is
    ``1/3 + softplus(lam_raw)`` (for an initial lambda > 1/3) or ``-1 - softplus(lam_raw)``
    (for an initial lambda <= -1).  Whatever the optimizer does, lambda then stays strictly
    inside the branch of the zero-stable set (-inf, -1] U (1/3, inf) it started in, with
    smooth, never-zero gradients (a clamp would stop learning at the edge).
    """
    keep_zero_stable: Final[bool]  # a TorchScript constant: only the branch in use is compiled

    def __init__(self, init: float, keep_zero_stable: bool = False):
        super().__init__()
        self.keep_zero_stable = keep_zero_stable
        if keep_zero_stable:
            if init > 1 / 3:
                self.edge, self.sign = 1 / 3, 1.0
            elif init < -1:
                self.edge, self.sign = -1.0, -1.0
            else:
                raise ValueError(
                    f'keep_zero_stable=True needs an initial lambda inside the zero-stable set '
                    f'(-inf, -1) U (1/3, inf), got {init}')
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
            raise ValueError(f'lambda = {float(lam)} lies outside the zero-stable branch this block is '
                             f'constrained to (keep_zero_stable=True); load it without keep_zero_stable')
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

class LMCoefficients(nn.Module):
    """LM-ResNet of Lu et al. (2018): trainable k, y[n+1] = (1-k) y[n] + k y[n-1] + f(y[n]).

    k starts uniform in [-0.1, 0], as in Lu et al.
    """

    def __init__(self):
        super().__init__()
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

    def make(self) -> Scheme:
        """Fixed coefficients stay plain numbers: the block fuses them into its additions."""
        return Scheme(tuple(float(a) for a in self.alphas), float(self.beta))

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

    def make(self) -> nn.Module:
        return LambdaCoefficients(self.init, self.keep_zero_stable)

@dataclass(frozen=True)
class LMTrainableScheme:
    """LM-ResNet (Lu et al. 2018): one trainable k per second-order block, beta = 1."""
    order: int = 2

    def make(self) -> nn.Module:
        return LMCoefficients()
