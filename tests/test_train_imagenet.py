"""train/imagenet.py: lr scaling, the paper's augmentation, AMP defaults, and a tiny two-process gloo run
on an ImageFolder cut from CIFAR-10 (JPEG q75)."""

import csv
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
import yaml
from PIL import Image
from timm.models import resume_checkpoint
from torchvision import transforms

import zerosnet_zoo  # noqa: F401
from train import imagenet
from real_data import DATA, needs_data

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_root(tmp_path):
    (tmp_path / 'train').mkdir()
    (tmp_path / 'val').mkdir()
    return tmp_path


def parse(data_root, *extra):
    return imagenet.parse_args(['--data-dir', str(data_root), '--output', 'unused', '--device', 'cpu', *extra])


@pytest.mark.parametrize('batch, world, lr_base, base_size, scale, expected', [
    (128, 8, 0.2, 1024, 'linear', 0.2),        # the paper's own run: unchanged
    (32, 8, 0.05, 256, 'linear', 0.05),
    (8, 2, 0.2, 1024, 'linear', 0.003125),     # 16 images: 0.2 * 16 / 1024
    (64, 4, 0.1, 512, 'linear', 0.05),         # half the paper's global batch, half its lr
    (256, 1, 0.2, 1024, 'linear', 0.05),
    (128, 16, 0.2, 1024, 'linear', 0.4),       # twice the GPUs, twice the lr
    (8, 2, 0.2, 1024, 'sqrt', 0.025),          # 0.2 * sqrt(16 / 1024)
])
def test_lr_scales_with_the_global_batch(batch, world, lr_base, base_size, scale, expected):
    assert imagenet.derive_lr(batch, world, lr_base, base_size, scale) == pytest.approx(expected, rel=1e-12)


def test_unknown_lr_scaling_is_refused():
    with pytest.raises(ValueError, match="use 'linear' or 'sqrt'"):
        imagenet.derive_lr(8, 2, 0.2, 1024, 'cubic')


@pytest.mark.parametrize('model, lr_base, per_gpu', [
    ('zerosnet18', 0.2, 128), ('zerosnet34', 0.1, 64), ('zerosnet50', 0.05, 32), ('zerosnet101', 0.05, 32),
    ('zerosnet18.in1k', 0.2, 128), ('zerosnet_tra34', 0.1, 64)])
def test_defaults_are_the_papers_lr_at_its_global_batch(data_root, model, lr_base, per_gpu):
    args = parse(data_root, '--model', model)
    assert (args.lr, args.lr_base, args.lr_base_size, args.batch_size) == (None, lr_base, per_gpu * 8, per_gpu)
    # every depth's recipe is the same lr per image, so 2 processes x 8 images get 0.1 * 16 / 512
    assert imagenet.derive_lr(8, 2, args.lr_base, args.lr_base_size) == pytest.approx(0.003125)
    assert parse(data_root, '--model', model, '--lr', '0.5').lr == 0.5


def test_a_depth_without_a_recipe_needs_batch_and_lr(data_root, capsys):
    with pytest.raises(SystemExit):
        parse(data_root, '--model', 'zerosnet_opt_20')
    assert 'ImageNet recipes for 18, 34 and 50 or more layers' in capsys.readouterr().err
    args = parse(data_root, '--model', 'zerosnet_opt_20', '-b', '64', '--lr-base', '0.1')
    assert (args.batch_size, args.lr_base, args.lr_base_size) == (64, 0.1, 512)


class Blank(torch.utils.data.Dataset):
    """Stands in for an ImageFolder: timm's create_loader only sets .transform on it."""
    transform = None

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return self.transform(Image.new('RGB', (300, 260))), 0


def test_loaders_use_the_papers_augmentation(data_root):
    args = parse(data_root, '--model', 'zerosnet18', '--workers', '0', '-b', '2')
    args.distributed = False
    model = timm.create_model('zerosnet18', num_classes=3)
    train, evaluation = imagenet.create_loaders(model, Blank(), Blank(), args, torch.device('cpu'))

    steps = train.dataset.transform.transforms
    crop, flip = steps[0], steps[1]
    assert type(crop).__name__ == 'RandomResizedCropAndInterpolation'
    assert crop.size == (224, 224) and crop.scale == (0.1, 1.0) and crop.ratio == (0.8, 1.25)
    assert crop.interpolation == transforms.InterpolationMode.BILINEAR
    assert isinstance(flip, transforms.RandomHorizontalFlip) and flip.p == 0.5
    # no colour jitter, vertical flip or any other random step: crop, flip, to-tensor, normalise
    assert not any(isinstance(t, transforms.ColorJitter) for t in steps)
    assert [type(t).__name__ for t in steps[2:]] == ['MaybeToTensor', 'Normalize']
    assert next(iter(train))[0].shape == (2, 3, 224, 224)

    resize, centre = evaluation.dataset.transform.transforms[:2]
    assert resize.size == 256 and resize.interpolation == transforms.InterpolationMode.BILINEAR
    assert centre.size == (224, 224)


def test_amp_defaults_to_on_for_cuda_only(data_root):
    assert imagenet.resolve_amp(None, 'cuda') is True
    assert imagenet.resolve_amp(None, 'cpu') is False
    assert imagenet.resolve_amp(False, 'cuda') is False
    assert imagenet.resolve_amp(True, 'cpu') is True
    assert parse(data_root, '--model', 'zerosnet18').amp is None
    assert parse(data_root, '--model', 'zerosnet18', '--no-amp').amp is False
    assert parse(data_root, '--model', 'zerosnet18', '--amp').amp is True


def test_amp_on_a_cpu_without_bfloat16_kernels_warns(data_root, monkeypatch, caplog):
    monkeypatch.setattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: False)
    with pytest.raises(RuntimeError, match='Found 0 images'):  # the empty data root, after the warning
        imagenet.main(['--data-dir', str(data_root), '--output', str(data_root / 'out'), '--device', 'cpu',
                       '--model', 'zerosnet18', '--amp'])
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
    assert warning.startswith('--amp: this CPU lacks') and 'Train without --amp' in warning


def test_optimizer_is_the_papers_heavy_ball_sgd(data_root):
    args = parse(data_root, '--model', 'zerosnet_tra18', '--lr', '0.1')
    model = timm.create_model('zerosnet_tra18', num_classes=3)
    optimizer = imagenet.create_optimizer(model, args)
    assert type(optimizer) is torch.optim.SGD
    assert all(g['momentum'] == 0.9 and g['nesterov'] is False and g['lr'] == 0.1 for g in optimizer.param_groups)
    decay = {id(p) for g in optimizer.param_groups if g['weight_decay'] == 4e-5 for p in g['params']}
    assert decay == {id(p) for p in model.parameters() if p.ndim > 1}  # no decay on biases, norms, lambdas


def test_reference_initialization_unless_zero_init_last(data_root, capsys):
    assert parse(data_root, '--model', 'zerosnet18').init == 'reference'
    assert parse(data_root, '--model', 'zerosnet18', '--zero-init-last').init == 'zero_init_last'
    with pytest.raises(SystemExit):
        parse(data_root, '--model', 'zerosnet18', '--model-kwargs', 'zero_init_last=true')
    assert 'pass --zero-init-last' in capsys.readouterr().err


@pytest.mark.parametrize('extra, message', [
    (['--model', 'zerosnet18', '-b', '0'], '-b/--batch-size 0: must be a positive integer'),
    (['--model', 'zerosnet18', '--lr', '-1'], '--lr -1.0: must be positive'),
    (['--model', 'zerosnet18', '--lr-base-size', '0'], '--lr-base-size 0: must be a positive integer'),
    (['--model', 'no_such_net'], '--model no_such_net: not a registered model'),
])
def test_bad_input_is_one_line(data_root, capsys, extra, message):
    with pytest.raises(SystemExit) as e:
        parse(data_root, *extra)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize('folders', [(), ('train',), ('val',)])
def test_a_data_dir_without_train_and_val_is_one_line(tmp_path, capsys, folders):
    for name in folders:
        (tmp_path / name).mkdir()
    with pytest.raises(SystemExit):
        imagenet.parse_args(['--data-dir', str(tmp_path), '--model', 'zerosnet18', '--output', 'x'])
    assert 'expected an ImageFolder root with train/ and val/' in capsys.readouterr().err


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


def tiny_run(image_folder: Path, out: Path) -> list:
    """train/imagenet.py's flags for a few seconds of zerosnet18 on the tiny folder, on the CPU."""
    return ['--data-dir', str(image_folder), '--model', 'zerosnet18', '--img-size', '32', '-b', '8',
            '--warmup-epochs', '1', '--workers', '0', '--device', 'cpu', '--output', str(out)]


@needs_data
def test_two_process_gloo_run_with_the_default_lr_and_resume(image_folder, tmp_path):
    out = tmp_path / 'run'
    common = [str(REPO / 'train' / 'imagenet.py'), *tiny_run(image_folder, out)]
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    # no --lr: the paper's 0.2 at 1024 images scales to 0.003125 for 2 x 8 images. (With --lr 0.2, the
    # per-GPU lr used unscaled, this same run reaches a non-finite loss in its third epoch.)
    run = subprocess.run([*torchrun, *common, '--epochs', '3'], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert 'lr 0.003125 (linear scaling of --lr-base 0.2 at 1024 images to the global batch 8 x 2 = 16)' in run.stderr
    recorded = yaml.safe_load((out / 'args.yaml').read_text())
    assert recorded['lr'] == 0.003125 and recorded['world_size'] == 2 and recorded['amp'] is False
    rows = list(csv.DictReader((out / 'summary.csv').open()))
    assert len(rows) == 3 and all(math.isfinite(float(r['train_loss'])) and math.isfinite(float(r['eval_loss']))
                                  for r in rows)

    # the checkpoint loads back with weights_only=True, and the final weights into timm
    model = timm.create_model('zerosnet18', num_classes=3)
    assert resume_checkpoint(model, str(out / 'last.pth.tar')) == 3
    final = timm.create_model('zerosnet18', num_classes=3, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors'), num_classes=3))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), final.state_dict().values()))

    # resume in one process for a fourth epoch; the schedule keeps the checkpoint's lr, not one process's
    result = subprocess.run([sys.executable, *common, '--epochs', '4', '--resume', str(out / 'last.pth.tar')],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'the resumed run keeps its base lr 0.003125' in result.stderr
    assert 'epoch 3:' in result.stderr + result.stdout
    assert len((out / 'summary.csv').read_text().splitlines()) == 5  # header + four epochs


@needs_data
def test_model_ema_is_the_output_and_both_accuracies_are_logged(image_folder, tmp_path):
    out = tmp_path / 'ema'
    result = subprocess.run(
        [sys.executable, str(REPO / 'train' / 'imagenet.py'), *tiny_run(image_folder, out), '--epochs', '2',
         '--model-ema', '--model-ema-decay', '0.5'],
        env={**os.environ, 'OMP_NUM_THREADS': '1'}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert yaml.safe_load((out / 'args.yaml').read_text())['init'] == 'reference'
    rows = list(csv.DictReader((out / 'summary.csv').open()))
    assert len(rows) == 2 and {'eval_top1', 'eval_ema_top1', 'eval_ema_top5'} <= rows[0].keys()
    # model.safetensors holds the average, not the last trained weights
    state = torch.load(out / 'last.pth.tar', map_location='cpu', weights_only=True)
    saved = timm.create_model('zerosnet18', num_classes=3, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors'), num_classes=3))
    assert all(torch.equal(saved.state_dict()[k], v) for k, v in state['state_dict_ema'].items())
    assert not all(torch.equal(saved.state_dict()[k], v) for k, v in state['state_dict'].items())


@needs_data
def test_a_non_finite_loss_on_one_rank_stops_the_run(image_folder, tmp_path):
    # Rank 1 alone gets a NaN loss from its second step on. It stops with the divergence status, and torchrun
    # ends rank 0, which would otherwise wait for rank 1 in the gradient all-reduce: the run fails, names the
    # cause, and writes no final weights.
    launcher = tmp_path / 'nan_on_rank_1.py'
    launcher.write_text(
        'import os, sys, types\n'
        f'sys.path.insert(0, {str(REPO)!r})\n'
        'from train import imagenet\n'
        'if os.environ["RANK"] == "1":\n'
        '    real, calls = imagenet.F.cross_entropy, []\n'
        '    def cross_entropy(*args, **kwargs):\n'
        '        calls.append(1)\n'
        '        return real(*args, **kwargs) * (float("nan") if len(calls) > 1 else 1.0)\n'
        '    imagenet.F = types.SimpleNamespace(cross_entropy=cross_entropy)\n'
        'sys.exit(imagenet.main(sys.argv[1:]))\n')
    run = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29518',
         str(launcher), *tiny_run(image_folder, tmp_path / 'run'), '--epochs', '2'],
        env={**os.environ, 'OMP_NUM_THREADS': '1'}, capture_output=True, text=True, timeout=240)
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-3000:]
    assert 'non-finite loss at epoch 0, step 1; the last checkpoint is kept; lower --lr' in log, log[-3000:]
    assert re.search(r'rank +: 1 .*\n +exitcode +: 3 ', log), log[-3000:]  # torchrun's summary names the cause
    assert not (tmp_path / 'run' / 'model.safetensors').exists()
