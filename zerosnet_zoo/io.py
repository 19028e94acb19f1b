"""Deprecated alias: ``zerosnet_zoo.files`` (atomic writes) and ``zerosnet_zoo.checkpoints`` (weight files).

The module was renamed because its name is the standard library's ``io``.
"""

import warnings

from .checkpoints import checkpoint_file, describe_mismatch, load_weights, safetensors_header
from .files import atomic_dir, atomic_path

__all__ = ['atomic_dir', 'atomic_path', 'checkpoint_file', 'describe_mismatch', 'load_weights', 'safetensors_header']

warnings.warn('zerosnet_zoo.io is deprecated: import atomic_path and atomic_dir from zerosnet_zoo.files, and '
              'checkpoint_file, load_weights, safetensors_header and describe_mismatch from zerosnet_zoo.checkpoints',
              DeprecationWarning, stacklevel=2)
