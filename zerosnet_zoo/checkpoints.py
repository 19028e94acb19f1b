"""Checked reading of safetensors weights: the file a path names, its header, and whether it fits a model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError, safe_open

__all__ = ['checkpoint_file', 'describe_mismatch', 'load_weights', 'safetensors_header']


def checkpoint_file(path: str | os.PathLike) -> Path:
    """A ``.safetensors`` file, or the ``model.safetensors`` of a train/cifar.py run directory."""
    path = Path(path)
    path = path / 'model.safetensors' if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} not found (a .safetensors file, or a run directory holding one)')
    return path


def safetensors_header(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The metadata and the tensor shapes of a safetensors file, without reading its tensors.

    Raises ValueError, in one line, when the file is not safetensors.
    """
    try:
        with safe_open(str(path), 'pt') as f:
            return dict(f.metadata() or {}), {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except SafetensorError as e:
        raise ValueError(f'{path} is not a safetensors file ({e}); pass the model.safetensors a run wrote') from None


def describe_mismatch(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> str | None:
    """One line saying how the tensor shapes ``found`` in a file differ from those a model ``expected``.

    None when they match: the same names, each with the same shape.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [k for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    parts = []
    if missing:
        parts.append(f'{len(missing)} tensors missing (first {missing[0]})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected (first {unexpected[0]})')
    if reshaped:
        k = reshaped[0]
        parts.append(f'{len(reshaped)} of another shape (first {k}: {tuple(found[k])} in the file, '
                     f'{tuple(expected[k])} in the model)')
    return ', '.join(parts) or None


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Load a safetensors file into ``model``, strictly.

    Raises ValueError, in one line, when the file is not safetensors or does not fit the model.
    """
    _, shapes = safetensors_header(path)
    problem = describe_mismatch({k: tuple(v.shape) for k, v in model.state_dict().items()}, shapes)
    if problem is not None:
        raise ValueError(f'{path} does not fit this {type(model).__name__}: {problem}; '
                         'load weights of the same model, built with the same arguments')
    with safe_open(str(path), 'pt') as f:
        model.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
