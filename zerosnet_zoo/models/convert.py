"""Checkpoints of the paper's reference implementation -> zerosnet_zoo models.

The reference code (github.com/LongJin-lab/ZeroSNet) names its CIFAR blocks ``blocks.{i}``
and its ImageNet blocks ``layer{s}.{j}``.
The converter renames every entry, drops the entries the reference builds but never uses
(the CIFAR stem ``bn1``, ``downsample1`` of basic nets, the starter blocks' lambda) and
checks that the result fills the target model exactly, so that
``model.load_state_dict(converted, strict=True)`` cannot silently leave anything random.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Mapping, Sequence

import torch

from .schemes import LambdaCoefficients
from .multistep import MultistepResNet

__all__ = ['convert_reference_state_dict', 'is_reference_state_dict']

_BLOCK_PARTS = {  # reference module inside a block -> ours
    'bn1': 'norm1', 'conv1': 'branch.conv1', 'bn2': 'branch.norm2', 'conv2': 'branch.conv2',
    'bn3': 'branch.norm3', 'conv3': 'branch.conv3',
    'downsample_x.downsample_.0': 'proj_x', 'downsample_l.downsample_.0': 'proj_h1',
    'downsample_ll.downsample_.0': 'proj_h2',
    'shortcut_x.0': 'proj_x', 'shortcut_l.0': 'proj_h1', 'shortcut_ll.0': 'proj_h2', 'shortcut.0': 'proj_x',
}
_LAMBDA_NAMES = ('coe', 'k')  # CIFAR, ImageNet
_CIFAR_BLOCK = re.compile(r'^blocks\.(\d+)\.(.+)$')
_IMAGENET_BLOCK = re.compile(r'^layer(\d+)\.(\d+)\.(.+)$')


def is_reference_state_dict(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict uses the reference implementation's names."""
    keys = {k.removeprefix('module.') for k in state_dict}
    return 'blocks.0.bn1.weight' in keys or 'layer1.0.bn1.weight' in keys


def convert_reference_state_dict(
        state_dict: Mapping[str, torch.Tensor],
        model: MultistepResNet,
        adaptable: Sequence[str] = (),
) -> 'OrderedDict[str, torch.Tensor]':
    """Map a reference checkpoint onto ``model`` (built with the matching name and knobs).

    Raises ValueError naming every entry that is unknown, missing or of the wrong shape.
    Entries of the modules named in ``adaptable`` are exempt from the shape check, and dropped
    where the model has no such module: timm's loader adapts the first conv to ``in_chans`` and
    discards a classifier of another ``num_classes`` after this conversion.
    """
    blocks = [(f'stages.{i}.{j}', block) for i, stage in enumerate(model.stages) for j, block in enumerate(stage)]
    stage_starts = [0]
    for stage in model.stages:
        stage_starts.append(stage_starts[-1] + len(stage))
    converted: dict[str, torch.Tensor] = {}
    unknown = []

    for key, value in state_dict.items():
        key = key.removeprefix('module.')  # DataParallel / DDP checkpoints
        if m := _CIFAR_BLOCK.match(key):
            index, rest = int(m.group(1)), m.group(2)
        elif m := _IMAGENET_BLOCK.match(key):
            stage, j, rest = int(m.group(1)) - 1, int(m.group(2)), m.group(3)
            index = stage_starts[stage] + j if stage < len(model.stages) else len(blocks)
        else:
            target = _top_level_target(key, model)
            if target is None:
                continue  # built by the reference but unused in its forward
            if target == '':
                unknown.append(key)
            else:
                converted[target] = value
            continue
        if index >= len(blocks):
            unknown.append(key)
            continue
        prefix, block = blocks[index]
        if rest in _LAMBDA_NAMES:
            converted.update(_lambda_entries(key, value, prefix, block))
            continue
        module, _, leaf = rest.rpartition('.')
        if module not in _BLOCK_PARTS:
            unknown.append(key)
            continue
        converted[f'{prefix}.{_BLOCK_PARTS[module]}.{leaf}'] = value

    return _checked(converted, model, unknown, tuple(f'{name}.' for name in adaptable))


def _top_level_target(key: str, model: MultistepResNet) -> str | None:
    """Our name for a reference entry outside the blocks; None = drop, '' = unknown."""
    module, _, leaf = key.rpartition('.')
    imagenet = hasattr(model.stem, 'norm')
    first = model.stages[0][0]
    if module == 'conv1':
        return f'stem.conv.{leaf}'
    if module == 'bn1':
        return f'stem.norm.{leaf}' if imagenet else None  # CIFAR: built, never used
    if module in ('bn', 'fc'):
        return f'norm.{leaf}' if module == 'bn' else f'head.fc.{leaf}'
    if module.startswith('downsample1.downsample.'):
        if not first.stem_skip:
            return None  # basic CIFAR nets build downsample1 but never use it
        part = {'0': '0', '2': '1'}.get(module.rsplit('.', 1)[1])
        return f'stages.0.0.proj_x.{part}.{leaf}' if part else ''
    return ''


def _lambda_entries(key: str, value: torch.Tensor, prefix: str, block) -> dict[str, torch.Tensor]:
    if block.starter:
        return {}  # the reference gives starter blocks a lambda they never use
    if not isinstance(block.coefficients, LambdaCoefficients):
        raise ValueError(
            f'{key} is a trainable lambda, but the target model has fixed coefficients; '
            f'build the Tra variant (e.g. zerosnet_tra_56 / zerosnet_tra50) to load this checkpoint')
    entries = block.coefficients.parameters_for(value)
    return {f'{prefix}.coefficients.{name}': v for name, v in entries.items()}


def _checked(converted: dict, model: MultistepResNet, unknown: list,
             adaptable: tuple) -> 'OrderedDict[str, torch.Tensor]':
    expected = model.state_dict()
    problems = []
    if unknown:
        problems.append(f'entries with no counterpart in the model: {unknown[:8]}{" ..." if len(unknown) > 8 else ""}')
    missing = [k for k in expected if k not in converted]
    if missing:
        problems.append(f'model entries the checkpoint does not fill: {missing[:8]}{" ..." if len(missing) > 8 else ""}')
    extra = [k for k in converted if k not in expected and not k.startswith(adaptable)]
    if extra:
        problems.append(f'converted entries the model does not have: {extra[:8]}{" ..." if len(extra) > 8 else ""}')
    shapes = [f'{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(v.shape)}'
              for k, v in expected.items()
              if k in converted and converted[k].shape != v.shape and not k.startswith(adaptable)]
    if shapes:
        problems.append(f'shape mismatches: {shapes[:8]}')
    if problems:
        raise ValueError('reference checkpoint does not match the model (was it built with the same '
                         'name, depth and knobs?): ' + '; '.join(problems))
    return OrderedDict((k, converted[k]) for k in expected)
