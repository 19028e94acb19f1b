"""What a model costs: its size (parameters, multiply-accumulates) and the time of its steps.

The timing helpers serve the scripts in ``benchmarks/``: models are built side by side and
timed in interleaved repetitions after warm-up (the order alternates every repetition), and
the medians are compared, so that a busy machine slows every model alike.  A train step is
forward, backward and an SGD step; inference is a forward under no_grad.  Inputs are 32x32.
"""

from __future__ import annotations

import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator, NamedTuple, Sequence

import timm
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from . import models  # noqa: F401  (registers the models)
from .evaluate import amp_dtype

__all__ = ['Built', 'Setting', 'alternating', 'autocast', 'build', 'compare', 'infer_step', 'inputs', 'interleaved',
           'model_stats', 'timed', 'train_step']


def model_stats(model: torch.nn.Module) -> dict:
    """Parameters and multiply-accumulates of one image at the model's input size (and channels)."""
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    size = (first.in_channels, *model.pretrained_cfg['input_size'][1:])  # the cfg keeps 3 for any in_chans
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *size, device=first.weight.device))
    model.train(was_training)
    return {'params': sum(p.numel() for p in model.parameters()),
            'macs': counter.get_total_flops() // 2, 'input_size': tuple(size)}


@dataclass(frozen=True)
class Setting:
    """Where and how the steps run."""

    device: str = 'cpu'
    amp: bool = False  # bfloat16 autocast on the CPU, float16 on a GPU
    compile: bool = False  # torch.compile (inductor)
    batch_size: int = 128
    channels_last: bool = True


class Built(NamedTuple):
    model: torch.nn.Module
    runner: Callable  # the model, or its compiled form
    optimizer: torch.optim.Optimizer


def build(name: str, setting: Setting, grad_checkpointing: bool = False) -> Built:
    """A registered model on the setting's device, with an SGD optimizer, compiled if the setting says so."""
    memory_format = torch.channels_last if setting.channels_last else torch.contiguous_format
    model = timm.create_model(name).to(setting.device, memory_format=memory_format)
    model.set_grad_checkpointing(grad_checkpointing)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return Built(model, torch.compile(model) if setting.compile else model, optimizer)


def inputs(setting: Setting) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of 32x32 images and CIFAR-10 labels."""
    x = torch.randn(setting.batch_size, 3, 32, 32, device=setting.device)
    if setting.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, 10, (setting.batch_size,), device=setting.device)


def _sync(device: str) -> None:
    if device.startswith('cuda'):  # kernels run asynchronously: wait for them before reading the clock
        torch.cuda.synchronize()


def autocast(setting: Setting) -> AbstractContextManager:
    """Mixed precision when the setting asks for it, else nothing."""
    if not setting.amp:
        return nullcontext()
    return torch.autocast(torch.device(setting.device).type, dtype=amp_dtype(setting.device))


def train_step(built: Built, x: torch.Tensor, y: torch.Tensor, setting: Setting) -> None:
    built.model.train()
    with autocast(setting):
        loss = F.cross_entropy(built.runner(x), y)
    built.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    built.optimizer.step()


@torch.no_grad()
def infer_step(built: Built, x: torch.Tensor, y: torch.Tensor, setting: Setting) -> None:
    built.model.eval()
    with autocast(setting):
        built.runner(x)


Step = Callable[[Built, torch.Tensor, torch.Tensor, Setting], None]


def timed(fn: Callable[[], object], device: str) -> float:
    """Seconds ``fn`` takes, with the device's queued work finished on both sides."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def alternating(count: int, reps: int) -> Iterator[int]:
    """Indices 0..count-1 for ``reps`` rounds, every other round reversed, so that none always runs first."""
    for r in range(reps):
        yield from (range(count) if r % 2 == 0 else reversed(range(count)))


def interleaved(fns: Sequence[Callable[[], object]], reps: int, device: str, warmup: int = 0) -> list[float]:
    """Median seconds of each of ``fns``, after ``warmup`` untimed calls of each, timed in alternating rounds."""
    for i in alternating(len(fns), warmup):
        fns[i]()
    times = [[] for _ in fns]
    for i in alternating(len(fns), reps):
        times[i].append(timed(fns[i], device))
    return [statistics.median(t) for t in times]


def compare(names: list[str], step: Step, setting: Setting, reps: int, warmup: int) -> list[float]:
    """Median seconds per step of each model, timed in interleaved repetitions."""
    x, y = inputs(setting)
    built = [build(n, setting) for n in names]
    return interleaved([partial(step, b, x, y, setting) for b in built], reps, setting.device, warmup)
