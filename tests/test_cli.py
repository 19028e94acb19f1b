"""The zerosnet-zoo command line: JSON contract, readable table, plots, errors."""

import json
import subprocess
import sys

import pytest

from zerosnet_zoo import cli


def run_json(capsys, *argv):
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('alphas, beta, stable', [
    ('1,1,1', 1, False), ('-0.75,2,-0.25', 2.5, False), ('2.25,-2,0.75', 0.5, True), ('1,0.3,-0.4', 1, True),
])
def test_roots_json(capsys, alphas, beta, stable):
    out = run_json(capsys, 'roots', f'--alphas={alphas}', f'--beta={beta}', '--json')
    assert set(out) == {'alphas', 'beta', 'roots', 'moduli', 'zero_stable', 'consistent'}
    assert out['zero_stable'] is stable
    assert out['beta'] == beta and len(out['roots']) == 3 and all(len(r) == 2 for r in out['roots'])
    assert out['moduli'] == pytest.approx([abs(complex(*r)) for r in out['roots']])


def test_roots_lambda_json(capsys):
    out = run_json(capsys, 'roots', '--lam=-1.8', '--json')
    assert out['alphas'] == pytest.approx([1 / 3, 5 / 9, 1 / 9]) and out['beta'] == pytest.approx(16 / 9)
    assert out['zero_stable'] is True and out['consistent'] is True
    out = run_json(capsys, 'roots', '--alphas=0.5,0.5', '--json')
    assert out['beta'] is None and out['consistent'] is None


def test_roots_table(capsys):
    assert cli.main(['roots', '--lam=0.3333333333333333']) == 0
    text = capsys.readouterr().out
    assert 'zero-stable: no' in text and 'multiplicity 3' in text and 'consistent:  yes' in text


def test_module_entry_point():
    out = subprocess.run([sys.executable, '-m', 'zerosnet_zoo', 'roots', '--lam=-1', '--json'],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)['zero_stable'] is True


def test_lambdas(capsys):
    out = run_json(capsys, 'lambdas', '--json')
    assert out['optimal_lambda'] == pytest.approx(-1.8)
    assert out['zero_stable_set'][0]['high'] == -1 and out['zero_stable_set'][0]['high_closed'] is True


def test_roots_errors(capsys):
    with pytest.raises(SystemExit):
        cli.main(['roots'])
    assert cli.main(['roots', '--lam=0']) == 2
    assert 'singular' in capsys.readouterr().err


def test_plots(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    roots_png, sweep_png = tmp_path / 'roots.png', tmp_path / 'sweep.png'
    assert cli.main(['roots', '--alphas=1,1,1', f'--plot={roots_png}']) == 0
    assert cli.main(['lambdas', f'--plot={sweep_png}']) == 0
    for png in (roots_png, sweep_png):
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['roots.png', 'sweep.png']  # no temporaries left


def test_plot_without_matplotlib(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    assert cli.main(['roots', '--alphas=1', f'--plot={tmp_path / "x.png"}']) == 2
    assert "pip install 'zerosnet-zoo[plot]'" in capsys.readouterr().err


def test_info(capsys):
    assert cli.main(['info', 'zerosnet_opt_20']) == 0
    text = capsys.readouterr().out
    assert '277,402 parameters' in text and 'zero-stable: yes' in text
