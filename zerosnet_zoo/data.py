"""CIFAR-sized image data decoded once into uint8 tensors, and batched tensor augmentation.

Two layouts are read: an ImageFolder root (``train/`` and ``test/`` with one folder per
class, e.g. CIFAR-10 re-encoded as JPEG q75), or a torchvision CIFAR root
(``cifar-10-batches-py`` / ``cifar-100-python``, optionally downloaded by torchvision).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

__all__ = ['ImageSet', 'SAMPLE_DIR', 'load_split', 'random_crop_flip', 'alternating_flips', 'normalize']

# 500 real CIFAR-10 test images (JPEG q75), the first 50 of each class by file name in
# the CIFAR-10 JPEG q75 copy, shipped so that pretrained models can be checked offline.
SAMPLE_DIR = Path(__file__).resolve().parent / 'samples' / 'cifar10'


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, N x 3 x H x W
    labels: torch.Tensor  # int64, N
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, limit: int | None, seed: int = 0) -> ImageSet:
        """The seeded random subset that ``load_split`` with the same ``limit`` and ``seed`` loads."""
        keep = torch.from_numpy(_subset(len(self), limit, seed))
        return ImageSet(self.images[keep], self.labels[keep], self.classes)


def _subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    """A seeded random subset of range(n) (all of it, in order, when limit is None or n)."""
    if limit is not None and not 0 < limit <= n:
        raise ValueError(f'a subset of {limit} images asked of a split of {n}: give a size from 1 to {n}, '
                         'or none for the whole split')
    if limit is None or limit == n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _decode(path: str) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert('RGB'))).permute(2, 0, 1)


def load_split(
        data_dir: str | os.PathLike,
        split: str,
        dataset: str = 'cifar10',
        limit: int | None = None,
        seed: int = 0,
        workers: int = 2,
        download: bool = False,
) -> ImageSet:
    """Load ``split`` ('train' or 'test'); with ``limit``, a seeded random subset of it.

    Only the chosen images are decoded, so small subsets load fast.
    """
    if split not in ('train', 'test'):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(data_dir)
    if not download and not root.is_dir():
        raise FileNotFoundError(f'data directory {root} not found; point --data-dir at an ImageFolder root '
                                '(train/, test/) or a torchvision CIFAR copy')
    folder = root / split
    if folder.is_dir():
        listing = torchvision.datasets.ImageFolder(str(folder))
        keep = _subset(len(listing.samples), limit, seed)
        paths = [listing.samples[i][0] for i in keep]
        with ThreadPoolExecutor(max(1, workers)) as pool:  # Pillow releases the GIL while decoding
            images = torch.stack(list(pool.map(_decode, paths, chunksize=256)))
        labels = torch.tensor([listing.samples[i][1] for i in keep], dtype=torch.int64)
        return ImageSet(images, labels, list(listing.classes))
    cls = {'cifar10': torchvision.datasets.CIFAR10, 'cifar100': torchvision.datasets.CIFAR100}.get(dataset)
    if cls is None:
        raise ValueError(f"dataset must be 'cifar10' or 'cifar100', got {dataset!r}")
    try:
        ds = cls(str(root), train=split == 'train', download=download)
    except RuntimeError as e:
        raise FileNotFoundError(
            f'{root} holds neither an ImageFolder split {split}/ nor a torchvision {dataset} copy '
            f'({e}); pass --download where a network exists, or point --data-dir at the data') from e
    keep = _subset(len(ds.targets), limit, seed)
    images = torch.from_numpy(ds.data[keep]).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(ds.targets, dtype=torch.int64)[torch.from_numpy(keep)]
    return ImageSet(images, labels, list(ds.classes))


def random_crop_flip(
        images: torch.Tensor,
        padding: int = 4,
        generator: torch.Generator | None = None,
        flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip, for a whole batch at once.

    ``flip`` (bool, one per image) says which images to mirror; by default each is mirrored
    with probability 1/2.
    """
    b, _, h, w = images.shape
    if flip is not None and flip.shape != (b,):
        raise ValueError(f'flip must hold one bool per image ({b}), got shape {tuple(flip.shape)}')
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    device = images.device
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
    if flip is None:
        flip = torch.rand(b, generator=generator) < 0.5
    flip = flip.to(device)
    rows = dy[:, None] + torch.arange(h, device=device)  # b x h
    cols = dx[:, None] + torch.arange(w, device=device)  # b x w
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # b x h x w x c
    return out.permute(0, 3, 1, 2)


def alternating_flips(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Which of n training images to mirror in ``epoch`` (from 0) under alternating flip.

    A seeded random half in the first epoch, then each image the other way round from the
    epoch before, so that every two epochs show every image both ways (Jordan 2024, the
    airbench CIFAR-10 speed records).
    """
    first = torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5
    return first ^ bool(epoch % 2)


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (or [0, 1] float) images, N x C x H x W -> normalized float32."""
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f'images must be uint8 or [0, 1] floats, got {images.dtype}')
    if images.ndim != 4 or images.shape[1] != len(mean) or len(std) != len(mean):
        raise ValueError(f'images of shape {tuple(images.shape)} do not fit the {len(mean)}-channel mean and '
                         f'std; give N x {len(mean)} x H x W')
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std
