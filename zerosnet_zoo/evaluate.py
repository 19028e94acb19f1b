"""Accuracy, robustness to input noise (the paper's Table 6) and FGSM/PGD attacks.

Images are uint8 tensors; every perturbation is applied in [0, 1] pixel space, clipped back
to [0, 1], and only then normalized with the model's mean and std, as the paper does.
``evaluate`` measures a model on a test set in one call (what ``zerosnet-zoo eval`` prints);
the functions below it measure one thing each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from .data import ImageSet, normalize

__all__ = ['ATTACKS', 'EPS', 'NOISES', 'PGD_STEPS', 'AttackResult', 'Evaluation', 'evaluate', 'accuracy', 'topk_accuracy',
           'amp_dtype', 'slow_amp', 'noise_accuracy', 'attack_accuracy', 'add_noise', 'adversarial', 'pgd_step_size']

NOISE_SEED = 1


def amp_dtype(device: str | torch.device) -> torch.dtype:
    """The dtype mixed precision autocasts to on this device, in the package's tools: float16 on
    CUDA (training needs a loss scaler), bfloat16 elsewhere (float32's range, no scaler)."""
    return torch.float16 if torch.device(device).type == 'cuda' else torch.bfloat16


def slow_amp(device: str | torch.device) -> str | None:
    """Why mixed precision would be slow on this device, or None. oneDNN's bfloat16 kernels need
    AVX-512 or AVX-NE-CONVERT on an x86 CPU and the BF16 extension on Arm (torch's own check says
    which); without them bfloat16 autocast runs fallback kernels many times slower than float32."""
    if torch.device(device).type != 'cpu' or torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return None
    return ("this CPU lacks the instructions oneDNN's bfloat16 kernels need (AVX-512 or AVX-NE-CONVERT on "
            'x86, BF16 on Arm), so bfloat16 autocast runs slow fallback kernels (a train step took 13-15x its '
            'float32 time on an AVX2-only CPU). Train without --amp, or time both with python '
            'benchmarks/precision.py')


# name -> (kind, parameter): the input noises of the paper's Table 6
NOISES = {
    'uniform[-0.08,0]': ('uniform', (-0.08, 0.0)),
    'uniform[0,0.08]': ('uniform', (0.0, 0.08)),
    'gaussian0.01': ('gaussian', 0.01),
    'gaussian0.02': ('gaussian', 0.02),
    'gaussian0.04': ('gaussian', 0.04),
    'constant0.3': ('constant', 0.3),
}

# The L-infinity attacks, and their defaults: the usual CIFAR budget of 8 grey levels, 10 PGD steps
ATTACKS = ('fgsm', 'pgd')
EPS = 8 / 255
PGD_STEPS = 10


@dataclass(frozen=True)
class AttackResult:
    """Top-1 accuracy in percent under one L-infinity attack, with the settings it ran with.

    FGSM is one step of size ``eps``, so it has no ``steps`` or ``step_size``; PGD records both,
    the step size as used (its default resolved).
    """

    eps: float
    top1: float
    steps: int | None = None
    step_size: float | None = None

    def to_dict(self) -> dict:
        """{eps, top1} for FGSM, {eps, steps, step_size, top1} for PGD."""
        pgd = {} if self.steps is None else {'steps': self.steps, 'step_size': self.step_size}
        return {'eps': self.eps, **pgd, 'top1': self.top1}


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` measured, in percent: clean top-1 and top-5, top-1 per noise and per attack,
    and, when asked for, clean top-1 and top-5 with flip test-time augmentation."""

    images: int
    clean: float
    top5: float
    noise: dict[str, float] = field(default_factory=dict)  # noise name -> top-1
    attacks: dict[str, AttackResult] = field(default_factory=dict)  # 'fgsm' / 'pgd' -> result
    flip: dict[str, float] = field(default_factory=dict)  # 'clean' / 'top5' -> with flip TTA

    def to_dict(self) -> dict:
        """The layout of ``zerosnet-zoo eval --json`` after its 'model' and 'data_dir': images, clean,
        top5, then 'flip', 'noise' and 'attacks' when measured."""
        result = {'images': self.images, 'clean': self.clean, 'top5': self.top5}
        if self.flip:
            result['flip'] = dict(self.flip)
        if self.noise:
            result['noise'] = dict(self.noise)
        if self.attacks:
            result['attacks'] = {name: a.to_dict() for name, a in self.attacks.items()}
        return result


def evaluate(model: torch.nn.Module, data: ImageSet, noises: Iterable[str] = (), attacks: Iterable[str] = (), *,
             eps: float = EPS, steps: int = PGD_STEPS, step_size: float | None = None, batch_size: int = 250,
             device: str | torch.device = 'cpu', seed: int = NOISE_SEED, flip: bool = False) -> Evaluation:
    """Clean top-1 and top-5 of ``model`` on ``data``, top-1 under each of ``noises`` (names in
    ``NOISES``; pass ``NOISES`` for all of the paper's) and under each of ``attacks`` ('fgsm',
    'pgd'; see ``adversarial`` for ``eps``, ``steps`` and ``step_size``), and with ``flip`` also
    clean top-1 and top-5 with flip test-time augmentation (the mean of the logits of each image
    and its mirror image).

    ``model`` is moved to ``device`` and put in eval mode; images are normalized with its
    ``pretrained_cfg`` mean and std.  Every noise and attack draws from its own generator seeded
    with ``seed``, so a result repeats exactly.  Raises ValueError for an unknown noise or attack,
    or a model whose class count is not the data's.
    """
    noises, attacks = list(noises), list(attacks)
    unknown = [n for n in noises if n not in NOISES] + [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f'unknown noise or attack {unknown[0]!r}; noises: {list(NOISES)}, attacks: {list(ATTACKS)}')
    classes = getattr(model, 'num_classes', None)
    if classes is not None and classes != len(data.classes):
        raise ValueError(f'the model predicts {classes} classes, the data has {len(data.classes)}')
    names = getattr(model, 'pretrained_cfg', {}).get('label_names')
    if names is not None and len(names) == len(data.classes) and list(names) != list(data.classes):
        # class folders named otherwise sort into another order: every label would be scrambled
        raise ValueError(f'the data\'s classes {list(data.classes)} are not the model\'s {list(names)} in that order; '
                         f'name the class folders as the model does')
    model = model.to(device).eval()
    mean, std = model.pretrained_cfg['mean'], model.pretrained_cfg['std']
    common = dict(batch_size=batch_size, device=device, seed=seed)
    top = topk_accuracy(model, data.images, data.labels, mean, std, ks=(1, 5), batch_size=batch_size, device=device)
    flipped = topk_accuracy(model, data.images, data.labels, mean, std, ks=(1, 5), batch_size=batch_size, device=device,
                            flip=True) if flip else {}
    noise = noise_accuracy(model, data.images, data.labels, mean, std, names=noises, **common)
    measured = {}
    for attack in attacks:
        pgd = {'steps': steps, 'step_size': pgd_step_size(eps, steps, step_size)} if attack == 'pgd' else {}
        top1 = attack_accuracy(model, data.images, data.labels, mean, std, attack, eps, steps, pgd.get('step_size'),
                               **common)
        measured[attack] = AttackResult(eps, top1, **pgd)
    return Evaluation(len(data), top[1], top[5], noise, measured,
                      {'clean': flipped[1], 'top5': flipped[5]} if flip else {})


def add_noise(x: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    """Perturb images in [0, 1] with the named noise, then clip to [0, 1]."""
    if name not in NOISES:
        raise ValueError(f'unknown noise {name!r}; choose from {list(NOISES)}')
    kind, p = NOISES[name]
    if kind == 'uniform':
        low, high = p
        noise = torch.rand(x.shape, generator=generator) * (high - low) + low
    elif kind == 'gaussian':
        noise = torch.randn(x.shape, generator=generator) * p
    else:  # a grey image of value p added
        noise = torch.full(x.shape, p)
    return (x + noise.to(x.device)).clamp(0, 1)


def _batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device):
    if images.dtype != torch.uint8:  # a [0, 1] float would be divided by 255 once more, without a word
        raise ValueError(f'images must be uint8 in [0, 255], as load_split gives them, got {images.dtype}; '
                         'convert with (x * 255).round().to(torch.uint8)')
    for i in range(0, len(labels), batch_size):
        yield images[i:i + batch_size].to(device).float() / 255, labels[i:i + batch_size].to(device)


@torch.no_grad()
def _topk(model, images, labels, mean, std, batch_size, device, perturb: Callable | None = None,
          channels_last: bool = False, amp: bool = False, ks: tuple[int, ...] = (1,),
          flip: bool = False) -> dict[int, float]:
    model.eval()
    correct = torch.zeros(len(ks), dtype=torch.int64)
    for x, y in _batches(images, labels, batch_size, device):
        if perturb is not None:
            x = perturb(x)
        x = normalize(x, mean, std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
            logits = model(x)
            if flip:  # test-time augmentation: average with the mirror image's logits
                logits = (logits + model(x.flip(3))) / 2
        ranked = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices == y[:, None]
        correct += torch.stack([ranked[:, :k].any(1).sum() for k in ks]).cpu()
    return {k: 100.0 * c / len(labels) for k, c in zip(ks, correct.tolist())}


def accuracy(model, images, labels, mean, std, batch_size: int = 500, device='cpu', **kwargs) -> float:
    """Top-1 accuracy in percent on clean images."""
    return _topk(model, images, labels, mean, std, batch_size, torch.device(device), **kwargs)[1]


def topk_accuracy(model, images, labels, mean, std, ks: tuple[int, ...] = (1, 5), batch_size: int = 500,
                  device='cpu', **kwargs) -> dict[int, float]:
    """Top-k accuracies in percent on clean images, in one pass: {k: accuracy}."""
    return _topk(model, images, labels, mean, std, batch_size, torch.device(device), ks=ks, **kwargs)


def noise_accuracy(model, images, labels, mean, std, batch_size: int = 500, device='cpu',
                   seed: int = NOISE_SEED, names: Iterable[str] = NOISES) -> dict[str, float]:
    """Top-1 accuracy under each noise of ``names`` (default: all of ``NOISES``), each drawn from
    its own seeded generator."""
    results = {}
    for name in names:
        g = torch.Generator().manual_seed(seed)
        results[name] = _topk(model, images, labels, mean, std, batch_size, torch.device(device),
                              perturb=lambda x, name=name: add_noise(x, name, g))[1]
    return results


def pgd_step_size(eps: float, steps: int, step_size: float | None = None) -> float:
    """The PGD step: ``step_size`` if given, else 2.5 * eps / steps (Madry et al.'s ratio)."""
    return step_size if step_size is not None else 2.5 * eps / steps


def adversarial(model, x: torch.Tensor, y: torch.Tensor, mean, std, attack: str, eps: float,
                steps: int = PGD_STEPS, step_size: float | None = None, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """L-infinity FGSM or PGD images in [0, 1] pixel space, within ``eps`` of ``x``.

    PGD starts from a uniform point in the eps-ball and takes ``steps`` signed-gradient steps
    of ``step_size`` (default 2.5 * eps / steps), projecting back after each.
    """
    if attack not in ('fgsm', 'pgd'):
        raise ValueError(f"attack must be 'fgsm' or 'pgd', got {attack!r}")
    if not 0 <= eps <= 1 or steps < 1:
        raise ValueError(f'need eps in [0, 1] (pixel units, 8/255 is the usual CIFAR budget) and steps >= 1, '
                         f'got eps={eps}, steps={steps}')
    if step_size is not None and not step_size > 0:
        raise ValueError(f'the PGD step size must be positive, got {step_size}')
    if attack == 'fgsm':
        return (x + eps * _grad_sign(model, x, y, mean, std)).clamp(0, 1)
    step_size = pgd_step_size(eps, steps, step_size)
    adv = (x + (torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        adv = adv + step_size * _grad_sign(model, adv, y, mean, std)
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv


def attack_accuracy(model, images, labels, mean, std, attack: str, eps: float = EPS,
                    steps: int = PGD_STEPS, step_size: float | None = None, batch_size: int = 250,
                    device='cpu', seed: int = NOISE_SEED) -> float:
    """Top-1 accuracy in percent under an FGSM or PGD attack (see ``adversarial``)."""
    device = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    model.eval()
    correct = 0
    for x, y in _batches(images, labels, batch_size, device):
        adv = adversarial(model, x, y, mean, std, attack, eps, steps, step_size, g)
        with torch.no_grad():
            correct += (model(normalize(adv, mean, std)).argmax(1) == y).sum().item()
    return 100.0 * correct / len(labels)


def _grad_sign(model, x, y, mean, std) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(normalize(x, mean, std)), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()
