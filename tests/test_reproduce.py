"""train/reproduce.py: the sweeps' settings, the rank correlation, and skip-on-restart."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from zerosnet_zoo import stability

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data' / 'cifar10-jpeg'
spec = importlib.util.spec_from_file_location('reproduce', REPO / 'train' / 'reproduce.py')
reproduce = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reproduce)


def test_spearman():
    assert reproduce.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert reproduce.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: x ranks (0, 1.5, 1.5, 3), y ranks (0, 1, 2, 3)
    assert reproduce.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)


def test_settings_follow_the_paper():
    family, depth, rows = reproduce.settings(3)
    assert (family, depth, len(rows)) == ('zerosnet_opt', 56, 10)
    assert [stability.analyze(r['alphas']).zero_stable for r in rows] == [False] * 4 + [True] * 6
    assert rows[-1]['paper'] == 94.04 and rows[-1]['kwargs'][0].startswith('coefficients=0.333')
    family, depth, rows = reproduce.settings(1)
    assert (family, depth) == ('preresnet', 32) and {r['name']: r['paper'] for r in rows}['alpha2'] == 79.13
    assert [r['modulus'] if 'modulus' in r else stability.max_parasitic_modulus(r['alphas']) for r in rows] == \
        [2, 1.5, 0.5, 0.7, 0]
    with pytest.raises(ValueError):
        reproduce.settings(4)


@pytest.mark.skipif(not (DATA / 'train').is_dir(), reason='CIFAR-10 JPEG copy not found')
def test_tiny_sweep_and_restart(tmp_path):
    cmd = [sys.executable, str(REPO / 'train' / 'reproduce.py'), '--table', '2', '--data-dir', str(DATA),
           '--depth', '20', '--epochs', '1', '--seeds', '0', '--train-subset', '64', '--test-subset', '20',
           '--batch-size', '32', '--output', str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert first.stderr.count('train/cifar.py') == 4
    assert 'Spearman rank correlation' in first.stdout and 'k-1.5' in first.stdout
    summary = json.loads((tmp_path / 'table2' / 'summary.json').read_text())
    assert [r['paper'] for r in summary['rows']] == [81.43, 89.46, 92.95, 93.69]
    assert [r['modulus'] for r in summary['rows']] == pytest.approx([1.5, 1.5, 0.5, 0.5])
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert 'train/cifar.py' not in again.stderr  # finished runs are skipped
    assert again.stdout == first.stdout
