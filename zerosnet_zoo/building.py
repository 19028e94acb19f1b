"""Models from what a user types and from checkpoint files.

The one place the tools (the command line, the training scripts, the Hub export) turn a model
name, ``--model-kwargs`` and a checkpoint's recorded metadata into a timm model, with every
mistake as a one-line ValueError that names it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from typing import Any, Mapping, NamedTuple, Sequence

import timm
from timm.models import get_arch_pretrained_cfgs, split_model_name_tag

from . import models  # noqa: F401  (registers the models)
from .checkpoints import checkpoint_file, describe_mismatch, safetensors_header

__all__ = ['Checkpoint', 'check_model_name', 'checkpoint_model', 'create_model', 'dataset_model_name',
           'parse_model_kwargs']


def parse_model_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """``K=V`` strings (``--model-kwargs``) -> keyword arguments for ``timm.create_model``.

    A value is read as ``true``/``false`` -> bool and ``none`` -> None (any case), an integer
    literal -> int, any other number -> float, comma-separated numbers -> a tuple, else a str.
    A tuple holds ints only when every item is an integer literal, otherwise floats, so
    ``coefficients=1,0.5,0,1`` gives four floats.  Raises ValueError for an item without ``=``,
    a key that is not a Python name, or a key given twice.
    """
    kwargs = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key.isidentifier():
            raise ValueError(f'--model-kwargs expects KEY=VALUE with KEY a Python name, got {item!r}')
        if key in kwargs:
            raise ValueError(f'--model-kwargs gives {key} twice; keep one')
        kwargs[key] = _parse_value(value)
    return kwargs


def _parse_value(text: str) -> Any:
    words = {'true': True, 'false': False, 'none': None}
    if text.lower() in words:
        return words[text.lower()]
    numbers = [_number(part) for part in text.split(',')]
    if any(n is None for n in numbers):
        return text
    if len(numbers) == 1:
        return numbers[0]
    return tuple(numbers) if all(isinstance(n, int) for n in numbers) else tuple(float(n) for n in numbers)


def _number(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def check_model_name(name: str) -> None:
    """Raise a one-line ValueError unless ``name`` is a registered model, with a pretrained tag it has if any."""
    arch, tag = split_model_name_tag(name)
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = (f'did you mean {" or ".join(close)}?' if close
                else "timm.list_models('*zerosnet*') lists this package's models")
        raise ValueError(f'unknown model {arch!r}; {hint}')
    tags = [cfg_name.partition('.')[2] for cfg_name in get_arch_pretrained_cfgs(arch)]
    if tag and tag not in tags:
        raise ValueError(f'{arch} has no tag {tag!r}; its tags: {", ".join(tags) or "none"}')


def dataset_model_name(name: str, dataset: str) -> str:
    """``name`` with the pretrained tag of ``dataset`` ('zerosnet_opt_20' -> 'zerosnet_opt_20.cifar100').

    The tag's config carries the data set's class count, mean and std.  ``name`` comes back as it
    is when it already has a tag or when its architecture has none for ``dataset``.
    """
    arch, tag = split_model_name_tag(name)
    tagged = f'{arch}.{dataset}'
    return tagged if not tag and tagged in get_arch_pretrained_cfgs(arch) else name


def create_model(name: str, model_kwargs: Mapping[str, Any], **kwargs: Any) -> Any:
    """``timm.create_model(name, **kwargs, **model_kwargs)``, with the user's mistakes as one-line ValueErrors.

    ``kwargs`` are the calling tool's own arguments, ``model_kwargs`` the user's ``--model-kwargs``.
    An unknown model or tag, a key the model does not take, a key the tool sets itself, or a value
    the constructor rejects with a ValueError becomes a ValueError that names it.  Every other
    exception passes unchanged: it is a bug, not a typing mistake.
    """
    check_model_name(name)
    clash = sorted(kwargs.keys() & model_kwargs.keys())
    if clash:
        raise ValueError(f'--model-kwargs {", ".join(clash)}: set by this tool itself; leave it out')
    try:
        return timm.create_model(name, **kwargs, **model_kwargs)
    except TypeError as e:
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if unexpected is None or unexpected.group(1) not in model_kwargs:
            raise
        raise ValueError(f'{name} takes no argument {unexpected.group(1)!r}; drop it from --model-kwargs') from None
    except ValueError as e:
        if not model_kwargs:
            raise
        given = ' '.join(f'{k}={v}' for k, v in model_kwargs.items())
        raise ValueError(f'{name} rejects --model-kwargs {given}: {e}') from None


class Checkpoint(NamedTuple):
    model: Any  # the network, its weights loaded
    name: str  # its timm name, tagged with the data set it was trained on
    dataset: str  # the data set to test it on
    model_kwargs: dict[str, Any]  # what it was built with beyond the name (e.g. lam=-1.2)


def checkpoint_model(checkpoint: str | os.PathLike, model: str | None = None,
                     model_kwargs: Sequence[str] | None = None, dataset: str | None = None) -> Checkpoint:
    """The model of a checkpoint with its weights loaded, its timm name and keyword arguments, and the
    data set to test it on.

    ``checkpoint`` is a .safetensors file or a train/cifar.py run directory; ``model``,
    ``model_kwargs`` (``K=V`` strings) and ``dataset`` are ``eval``'s --model, --model-kwargs and
    --dataset.  train/cifar.py records the model, its --model-kwargs, the data set and the
    normalization in the file's metadata.  They fill in what is left out, so a CIFAR-100 run is
    built as NAME.cifar100 and evaluated with the statistics it was trained with.
    """
    path = checkpoint_file(checkpoint)
    metadata, shapes = safetensors_header(path)
    trained = metadata.get('model')
    name = model or trained
    if name is None:
        raise ValueError(f'{path} does not record its model (no train/cifar.py metadata); pass --model NAME')
    items = model_kwargs
    if items is None:  # the run's own --model-kwargs, when it is the same architecture
        same_arch = trained is not None and split_model_name_tag(trained)[0] == split_model_name_tag(name)[0]
        items = json.loads(metadata.get('model_kwargs', '[]')) if same_arch else []
    kwargs = parse_model_kwargs(items)
    if 'dataset' in metadata:
        name = dataset_model_name(name, metadata['dataset'])
    head = shapes['head.fc.weight'][0] if 'head.fc.weight' in shapes else None
    timm_kwargs = dict(num_classes=head) if head is not None else {}
    try:
        loaded = create_model(name, kwargs, pretrained=True, **timm_kwargs,
                              pretrained_cfg_overlay=dict(file=str(path), **timm_kwargs))
    except RuntimeError as e:
        if not str(e).startswith('Error(s) in loading state_dict'):
            raise
        # torch lists every key over many lines; measure the mismatch and say it in one
        bare = create_model(name, kwargs, **timm_kwargs)
        problem = describe_mismatch({k: tuple(v.shape) for k, v in bare.state_dict().items()}, shapes)
        if problem is None:  # the keys fit, so something else failed: not a mismatch to report
            raise
        origin = f' (it holds {trained})' if trained else ''
        raise ValueError(f'{path}{origin} does not fit {name}: {problem}; pass the --model and --model-kwargs '
                         'it was trained with') from None
    if 'mean' in metadata:
        trained_stats = json.loads(metadata['mean']), json.loads(metadata['std'])
        stats = list(loaded.pretrained_cfg['mean']), list(loaded.pretrained_cfg['std'])
        if trained_stats != stats:
            raise ValueError(f'{path} was trained with mean {trained_stats[0]}, std {trained_stats[1]}, but {name} '
                             f'normalizes with mean {stats[0]}, std {stats[1]}; pass --model without a tag')
    return Checkpoint(loaded, name, dataset or metadata.get('dataset', 'cifar10'), kwargs)
