"""Pictures of the stability analysis and of training runs (needs the optional matplotlib: pip install 'zerosnet-zoo[plot]')."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from . import stability
from .files import atomic_path


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError("plotting needs matplotlib: pip install 'zerosnet-zoo[plot]' "
                           "(or pip install matplotlib)") from e
    matplotlib.use('Agg')  # files only; never needs a display
    import matplotlib.pyplot as plt
    return plt


def plot_roots(report: stability.StabilityReport, path: str | os.PathLike) -> None:
    """The roots of a scheme in the complex plane against the unit circle."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), color='0.6', lw=1, label='unit circle')
    r = np.array(report.roots)
    ax.scatter(r.real, r.imag, color='tab:green' if report.zero_stable else 'tab:red', zorder=3,
               label='roots')
    lim = max(1.2, 1.1 * float(np.max(np.abs(r))))
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel='Re', ylabel='Im', aspect='equal',
           title=f"alphas={tuple(round(a, 4) for a in report.alphas)}: "
                 f"{'zero-stable' if report.zero_stable else 'NOT zero-stable'}")
    ax.title.set_fontsize(8)
    ax.axhline(0, color='0.85', lw=0.5)
    ax.axvline(0, color='0.85', lw=0.5)
    ax.legend(loc='lower right', fontsize=8)
    _save(fig, plt, path)


def plot_lambda_sweep(path: str | os.PathLike, low: float = -6.0, high: float = 6.0) -> None:
    """The largest parasitic root modulus of ZeroSNet against lambda, stable set shaded."""
    plt = _pyplot()
    lam = np.linspace(low, high, 2401)
    lam = lam[np.abs(lam) > 1e-3]
    worst = [stability.max_parasitic_modulus(stability.zerosnet_coefficients(x).alphas) for x in lam]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for a, b, _, _ in stability.zero_stable_lambda_set():
        ax.axvspan(max(a, low), min(b, high), color='tab:green', alpha=0.15)
    ax.plot(lam, worst, color='tab:blue', lw=1.2)
    opt = stability.optimal_lambda()
    ax.scatter([opt], [stability.max_parasitic_modulus(stability.zerosnet_coefficients(opt).alphas)],
               color='tab:red', zorder=3, label=f'optimal lambda = {opt:.4g}')
    ax.axhline(1.0, color='0.5', lw=0.8, ls='--')
    ax.set(xlabel='lambda', ylabel='max parasitic |root|', ylim=(0, 3),
           title='ZeroSNet: zero-stable lambda set (shaded)')
    ax.legend(fontsize=8)
    _save(fig, plt, path)


def plot_accuracy_curves(curves: dict[str, Sequence[float]], path: str | os.PathLike, title: str,
                         dashed: Iterable[str] = (), points: dict[str, tuple[int, float]] | None = None) -> None:
    """Test top-1 per epoch (epoch 1 first) of each labelled run; the ``dashed`` labels are drawn
    dashed, and each of ``points`` (label -> (epoch, top-1)) as a marker."""
    plt = _pyplot()
    dashed = set(dashed)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, accs in curves.items():
        ax.plot(range(1, len(accs) + 1), accs, lw=1.2, ls='--' if label in dashed else '-', label=label)
    for label, (epoch, acc) in (points or {}).items():
        ax.scatter([epoch], [acc], marker='*', s=60, zorder=3, label=label)
    top = max(max(accs) for accs in curves.values())
    ax.set(xlabel='epoch', ylabel='test top-1 %', ylim=(max(0.0, top - 30.0), min(100.0, top + 2.0)), title=title)
    ax.title.set_fontsize(9)
    ax.grid(color='0.9', lw=0.5)
    ax.legend(fontsize=8, loc='lower right')
    _save(fig, plt, path)


def _save(fig, plt, path) -> None:
    try:
        with atomic_path(path) as tmp:  # the format is path's suffix, png without one (as savefig)
            fig.savefig(tmp, dpi=120, bbox_inches='tight', format=Path(path).suffix[1:] or 'png')
    finally:
        plt.close(fig)
