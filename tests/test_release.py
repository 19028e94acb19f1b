"""train/release.py: a finished run becomes a packaged weight with its provenance and log."""

import importlib.util
import json
from pathlib import Path

import pytest

from safetensors.torch import load_file

from zerosnet_zoo.data import SAMPLE_DIR
from zerosnet_zoo.models.zerosnet import PACKAGED_WEIGHTS
from zerosnet_zoo.weights import WEIGHTS_DIR, sha256_of

REPO = Path(__file__).resolve().parents[1]


def load_script(name):
    spec = importlib.util.spec_from_file_location(f'train_{name}', REPO / 'train' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_release_packages_a_finished_run(tmp_path, capsys):
    data = tmp_path / 'data'  # the shipped test images stand in for both splits
    data.mkdir()
    for split in ('train', 'test'):
        (data / split).symlink_to(SAMPLE_DIR / 'test', target_is_directory=True)
    run = tmp_path / 'run'
    cifar, release = load_script('cifar'), load_script('release')
    assert cifar.main(['--model', 'preresnet_20', '--data-dir', str(data), '--epochs', '1', '--batch-size', '100',
                       '--schedule', 'cosine', '--output', str(run)]) == 0
    weights = tmp_path / 'weights'
    assert release.main(['--run', str(run), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '20', '--weights-dir', str(weights)]) == 0
    sha = sha256_of(run / 'model.safetensors')
    assert f"'preresnet_20.cifar10': '{sha}'," in capsys.readouterr().out
    packaged = weights / f'preresnet_20.cifar10-{sha}.safetensors'
    assert load_file(str(packaged)).keys() == load_file(str(run / 'model.safetensors')).keys()
    log = [json.loads(line) for line in (run / 'log.jsonl').read_text().splitlines()]
    shipped_log = (weights / 'preresnet_20.cifar10.log.jsonl').read_text().splitlines()
    assert [json.loads(line) for line in shipped_log] == [{**line, 'stage': 1} for line in log]
    record = json.loads((weights / 'preresnet_20.cifar10.json').read_text())
    assert record['sha256'] == sha and record['epochs'] == 1 and record['hardware'] == 'test machine'
    assert [s['epochs'] for s in record['stages']] == [1] and record['stages'][0]['recipe']['lr'] == 0.1
    assert record['test']['images'] == 500 and 0 <= record['test']['top1'] <= record['test']['top5'] <= 100
    assert len(record['noise']) == 6 and set(record['attacks']) == {'fgsm', 'pgd'}
    assert record['attacks']['pgd']['images'] == 20 and record['paper']['top1'] == 91.25
    assert record['command'].startswith('python train/cifar.py --model preresnet_20 ')
    assert '--epochs 1 ' in record['command'] and '--schedule cosine' in record['command']
    card = tmp_path / 'MODEL_CARD.md'
    card.write_text(f'# card\n{release.BEGIN}\nold\n{release.END}\n## Limitations\n')
    release.update_model_card(card, weights)
    text = card.read_text()
    assert 'old' not in text and text.endswith(f'{release.END}\n## Limitations\n')
    assert f"| `preresnet_20.cifar10` | {record['test']['top1']:.2f} | {record['test']['top5']:.2f} | 91.25 |" in text
    assert f"| gaussian0.04 | {record['noise']['gaussian0.04']:.2f} | 74.49 |" in text


def test_model_card_matches_the_shipped_records():
    release = load_script('release')
    records = [json.loads(p.read_text()) for p in sorted(WEIGHTS_DIR.glob('*.json'))]
    assert sorted(r['name'] for r in records) == sorted(PACKAGED_WEIGHTS)
    assert release.render_shipped_weights(records) in (REPO / 'MODEL_CARD.md').read_text()


def test_release_of_a_warm_restart_records_every_stage(tmp_path, capsys):
    data = tmp_path / 'data'
    data.mkdir()
    for split in ('train', 'test'):
        (data / split).symlink_to(SAMPLE_DIR / 'test', target_is_directory=True)
    cifar, release = load_script('cifar'), load_script('release')
    first, second = tmp_path / 'first', tmp_path / 'second'
    common = ['--model', 'preresnet_20', '--data-dir', str(data), '--batch-size', '250', '--schedule', 'cosine']
    assert cifar.main([*common, '--epochs', '1', '--output', str(first)]) == 0
    assert cifar.main([*common, '--epochs', '2', '--lr', '0.05', '--seed', '1',
                       '--init-from', str(first / 'model.safetensors'), '--output', str(second)]) == 0
    weights = tmp_path / 'weights'
    assert release.main(['--run', str(second), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '10', '--weights-dir', str(weights)]) == 0
    record = json.loads((weights / 'preresnet_20.cifar10.json').read_text())
    assert record['epochs'] == 3 and [s['epochs'] for s in record['stages']] == [1, 2]
    assert [s['recipe']['lr'] for s in record['stages']] == [0.1, 0.05]
    first_command, second_command = record['command'].split(' && ')
    assert f'--output {first}' in first_command and '--init-from' not in first_command
    assert f"--init-from {first / 'model.safetensors'} --output {second}" in second_command
    logs = [json.loads(line) for line in (weights / 'preresnet_20.cifar10.log.jsonl').read_text().splitlines()]
    assert [(line['stage'], line['epoch']) for line in logs] == [(1, 1), (2, 1), (2, 2)]
    assert record['final_epoch'] == logs[-1]
    summary = release.training_summary(record)
    assert summary.startswith('3 epochs in all; stage 1, from random initialization')
    assert 'stage 2, a warm restart from the weights of stage 1: SGD (momentum 0.9), lr 0.05' in summary

    # A third stage, with weight averaging, continued from the released file takes the first two over
    # from its record.
    released = next(weights.glob('preresnet_20.cifar10-*.safetensors'))
    third, weights3 = tmp_path / 'third', tmp_path / 'weights3'
    assert cifar.main([*common, '--epochs', '2', '--lr', '0.02', '--seed', '2', '--swa-epochs', '1',
                       '--swa-lr', '0.01', '--init-from', str(released), '--output', str(third)]) == 0
    assert release.main(['--run', str(third), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '10', '--weights-dir', str(weights3)]) == 0
    record3 = json.loads((weights3 / 'preresnet_20.cifar10.json').read_text())
    assert record3['stages'][:2] == record['stages'] and record3['stages'][2]['recipe']['lr'] == 0.02
    assert record3['command'].startswith(record['command'] + ' && ') \
        and record3['command'].endswith(f"--init-from {second}/model.safetensors --output {third}")
    # the command given for the third stage parses back into its recipe
    command = record3['command'].split(' && ')[-1].split()
    assert command[:2] == ['python', 'train/cifar.py']
    parsed, recipe = vars(cifar.parse_args(command[2:])), record3['stages'][2]['recipe']
    for key in ('epochs', 'batch_size', 'lr', 'momentum', 'weight_decay', 'schedule', 'seed', 'swa_epochs', 'swa_lr'):
        assert parsed[key] == recipe[key], key
    assert 'the last 1 epochs at lr 0.01 with their weights averaged' in release.training_summary(record3)
    logs3 = [json.loads(line) for line in (weights3 / 'preresnet_20.cifar10.log.jsonl').read_text().splitlines()]
    assert logs3[:3] == logs and [(line['stage'], line['epoch']) for line in logs3[3:]] == [(3, 1), (3, 2)]
    with pytest.raises(SystemExit, match='neither in a train/cifar.py run'):
        release.released_stages(first / 'model.safetensors')


def test_init_from_must_fit_the_model(tmp_path):
    cifar = load_script('cifar')
    data = tmp_path / 'data'
    data.mkdir()
    for split in ('train', 'test'):
        (data / split).symlink_to(SAMPLE_DIR / 'test', target_is_directory=True)
    common = ['--data-dir', str(data), '--epochs', '1', '--train-subset', '50', '--test-subset', '50']
    with pytest.raises(SystemExit, match='no such file'):
        cifar.main(['--model', 'preresnet_20', *common, '--init-from', str(tmp_path / 'missing.safetensors'),
                    '--output', str(tmp_path / 'a')])
    assert cifar.main(['--model', 'preresnet_20', *common, '--output', str(tmp_path / 'b')]) == 0
    with pytest.raises(SystemExit, match='does not fit'):
        cifar.main(['--model', 'zerosnet_opt_20', *common, '--init-from', str(tmp_path / 'b' / 'model.safetensors'),
                    '--output', str(tmp_path / 'c')])
