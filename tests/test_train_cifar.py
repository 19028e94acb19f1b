"""train/cifar.py on a real CIFAR-10 (JPEG q75) subset: learning, the log contract,
kill-and-resume, stopping on a non-finite loss, and weight averaging (SWA); on synthetic
ImageFolders: the initialization and the CIFAR-100 statistics from training to loading."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from train import cifar
from zerosnet_zoo import cli, evaluate
from real_data import DATA, needs_data

REPO = Path(__file__).resolve().parents[1]


TINY = ['--data-dir', str(DATA), '--train-subset', '256', '--test-subset', '100', '--batch-size', '64', '--workers', '2']


def read_log(out):
    return [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]


def warning_lines(capsys) -> list[str]:
    """The lines of stderr printed since the last read that are warnings."""
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith('warning')]


@needs_data
def test_short_run_learns_and_log_contract(tmp_path):
    out = tmp_path / 'run'
    assert cifar.main(['--model', 'zerosnet_opt_20', '--data-dir', str(DATA), '--train-subset', '2000',
                       '--test-subset', '1000', '--epochs', '4', '--output', str(out)]) == 0
    log = read_log(out)
    assert [r['epoch'] for r in log] == [1, 2, 3, 4]
    for r in log:
        assert {'epoch', 'train_loss', 'train_acc', 'test_acc', 'lr', 'seconds'} <= set(r)
        assert 0 < r['train_seconds'] <= r['seconds']
        assert r['threads'] == torch.get_num_threads()
    assert [r['lr'] for r in log] == pytest.approx([0.1, 0.1, 0.01, 0.001])  # / 10 at 1/2 and 3/4
    assert log[-1]['train_loss'] < log[0]['train_loss']
    assert log[-1]['test_acc'] > 20.0  # chance is 10 %
    # the weights load into timm and reproduce the logged test accuracy
    assert _saved_accuracy(out, 'zerosnet_opt_20', 1000) == pytest.approx(log[-1]['test_acc'])
    assert not [p for p in out.iterdir() if p.name.startswith('.')]  # no temporary files left


@needs_data
def test_trainable_scheme_is_logged(tmp_path):
    out = tmp_path / 'tra'
    assert cifar.main(['--model', 'zerosnet_tra_20', *TINY, '--epochs', '1', '--output', str(out)]) == 0
    (record,) = read_log(out)
    assert len(record['lambdas']) == 7 and record['max_parasitic_modulus'] > 0
    assert record['max_parasitic_modulus'] == pytest.approx(
        max(cifar.stability.max_parasitic_modulus(cifar.stability.zerosnet_coefficients(lam).alphas)
            for lam in record['lambdas']))


def _strip_time(records):
    return [{k: v for k, v in r.items() if 'seconds' not in k} for r in records]


def _interrupt_after(monkeypatch, argv: list, epochs: int) -> None:
    """Run train/cifar.py in-process and stop it (KeyboardInterrupt) once ``epochs`` epochs are logged."""
    write_log = cifar.write_log

    def stop(path, records):  # after the epoch's checkpoint, which is written before its log
        write_log(path, records)
        if len(records) == epochs:
            raise KeyboardInterrupt

    monkeypatch.setattr(cifar, 'write_log', stop)
    with pytest.raises(KeyboardInterrupt):
        cifar.main(argv)
    monkeypatch.setattr(cifar, 'write_log', write_log)


def _assert_resume_is_bit_identical(tmp_path, monkeypatch, capsys, args: list, interrupt_after: int) -> None:
    """A run interrupted after ``interrupt_after`` epochs and resumed equals an uninterrupted one."""
    reference, interrupted = tmp_path / 'reference', tmp_path / 'interrupted'
    assert cifar.main([*args, '--output', str(reference)]) == 0
    _interrupt_after(monkeypatch, [*args, '--output', str(interrupted)], interrupt_after)
    capsys.readouterr()
    assert cifar.main([*args, '--output', str(interrupted), '--resume']) == 0
    epochs, model = args[args.index('--epochs') + 1], args[args.index('--model') + 1]
    printed = capsys.readouterr().err.splitlines()
    assert f'resuming {model} after epoch {interrupt_after} of {epochs}' in printed
    assert not [line for line in printed if line.startswith('warning')]  # same thread count: nothing to warn of
    resumed, uninterrupted = load_file(interrupted / 'model.safetensors'), load_file(reference / 'model.safetensors')
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    assert _strip_time(read_log(interrupted)) == _strip_time(read_log(reference))


def _saved_accuracy(out: Path, name: str, limit: int) -> float:
    """Test top-1 of the run's model.safetensors, loaded through timm, on ``limit`` seeded test images."""
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors')))
    test = cifar.load_split(DATA, 'test', limit=limit, seed=0)
    return cifar.accuracy(model, test.images, test.labels, model.pretrained_cfg['mean'], model.pretrained_cfg['std'])


@needs_data
def test_kill_and_resume_is_bit_identical(tmp_path):
    args = ['--model', 'zerosnet_opt_20', *TINY, '--epochs', '3']
    reference = tmp_path / 'reference'
    assert cifar.main([*args, '--output', str(reference)]) == 0

    killed = tmp_path / 'killed'
    threads = torch.get_num_threads()  # bit-identical needs the reference's thread count (sums split alike)
    command = [sys.executable, str(REPO / 'train' / 'cifar.py'), *args, '--output', str(killed), '--resume']

    def reached(epochs_done: int) -> bool:
        if not (killed / 'args.json').exists():  # written once the run has started
            return False
        return epochs_done == 0 or (killed / 'log.jsonl').exists() and len(read_log(killed)) >= epochs_done

    # killed before its first checkpoint (the next start begins afresh), then just after epochs 1 and 2
    for epochs_done in (0, 1, 2):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, 'OMP_NUM_THREADS': str(threads)})
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not reached(epochs_done):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL  # killed, not finished
        assert len(read_log(killed)) == epochs_done if epochs_done else not (killed / 'checkpoint.pt').exists()
    assert cifar.main([*args, '--output', str(killed), '--resume']) == 0

    resumed, uninterrupted = load_file(killed / 'model.safetensors'), load_file(reference / 'model.safetensors')
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert _strip_time(read_log(killed)) == _strip_time(read_log(reference))


@needs_data
def test_resume_at_another_thread_count_warns_and_is_logged(tmp_path, monkeypatch, capsys):
    args = ['--model', 'preresnet_20', *TINY, '--epochs', '2', '--output', str(tmp_path / 'run')]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _interrupt_after(monkeypatch, args, 1)
        torch.set_num_threads(2)
        capsys.readouterr()
        assert cifar.main([*args, '--resume']) == 0
    finally:
        torch.set_num_threads(threads)
    warning = warning_lines(capsys)
    assert len(warning) == 1 and 'epoch 1 ran with 1 CPU thread(s) and this process has 2' in warning[0]
    assert 'OMP_NUM_THREADS=1' in warning[0]
    assert [r['threads'] for r in read_log(tmp_path / 'run')] == [1, 2]


@needs_data
def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'run'
    args = ['--model', 'preresnet_20', *TINY, '--output', str(out), '--epochs', '2']
    _interrupt_after(monkeypatch, args, 1)
    checkpoint = (out / 'checkpoint.pt').read_bytes()
    monkeypatch.setattr(cifar.F, 'cross_entropy', lambda logits, y, **kwargs: logits.sum() * float('nan'))
    assert cifar.main([*args, '--resume']) == 3
    assert 'non-finite loss' in capsys.readouterr().err
    assert (out / 'checkpoint.pt').read_bytes() == checkpoint
    assert [r['epoch'] for r in read_log(out)] == [1]
    # from scratch, with nothing good yet: no weights are written
    fresh = tmp_path / 'fresh'
    assert cifar.main(['--model', 'preresnet_20', *TINY, '--output', str(fresh), '--epochs', '1']) == 3
    assert not (fresh / 'model.safetensors').exists()


@needs_data
def test_existing_run_needs_resume(tmp_path):
    out = tmp_path / 'run'
    assert cifar.main(['--model', 'preresnet_20', *TINY, '--epochs', '1', '--output', str(out)]) == 0
    with pytest.raises(SystemExit, match='--resume'):
        cifar.main(['--model', 'preresnet_20', *TINY, '--epochs', '1', '--output', str(out)])
    state = torch.load(out / 'checkpoint.pt', weights_only=True)
    assert state['epoch'] == 1 and load_file(out / 'model.safetensors')


SWA = ['--epochs', '3', '--lr', '0.05', '--swa-epochs', '2', '--swa-lr', '0.02']


@needs_data
def test_swa_saves_the_average_of_the_last_epochs(tmp_path, monkeypatch):
    iterates = []

    class Recording(cifar.AveragedModel):
        def update_parameters(self, model):
            iterates.append({k: v.detach().clone() for k, v in model.named_parameters()})
            super().update_parameters(model)

    monkeypatch.setattr(cifar, 'AveragedModel', Recording)
    out = tmp_path / 'swa'
    assert cifar.main(['--model', 'zerosnet_opt_20', *TINY, *SWA, '--output', str(out)]) == 0
    log = read_log(out)
    assert [r['lr'] for r in log] == pytest.approx([0.05, 0.02, 0.02])
    assert len(iterates) == 2  # one per averaged epoch
    saved = load_file(out / 'model.safetensors')
    for name in iterates[0]:
        torch.testing.assert_close(saved[name], (iterates[0][name] + iterates[1][name]) / 2)
    # the batch-norm statistics were measured for the average, not taken from the last iterate
    last = torch.load(out / 'checkpoint.pt', weights_only=True)['model']
    assert not any(torch.equal(saved[k], last[k]) for k in saved if k.endswith('running_var'))
    assert _saved_accuracy(out, 'zerosnet_opt_20', 100) == pytest.approx(log[-1]['swa_test_acc'])


@needs_data
def test_swa_resume_is_bit_identical(tmp_path, monkeypatch, capsys):
    # interrupted after the checkpoint holding one averaged epoch
    _assert_resume_is_bit_identical(tmp_path, monkeypatch, capsys, ['--model', 'preresnet_20', *TINY, *SWA], 2)


FAST = ['--recipe', 'fast', '--epochs', '2', '--lr', '0.2', '--ema-decay', '0.999']


@needs_data
def test_fast_recipe_records_its_values_and_outputs_the_average(tmp_path, capsys):
    out = tmp_path / 'fast'
    assert cifar.main(['--model', 'zerosnet_opt_20', *TINY, *FAST, '--output', str(out)]) == 0
    recorded = json.loads((out / 'args.json').read_text())
    expected = {**cifar.RECIPES['fast'], 'epochs': 2, 'lr': 0.2, 'ema_decay': 0.999, 'batch_size': 64}  # as overridden
    assert recorded['recipe'] == 'fast' and {k: recorded[k] for k in expected} == expected
    printed = capsys.readouterr().err.splitlines()
    assert 'recipe fast: ' + ', '.join(f'{k} {v}' for k, v in expected.items()) in printed
    log = read_log(out)
    # one cycle, stepped every step: the lr each epoch starts at is OneCycleLR's at that step
    steps = 256 // 64
    optimizer = torch.optim.SGD([torch.zeros(1)], lr=0.2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=2 * steps, pct_start=0.25,
                                                   cycle_momentum=False)
    expected_lr = []
    for _ in range(2 * steps):
        expected_lr.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        schedule.step()
    assert [r['lr'] for r in log] == pytest.approx(expected_lr[::steps])
    # the output is the moving average, whose accuracy is logged as ema_test_acc
    saved, state = load_file(out / 'model.safetensors'), torch.load(out / 'checkpoint.pt', weights_only=True)
    assert all(torch.equal(saved[k], state['ema'][f'module.{k}']) for k in saved)
    assert not torch.equal(saved['stem.conv.weight'], state['model']['stem.conv.weight'])
    assert _saved_accuracy(out, 'zerosnet_opt_20', 100) == pytest.approx(log[-1]['ema_test_acc'])


@needs_data
def test_fast_recipe_resume_is_bit_identical(tmp_path, monkeypatch, capsys):
    args = ['--model', 'preresnet_20', *TINY, *FAST, '--flip', 'alternating']  # which flip each epoch is resumed too
    _assert_resume_is_bit_identical(tmp_path, monkeypatch, capsys, args, 1)
    assert json.loads((tmp_path / 'interrupted' / 'args.json').read_text())['flip'] == 'alternating'


def test_alternating_flip_mirrors_each_image_the_other_way_each_epoch():
    """The training batches of two consecutive epochs, drawn with the same crops, are mirror images."""
    args = cifar.parse_args(['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y', '--flip', 'alternating'])
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    batches = [list(cifar.augmented_batches(images, 16, (0.5,) * 3, (0.25,) * 3, torch.contiguous_format,
                                            torch.Generator().manual_seed(0), cifar.epoch_flips(args, 40, epoch)))
               for epoch in (0, 1)]
    for (x0, idx0), (x1, idx1) in zip(*batches):
        assert torch.equal(idx0, idx1) and torch.equal(x1, x0.flip(-1))
    args.flip = 'random'
    assert cifar.epoch_flips(args, 40, 0) is None


def test_resume_refuses_another_recipe(tmp_path):
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'checkpoint.pt').write_bytes(b'')  # refused before the checkpoint is read
    (out / 'args.json').write_text(json.dumps({'model': 'preresnet_20', 'recipe': 'fast', 'lr': 0.4, 'seed': 0}))
    base = ['--model', 'preresnet_20', '--data-dir', 'x', '--output', str(out), '--resume']
    with pytest.raises(SystemExit, match=f'^cifar.py: error: {out} was started with --recipe fast, not paper; '):
        cifar.main(base)
    with pytest.raises(SystemExit, match='was started with --lr 0.4, not 0.2'):
        cifar.main([*base, '--recipe', 'fast', '--lr', '0.2'])
    (out / 'args.json').write_text(json.dumps({'model': 'preresnet_20', 'flip': 'alternating'}))
    with pytest.raises(SystemExit, match='was started with --flip alternating, not random'):
        cifar.main(base)
    (out / 'args.json').write_text(json.dumps({'model': 'preresnet_20', 'amp': False, 'init_from': 'z20'}))
    with pytest.raises(SystemExit, match='was started with --amp False, not True'):
        cifar.main([*base, '--init-from', 'z20', '--amp'])
    with pytest.raises(SystemExit, match='was started with --init-from z20, not None'):
        cifar.main(base)


def test_paper_recipe_is_the_default():
    args = cifar.parse_args(['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y'])
    assert (args.recipe, args.epochs, args.lr, args.momentum, args.weight_decay, args.batch_size, args.schedule) == \
        ('paper', 160, 0.1, 0.9, 1e-4, 128, 'step')
    assert (args.nesterov, args.label_smoothing, args.ema_decay, args.swa_epochs, args.flip) == \
        (False, 0.0, 0.0, 0, 'random')
    args = cifar.parse_args(['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y', '--recipe', 'fast',
                             '--no-nesterov', '--label-smoothing', '0'])
    assert (args.schedule, args.ema_decay, args.nesterov, args.label_smoothing) == ('onecycle', 0.0, False, 0.0)


@pytest.mark.parametrize('schedule', ['onecycle', 'step'])
def test_swa_holds_its_rate_after_the_schedule(schedule):
    """The averaged epochs run at --swa-lr; before them onecycle completes its own cycle, step is unchanged."""
    epochs, swa_epochs, steps = 8, 2, 3
    args = cifar.parse_args(['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y', '--recipe', 'fast',
                             '--schedule', schedule, '--epochs', str(epochs), '--swa-epochs', str(swa_epochs),
                             '--swa-lr', '0.05'])

    def rates(scheduler_args, total):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.lr)
        scheduler, seen = cifar.make_scheduler(optimizer, scheduler_args, steps), []
        for _ in range(total):
            seen.append(optimizer.param_groups[0]['lr'])
            optimizer.step()
            scheduler.step()
        return seen

    per_epoch = steps if schedule == 'onecycle' else 1
    averaged = swa_epochs * per_epoch
    with_swa = rates(args, epochs * per_epoch)
    assert with_swa[-averaged:] == [0.05] * averaged
    if schedule == 'onecycle':  # the whole cycle, peak and annealing, before the averaged epochs
        cycle = argparse.Namespace(**{**vars(args), 'epochs': epochs - swa_epochs, 'swa_epochs': 0})
        assert with_swa[:-averaged] == rates(cycle, (epochs - swa_epochs) * steps)
        assert max(with_swa) > 0.95 * args.lr and min(with_swa[:-averaged]) < 1e-3
    else:
        assert with_swa[:-averaged] == [0.4] * 4 + [pytest.approx(0.04)] * 2


@pytest.mark.parametrize('flags, message', [
    (['--label-smoothing', '1'], r'--label-smoothing must be in \[0, 1\)'),
    (['--ema-decay', '1.5'], r'--ema-decay must be in \[0, 1\)'),
    (['--recipe', 'fast', '--warmup-fraction', '0'], r'--warmup-fraction must be in \(0, 1\)'),
    (['--ema-decay', '0.99', '--swa-epochs', '2', '--swa-lr', '0.01'], '--ema-decay and --swa-epochs both average'),
    (['--epochs', '2', '--swa-epochs', '2', '--swa-lr', '0.01'], 'below --epochs'),
    (['--epochs', '2', '--swa-epochs', '1'], 'needs --swa-lr'),
    (['--swa-lr', '0.01'], 'give --swa-epochs too'),
    (['--lr', '0'], '--lr must be positive, got 0.0'),
    (['--epochs', '2', '--swa-epochs', '1', '--swa-lr', '-1'], '--swa-lr must be positive'),
    (['--momentum', '1'], r'--momentum must be in \[0, 1\)'),
    (['--recipe', 'fast', '--momentum', '0'], '--nesterov needs a positive --momentum'),
    (['--weight-decay=-1e-4'], '--weight-decay must be at least 0'),
    (['--epochs', '-1'], '--epochs must be positive, got -1'),
    (['--batch-size', '0'], '--batch-size must be positive, got 0'),
    (['--train-subset', '0'], '--train-subset must be positive'),
    (['--test-subset', '-5'], '--test-subset must be positive'),
    (['--model', 'preresnet_20.cifar100'], 'configured for cifar100 but --dataset is cifar10'),
    (['--model', 'preresnet_20.in1k'], "no tag 'in1k'"),
    (['--model-kwargs', 'zero_init_last=maybe'], 'zero_init_last must be true or false'),
])
def test_flags_are_checked(flags, message):
    with pytest.raises(SystemExit, match=f'^cifar.py: error: .*{message}'):
        cifar.parse_args(['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y', *flags])


def image_folder(root: Path, classes: int, train_per_class: int, test_per_class: int) -> Path:
    """A synthetic ImageFolder of random 32 x 32 PNG images (lossless, so every decode is the same)."""
    rng = np.random.default_rng(0)
    for split, n in (('train', train_per_class), ('test', test_per_class)):
        for c in range(classes):
            folder = root / split / f'class{c:03d}'
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f'{i}.png')
    return root


@pytest.mark.parametrize('flags, init', [
    ([], 'reference'),
    (['--zero-init-last'], 'zero_init_last'),
    (['--model-kwargs', 'zero_init_last=true'], 'zero_init_last'),
    (['--zero-init-last', '--model-kwargs', 'zero_init_last=true'], 'zero_init_last'),
    (['--model-kwargs', 'zero_init_last=false'], 'reference'),  # what train/reproduce.py passes
])
def test_initialization_is_chosen_and_recorded(tmp_path, monkeypatch, flags, init):
    built = []

    def spy(*args, **kwargs):
        model = create_model(*args, **kwargs)
        built.append([block.branch[-1].weight.detach().clone() for stage in model.stages for block in stage])
        return model

    create_model = cifar.create_model
    monkeypatch.setattr(cifar, 'create_model', spy)
    data, out = image_folder(tmp_path / 'data', 2, 4, 2), tmp_path / 'run'
    assert cifar.main(['--model', 'zerosnet_opt_20', '--data-dir', str(data), '--epochs', '2', '--batch-size', '8',
                       '--output', str(out), *flags]) == 0
    (last_convs,) = built
    assert all(w.count_nonzero() == 0 for w in last_convs) == (init == 'zero_init_last')
    assert json.loads((out / 'args.json').read_text())['init'] == init
    assert [r['init'] for r in read_log(out)] == [init, init]
    with safe_open(str(out / 'model.safetensors'), 'pt') as f:
        assert f.metadata()['init'] == init


def test_cifar100_statistics_from_training_to_loading(tmp_path, monkeypatch, capsys):
    """A --dataset cifar100 run normalizes with the CIFAR-100 statistics throughout, and its weights
    load back through the .cifar100 tag (and through `zerosnet-zoo eval`) with the same ones."""
    cfg = timm.models.get_pretrained_cfg('zerosnet_opt_20.cifar100')
    stats = (tuple(cfg.mean), tuple(cfg.std))
    assert stats != (tuple(timm.models.get_pretrained_cfg('zerosnet_opt_20.cifar10').mean),
                     tuple(timm.models.get_pretrained_cfg('zerosnet_opt_20.cifar10').std))
    used, evaluated = [], []
    normalize, accuracy = cifar.normalize, cifar.accuracy

    def training_normalize(x, mean, std):
        used.append((tuple(mean), tuple(std)))
        return normalize(x, mean, std)

    def logged_accuracy(model, images, labels, mean, std, **kwargs):
        with torch.no_grad():
            evaluated.append(((tuple(mean), tuple(std)), model.eval()(normalize(images, mean, std))))
        return accuracy(model, images, labels, mean, std, **kwargs)

    monkeypatch.setattr(cifar, 'normalize', training_normalize)
    monkeypatch.setattr(cifar, 'accuracy', logged_accuracy)
    data, out = image_folder(tmp_path / 'c100', 100, 2, 1), tmp_path / 'run'
    assert cifar.main(['--model', 'zerosnet_opt_20', '--dataset', 'cifar100', '--data-dir', str(data),
                       '--epochs', '1', '--batch-size', '100', '--output', str(out)]) == 0
    assert used and set(used) == {stats}
    ((eval_stats, trained_logits),) = evaluated
    assert eval_stats == stats

    recipe = json.loads((out / 'args.json').read_text())
    assert recipe['dataset'] == 'cifar100' and (tuple(recipe['mean']), tuple(recipe['std'])) == stats
    with safe_open(str(out / 'model.safetensors'), 'pt') as f:
        assert f.metadata()['dataset'] == 'cifar100'
    model = timm.create_model('zerosnet_opt_20.cifar100', pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors'))).eval()
    assert model.num_classes == 100
    loaded = (tuple(model.pretrained_cfg['mean']), tuple(model.pretrained_cfg['std']))
    assert loaded == stats
    test = cifar.load_split(data, 'test')
    with torch.no_grad():
        assert torch.equal(model(normalize(test.images, *loaded)), trained_logits)
    (record,) = read_log(out)
    assert accuracy(model, test.images, test.labels, *loaded) == record['test_acc']

    seen = []
    topk_accuracy = evaluate.topk_accuracy
    monkeypatch.setattr(evaluate, 'topk_accuracy', lambda model, images, labels, mean, std, **kwargs: (
        seen.append((tuple(mean), tuple(std))) or topk_accuracy(model, images, labels, mean, std, **kwargs)))
    capsys.readouterr()
    assert cli.main(['eval', '--checkpoint', str(out), '--data-dir', str(data), '--json']) == 0
    assert seen == [stats]
    result = json.loads(capsys.readouterr().out)
    assert result['model'] == 'zerosnet_opt_20.cifar100' and result['clean'] == record['test_acc']


@pytest.mark.parametrize('run', sorted(p.name for p in (REPO / 'results' / 'recipes').iterdir() if p.is_dir()))
def test_recipe_notes_quote_their_records(run):
    """docs/recipes.md's numbers are the last top-1 of the committed logs (a full-data run's row is
    named by its model), and every record is complete and names no path of the training machine."""
    folder = REPO / 'results' / 'recipes' / run
    log = [json.loads(line) for line in (folder / 'log.jsonl').read_text().splitlines()]
    recipe = json.loads((folder / 'args.json').read_text())
    assert len(log) == recipe['epochs'] and [r['epoch'] for r in log] == list(range(1, len(log) + 1))
    assert recipe['data_dir'] == 'DATA' and recipe['output'] == f'OUT/{run}'
    notes = (REPO / 'docs' / 'recipes.md').read_text()
    last = f"{log[-1]['test_acc']:.2f}"
    name = recipe['model'] if run == f"full-{recipe['model']}" else run
    row = next(line for line in notes.splitlines() if line.startswith(f'| `{name}` '))
    assert f'| {last} |' in row, (run, last, row)
    if 'swa_test_acc' in log[-1]:  # a run that averaged its weights also quotes the average
        assert f"| {log[-1]['swa_test_acc']:.2f} |" in row, (run, row)


@pytest.mark.parametrize('native', [False, True])
def test_amp_warns_on_a_cpu_without_bfloat16_kernels(tmp_path, monkeypatch, capsys, native):
    """Without oneDNN's bfloat16 kernels (an AVX2-only x86 CPU), --amp is many times slower than float32:
    the run goes on, but says so once, with the fix."""
    monkeypatch.setattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: native)
    data = image_folder(tmp_path / 'data', 2, 4, 2)
    run = ['--model', 'preresnet_20', '--data-dir', str(data), '--epochs', '1', '--batch-size', '8']
    assert cifar.main([*run, '--amp', '--output', str(tmp_path / 'amp')]) == 0
    warnings = warning_lines(capsys)
    if native:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith('warning: --amp: this CPU lacks')
        assert 'Train without --amp' in warnings[0] and 'benchmarks/precision.py' in warnings[0]
    assert cifar.main([*run, '--output', str(tmp_path / 'float32')]) == 0  # no --amp, no warning
    assert not warning_lines(capsys)


def test_a_subset_larger_than_its_split_is_refused(tmp_path):
    """--train-subset 9 of 8 images would train on the 8 while args.json recorded 9."""
    data, out = image_folder(tmp_path / 'data', 2, 4, 2), tmp_path / 'run'
    with pytest.raises(SystemExit, match='a subset of 9 images asked of a split of 8: give a size from 1 to 8'):
        cifar.main(['--model', 'preresnet_20', '--data-dir', str(data), '--train-subset', '9', '--output', str(out)])
    assert not out.exists()
    assert cifar.main(['--model', 'preresnet_20', '--data-dir', str(data), '--train-subset', '8', '--test-subset', '4',
                       '--epochs', '1', '--batch-size', '8', '--output', str(out)]) == 0  # the whole split, as asked
