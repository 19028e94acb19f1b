"""Mistakes a user types, run as a user runs them (a fresh process): each ends with a non-zero
status and one line on stderr that names the problem and the fix, never a traceback.

Checks of values that parsed print exactly that one line.  Syntax errors found by argparse
itself keep its usage text, so there the error is the last line and the rest is the usage.
Every case costs a Python start-up with torch, so the variants of one check are tested
in-process in test_cli.py and test_train_cifar.py.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
CIFAR = [sys.executable, str(REPO / 'train' / 'cifar.py')]
ZOO = [sys.executable, '-m', 'zerosnet_zoo']


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line of a failed run's stderr, after checking that it is the only one."""
    assert proc.returncode != 0, proc.stdout
    assert 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope='module')
def files(tmp_path_factory) -> Path:
    """A two-class ImageFolder, a zerosnet_opt_20 checkpoint and a file that is not safetensors."""
    root = tmp_path_factory.mktemp('bad_input')
    rng = np.random.default_rng(0)
    for split in ('train', 'test'):
        for c in ('a', 'b'):
            folder = root / 'data' / split / c
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f'{i}.png')
    torch.manual_seed(0)
    save_file(timm.create_model('zerosnet_opt_20', num_classes=2).state_dict(), str(root / 'z20.safetensors'))
    (root / 'notes.safetensors').write_text('these are not weights\n')
    return root


def cifar(*flags: str) -> list[str]:
    """A train/cifar.py command line (run in the ``files`` folder): ``flags`` over a short default run."""
    defaults = {'--model': 'zerosnet_opt_20', '--data-dir': 'data', '--output': 'run', '--epochs': '1'}
    return [*CIFAR, *[x for k, v in defaults.items() if k not in flags for x in (k, v)], *flags]


@pytest.mark.parametrize('flags, expected', [
    (['--model-kwargs', 'lam=abc'], ["rejects --model-kwargs lam=abc", "could not convert string to float: 'abc'"]),
    (['--data-dir', 'missing'], ['data directory missing not found', '--data-dir']),
    (['--epochs', '0'], ['--epochs must be positive, got 0']),
    (['--model', 'zerosnet_opt_21'], ["unknown model 'zerosnet_opt_21'", 'did you mean', 'zerosnet_opt_20']),
    (['--model-kwargs', 'lamda=-1.2'], ["takes no argument 'lamda'", 'drop it from --model-kwargs']),
    (['--zero-init-last', '--model-kwargs', 'zero_init_last=false'], ['--zero-init-last contradicts', 'keep one']),
    (['--init-from', 'notes.safetensors'], ['--init-from', 'not a safetensors file']),
    (['--model', 'zerosnet_opt_32', '--init-from', 'z20.safetensors'], ['does not fit', '72 tensors missing']),
])
def test_train_cifar_mistakes(files, flags, expected):
    line = error_line(run(cifar(*flags), files))
    assert line.startswith('cifar.py: error: ')
    for text in expected:
        assert text in line
    assert 'swa' not in line
    assert not (files / 'run').exists()  # nothing written for a run that never started


def test_train_cifar_syntax_error_keeps_argparse_usage(files):
    proc = run(cifar('--epochs', 'ten'), files)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith('usage: cifar.py ')
    assert lines[-1] == "cifar.py: error: argument --epochs: invalid int value: 'ten'"
    assert sum('error' in line for line in lines) == 1


@pytest.mark.parametrize('argv, expected', [
    (['info', 'nope_20'], ["unknown model 'nope_20'"]),
    (['info', 'zerosnet_opt_20.imagenet'], ["zerosnet_opt_20 has no tag 'imagenet'", 'cifar10, cifar100']),
    (['info', 'zerosnet_opt_20', '--model-kwargs', 'lam=abc'], ['rejects --model-kwargs lam=abc']),
    (['eval', '--model', 'zerosnet_opt_20', '--checkpoint', 'notes.safetensors'],
     ['notes.safetensors is not a safetensors file']),
    (['eval', '--model', 'zerosnet_opt_32', '--checkpoint', 'z20.safetensors'],
     ['does not fit zerosnet_opt_32', '72 tensors missing', 'pass the --model and --model-kwargs']),
    (['eval', '--checkpoint', 'z20.safetensors'], ['does not record its model', 'pass --model']),
    (['eval', '--model', 'zerosnet_opt_20.cifar10', '--pretrained', '--model-kwargs', 'lam=-1.2', '--limit', '10'],
     ['published zerosnet_opt_20 weights are trained with', 'drop lam=/coefficients=/alpha=']),
    (['eval', '--model', 'zerosnet_opt_20', '--checkpoint', 'z20.safetensors', '--data-dir', 'missing'],
     ['data directory missing not found']),
    (['eval', '--model', 'zerosnet_opt_20', '--model-kwargs', 'num_classes=10', '--checkpoint', 'z20.safetensors'],
     ['--model-kwargs num_classes: set by this tool itself']),
])
def test_zerosnet_zoo_mistakes(files, argv, expected):
    line = error_line(run([*ZOO, *argv], files))
    assert line.startswith(f'zerosnet-zoo {argv[0]}: error: ')
    for text in expected:
        assert text in line


def test_console_script(files):
    """The installed ``zerosnet-zoo`` command behaves as ``python -m zerosnet_zoo``."""
    script = shutil.which('zerosnet-zoo')
    if script is None:
        pytest.skip('the zerosnet-zoo console script is not installed')
    line = error_line(run([script, 'eval', '--model', 'zerosnet_opt_20', '--checkpoint', 'notes.safetensors'], files))
    assert 'is not a safetensors file' in line
