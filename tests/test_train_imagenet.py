"""train/imagenet.py: a tiny two-process gloo run on an ImageFolder cut from CIFAR-10 (JPEG q75)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from timm.models import resume_checkpoint

import zerosnet_zoo  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data' / 'cifar10-jpeg'
pytestmark = pytest.mark.skipif(not (DATA / 'train').is_dir(), reason=f'CIFAR-10 JPEG copy not found at {DATA}')


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """train/ and val/ with three classes, 16 and 8 images each (val/ named as on ImageNet)."""
    root = tmp_path_factory.mktemp('tiny-imagenet')
    for split, source, count in (('train', 'train', 16), ('val', 'test', 8)):
        for cls in ('airplane', 'cat', 'ship'):
            (root / split / cls).mkdir(parents=True)
            for f in sorted((DATA / source / cls).iterdir())[:count]:
                shutil.copy(f, root / split / cls / f.name)
    return root


def test_two_process_gloo_run_and_resume(image_folder, tmp_path):
    out = tmp_path / 'run'
    common = [str(REPO / 'train' / 'imagenet.py'), '--data-dir', str(image_folder), '--model', 'zerosnet18',
              '--img-size', '32', '-b', '8', '--lr', '0.02', '--warmup-epochs', '1', '--workers', '0', '--device', 'cpu',
              '--output', str(out)]
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    subprocess.run([*torchrun, *common, '--epochs', '1'], check=True, env=env, capture_output=True, timeout=300)
    assert (out / 'last.pth.tar').exists() and (out / 'summary.csv').exists()

    # the checkpoint loads back with weights_only=True, and the final weights into timm
    model = timm.create_model('zerosnet18', num_classes=3)
    assert resume_checkpoint(model, str(out / 'last.pth.tar')) == 1
    final = timm.create_model('zerosnet18', num_classes=3, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors'), num_classes=3))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), final.state_dict().values()))

    # resume in one process for a second epoch
    result = subprocess.run([sys.executable, *common, '--epochs', '2', '--resume', str(out / 'last.pth.tar')],
                            check=True, env=env, capture_output=True, text=True, timeout=300)
    assert 'epoch 1:' in result.stderr + result.stdout
    assert len((out / 'summary.csv').read_text().splitlines()) == 3  # header + two epochs
