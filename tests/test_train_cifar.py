"""train/cifar.py on a real CIFAR-10 (JPEG q75) subset: learning, the log contract,
kill-and-resume, stopping on a non-finite loss, and weight averaging (SWA)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data' / 'cifar10-jpeg'
pytestmark = pytest.mark.skipif(not (DATA / 'train').is_dir(), reason=f'CIFAR-10 JPEG copy not found at {DATA}')


def load_script():
    spec = importlib.util.spec_from_file_location('train_cifar', REPO / 'train' / 'cifar.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cifar = load_script()
TINY = ['--data-dir', str(DATA), '--train-subset', '256', '--test-subset', '100', '--batch-size', '64', '--workers', '2']


def read_log(out):
    return [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]


def test_short_run_learns_and_log_contract(tmp_path):
    out = tmp_path / 'run'
    assert cifar.main(['--model', 'zerosnet_opt_20', '--data-dir', str(DATA), '--train-subset', '2000',
                       '--test-subset', '1000', '--epochs', '4', '--output', str(out)]) == 0
    log = read_log(out)
    assert [r['epoch'] for r in log] == [1, 2, 3, 4]
    for r in log:
        assert {'epoch', 'train_loss', 'train_acc', 'test_acc', 'lr', 'seconds'} <= set(r)
        assert 0 < r['train_seconds'] <= r['seconds']
    assert [r['lr'] for r in log] == pytest.approx([0.1, 0.1, 0.01, 0.001])  # / 10 at 1/2 and 3/4
    assert log[-1]['train_loss'] < log[0]['train_loss']
    assert log[-1]['test_acc'] > 20.0  # chance is 10 %
    # the weights load into timm and reproduce the logged test accuracy
    model = timm.create_model('zerosnet_opt_20', pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors')))
    test = cifar.load_split(DATA, 'test', limit=1000, seed=0)
    acc = cifar.accuracy(model, test.images, test.labels, model.pretrained_cfg['mean'], model.pretrained_cfg['std'])
    assert acc == pytest.approx(log[-1]['test_acc'])
    assert not [p for p in out.iterdir() if p.name.startswith('.')]  # no temporary files left


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


def test_kill_and_resume_is_bit_identical(tmp_path):
    args = ['--model', 'zerosnet_opt_20', *TINY, '--epochs', '3']
    reference = tmp_path / 'reference'
    assert cifar.main([*args, '--output', str(reference)]) == 0

    killed = tmp_path / 'killed'
    command = [sys.executable, str(REPO / 'train' / 'cifar.py'), *args, '--output', str(killed)]
    for wait_for_records in (0, 1, 2):  # killed before any checkpoint, and in later epochs
        proc = subprocess.Popen(command + (['--resume'] if killed.exists() else []),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            log = killed / 'log.jsonl'
            if log.exists() and len(log.read_text().splitlines()) >= wait_for_records:
                time.sleep(0.3 if wait_for_records else 1.0)
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert cifar.main([*args, '--output', str(killed), '--resume']) == 0

    resumed, uninterrupted = load_file(killed / 'model.safetensors'), load_file(reference / 'model.safetensors')
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert _strip_time(read_log(killed)) == _strip_time(read_log(reference))


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'run'
    args = ['--model', 'preresnet_20', *TINY, '--output', str(out)]
    assert cifar.main([*args, '--epochs', '1']) == 0
    checkpoint = (out / 'checkpoint.pt').read_bytes()
    monkeypatch.setattr(cifar.F, 'cross_entropy', lambda logits, y: logits.sum() * float('nan'))
    assert cifar.main([*args, '--epochs', '2', '--resume']) == 3
    assert 'non-finite loss' in capsys.readouterr().err
    assert (out / 'checkpoint.pt').read_bytes() == checkpoint
    assert [r['epoch'] for r in read_log(out)] == [1]
    # from scratch, with nothing good yet: no weights are written
    fresh = tmp_path / 'fresh'
    assert cifar.main(['--model', 'preresnet_20', *TINY, '--output', str(fresh), '--epochs', '1']) == 3
    assert not (fresh / 'model.safetensors').exists()


def test_existing_run_needs_resume(tmp_path):
    out = tmp_path / 'run'
    assert cifar.main(['--model', 'preresnet_20', *TINY, '--epochs', '1', '--output', str(out)]) == 0
    with pytest.raises(SystemExit, match='--resume'):
        cifar.main(['--model', 'preresnet_20', *TINY, '--epochs', '1', '--output', str(out)])
    state = torch.load(out / 'checkpoint.pt', weights_only=True)
    assert state['epoch'] == 1 and load_file(out / 'model.safetensors')


SWA = ['--epochs', '3', '--lr', '0.05', '--swa-epochs', '2', '--swa-lr', '0.02']


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
    model = timm.create_model('zerosnet_opt_20', pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(out / 'model.safetensors')))
    test = cifar.load_split(DATA, 'test', limit=100, seed=0)
    acc = cifar.accuracy(model, test.images, test.labels, model.pretrained_cfg['mean'], model.pretrained_cfg['std'])
    assert acc == pytest.approx(log[-1]['swa_test_acc'])


def test_swa_resume_is_bit_identical(tmp_path, monkeypatch):
    args = ['--model', 'preresnet_20', *TINY, *SWA]
    reference, interrupted = tmp_path / 'reference', tmp_path / 'interrupted'
    assert cifar.main([*args, '--output', str(reference)]) == 0

    write_log = cifar.write_log

    def stop_after_two_epochs(path, records):  # after the checkpoint holding one averaged epoch
        write_log(path, records)
        if len(records) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cifar, 'write_log', stop_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        cifar.main([*args, '--output', str(interrupted)])
    monkeypatch.setattr(cifar, 'write_log', write_log)
    assert cifar.main([*args, '--output', str(interrupted), '--resume']) == 0
    resumed, uninterrupted = load_file(interrupted / 'model.safetensors'), load_file(reference / 'model.safetensors')
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    assert _strip_time(read_log(interrupted)) == _strip_time(read_log(reference))


@pytest.mark.parametrize('flags, message', [
    (['--epochs', '2', '--swa-epochs', '2', '--swa-lr', '0.01'], 'below --epochs'),
    (['--epochs', '2', '--swa-epochs', '1'], 'needs --swa-lr'),
])
def test_swa_flags_are_checked(flags, message, capsys):
    with pytest.raises(SystemExit):
        cifar.parse_args(['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y', *flags])
    assert message in capsys.readouterr().err
