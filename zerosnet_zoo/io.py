"""File output that is never left half-written, and checked reading of safetensors weights."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

import torch
from safetensors import SafetensorError, safe_open


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, rename it onto ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new one, never a
    partial one; on an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=path.suffix or '.tmp', dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success, rename it onto ``path``.

    ``path`` must not exist or be an empty folder, so a reader finds the complete folder or none.
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f'{path} exists and is not an empty folder; choose another path or remove it')
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{path.name}.', dir=path.parent))
    try:
        yield tmp
        for item in [tmp, *tmp.rglob('*')]:  # mkdtemp makes 0700; give the usual permissions
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~_umask())
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
