"""The pretrained weights that ship inside the package, and their integrity check.

Each weight is ``NAME.TAG-SHA256.safetensors`` in this folder: the file name carries the
full sha256 of its bytes (torch.hub's convention, with the whole digest), so the pretrained
cfg that names the file also pins its content.  ``NAME.TAG.json`` beside it records how the
weight was made and what it measures (``provenance``); ``NAME.TAG.log.jsonl`` is its
training log, and ``TAG-depthD-curves.png`` draws the test accuracy in the logs of the
weights of one data set and depth (``curves_file``).  The files are the only record of what ships: ``packaged_weights()`` and the
pretrained cfgs are read from them, so releasing a weight edits no Python.  The Hugging
Face Hub copy of each weight lives at ``HF_ORGANIZATION/NAME.TAG``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

__all__ = ['HF_ORGANIZATION', 'WEIGHTS_DIR', 'WeightIntegrityError', 'curves_file', 'packaged_cfg',
           'packaged_weights', 'provenance', 'sha256_of', 'verify_file']

HF_ORGANIZATION = 'zerosnet-zoo'
WEIGHTS_DIR = Path(__file__).resolve().parent

_HASHED_NAME = re.compile(r'-([0-9a-f]{64})\.safetensors$')
_PACKAGED_FILE = re.compile(r'^(?P<name_tag>[^-]+\.[^-.]+)-(?P<sha256>[0-9a-f]{64})\.safetensors$')


class WeightIntegrityError(RuntimeError):
    """A weight file is missing, truncated or corrupted."""


def packaged_weights(folder: Path = WEIGHTS_DIR) -> dict[str, str]:
    """NAME.TAG -> sha256 of every weight shipped in ``folder`` (read from the file names).

    Raises WeightIntegrityError for a file not named NAME.TAG-SHA256.safetensors, or for two files
    of one NAME.TAG: which one is meant cannot be guessed.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob('*.safetensors')):
        match = _PACKAGED_FILE.match(path.name)
        if match is None:
            raise WeightIntegrityError(f'{path} is not named NAME.TAG-SHA256.safetensors; remove it or release '
                                       'it with train/release.py')
        found.setdefault(match['name_tag'], []).append(match['sha256'])
    for name_tag, hashes in found.items():
        if len(hashes) > 1:
            raise WeightIntegrityError(f'{folder} holds {len(hashes)} weights for {name_tag} ({", ".join(hashes)}); '
                                       f'keep the one whose sha256 {name_tag}.json records')
    return {name_tag: hashes[0] for name_tag, hashes in sorted(found.items())}


def packaged_cfg(name_tag: str, sha256: str) -> dict:
    """Pretrained-cfg fields of a packaged weight: its local file and its Hub copy."""
    return dict(file=str(WEIGHTS_DIR / f'{name_tag}-{sha256}.safetensors'),
                hf_hub_id=f'{HF_ORGANIZATION}/{name_tag}')


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike) -> None:
    """Check a weight file whose name carries a sha256; other names are the caller's own files."""
    path = Path(path)
    match = _HASHED_NAME.search(path.name)
    if match is None:
        return
    if not path.is_file():
        raise WeightIntegrityError(
            f'pretrained weight file {path} is missing; reinstall zerosnet-zoo '
            f'(pip install --force-reinstall zerosnet-zoo)')
    actual = sha256_of(path)
    if actual != match.group(1):
        raise WeightIntegrityError(
            f'pretrained weight file {path} is corrupted or truncated: its sha256 is {actual}, '
            f'the file name expects {match.group(1)}; reinstall zerosnet-zoo '
            f'(pip install --force-reinstall zerosnet-zoo)')


def provenance(name_tag: str) -> dict:
    """How a packaged weight was trained and what it measures (``NAME.TAG.json``)."""
    path = WEIGHTS_DIR / f'{name_tag}.json'
    if not path.is_file():
        shipped = sorted(p.stem for p in WEIGHTS_DIR.glob('*.json'))
        raise FileNotFoundError(f'no packaged weight {name_tag!r}; shipped weights: {shipped}')
    return json.loads(path.read_text())


def curves_file(name_tag: str, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """The picture of the training curves that shows the weight ``NAME_DEPTH.TAG`` beside its peers."""
    name, _, tag = name_tag.partition('.')
    return weights_dir / f"{tag}-depth{name.rpartition('_')[2]}-curves.png"
