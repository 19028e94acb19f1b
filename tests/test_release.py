"""train/release.py: a finished run becomes a packaged weight with its provenance and log."""

import importlib.util
import json
from pathlib import Path

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
    assert (weights / 'preresnet_20.cifar10.log.jsonl').read_text() == (run / 'log.jsonl').read_text()
    record = json.loads((weights / 'preresnet_20.cifar10.json').read_text())
    assert record['sha256'] == sha and record['recipe']['epochs'] == 1 and record['hardware'] == 'test machine'
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
