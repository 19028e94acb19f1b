"""The zerosnet-zoo command line: JSON contract, readable table, plots, errors."""

import json
import subprocess
import sys

import pytest
import timm
import torch

from zerosnet_zoo import building, cli, evaluate


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
    # no suffix: a png, as matplotlib's savefig writes it
    assert cli.main(['lambdas', f'--plot={tmp_path / "sweep"}']) == 0
    assert (tmp_path / 'sweep').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_plot_without_matplotlib(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    assert cli.main(['roots', '--alphas=1', f'--plot={tmp_path / "x.png"}']) == 2
    assert "pip install 'zerosnet-zoo[plot]'" in capsys.readouterr().err


def test_info(capsys):
    assert cli.main(['info', 'zerosnet_opt_20']) == 0
    text = capsys.readouterr().out
    assert '277,402 parameters' in text and 'zero-stable: yes' in text


@pytest.mark.parametrize('text, value', [
    ('10', 10), ('-3', -3), ('0.5', 0.5), ('-1.2', -1.2), ('1e-3', 1e-3), ('2.0', 2.0),
    ('true', True), ('False', False), ('none', None), ('None', None),
    ('1,1,1,1', (1, 1, 1, 1)), ('3.75,-4,1.25,-0.5', (3.75, -4.0, 1.25, -0.5)), ('1,2.5', (1.0, 2.5)),
    ('avg', 'avg'), ('a,b', 'a,b'), ('1,x', '1,x'), ('', ''),
])
def test_parse_model_kwargs_values(text, value):
    (parsed,) = building.parse_model_kwargs([f'key={text}']).values()
    assert parsed == value and type(parsed) is type(value)
    if isinstance(value, tuple):  # a tuple is all ints or all floats
        assert {type(v) for v in parsed} == {type(v) for v in value} and len({type(v) for v in parsed}) == 1


@pytest.mark.parametrize('items, message', [
    (['lam'], 'KEY=VALUE'), (['=1'], 'KEY=VALUE'), (['la m=1'], 'KEY=VALUE'), (['lam=1', 'lam=2'], 'lam twice'),
])
def test_parse_model_kwargs_rejects(items, message):
    with pytest.raises(ValueError, match=message):
        building.parse_model_kwargs(items)


def test_info_with_integer_model_kwargs(capsys):
    assert cli.main(['info', 'zerosnet_opt_20', '--model-kwargs', 'num_classes=7', 'lam=-2']) == 0
    text = capsys.readouterr().out
    assert 'output (2, 7)' in text and 'alphas 0.375, 0.5, 0.125' in text


@pytest.mark.parametrize('argv, message', [
    (['info', 'zerosnet_opt_20', '--model-kwargs', 'lam=0'], 'lambda = 0 is singular'),
    (['info', 'zerosnet_opt_20', '--model-kwargs', 'coefficients=1,2'], 'coefficients must hold 4 numbers'),
    (['info', 'zerosnet_opt_20', '--model-kwargs', 'lam=1', 'lam=2'], 'gives lam twice'),
    (['info', 'zerosnet_opt_20.in1k'], "no tag 'in1k'; its tags: cifar10, cifar100"),
])
def test_info_model_mistakes(capsys, argv, message):
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith('zerosnet-zoo info: error: ') and message in line


def test_create_model_lets_bugs_through(monkeypatch):
    """Only the user's mistakes become one-line errors; a failure inside the model stays as it is."""
    import timm

    def broken(name, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")

    monkeypatch.setattr(timm, 'create_model', broken)
    with pytest.raises(TypeError, match='unsupported operand'):
        building.create_model('zerosnet_opt_20', {'lam': -1.2})
    monkeypatch.setattr(timm, 'create_model', lambda name, **kwargs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        building.create_model('zerosnet_opt_20', {'lam': -1.2})


@pytest.mark.parametrize('argv', [
    ['eval', '--model', 'zerosnet_opt_20.cifar10', '--pretrained', '--batch-size', '0'],
    ['eval', '--model', 'zerosnet_opt_20.cifar10', '--pretrained', '--limit', '-3'],
    ['eval', '--model', 'zerosnet_opt_20.cifar10', '--pretrained', '--attack', 'pgd', '--steps', '0'],
    ['info', 'zerosnet_opt_20', '--batch-size', 'two'],
])
def test_counts_must_be_positive(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and 'expected a positive integer' in capsys.readouterr().err


@pytest.mark.parametrize('flags, message', [
    (['--eps', '8'], 'expected a number in [0, 1] pixel units (8/255 = 0.0314), got 8.0'),
    (['--eps', '-0.01'], 'expected a number in [0, 1] pixel units'),
    (['--step-size', '0'], 'expected a positive step in pixel units, got 0'),
    (['--step-size', '-0.01'], 'expected a number in [0, 1] pixel units'),
    (['--eps', 'small'], "expected a number in [0, 1] pixel units, got 'small'"),
])
def test_attack_sizes_are_pixel_units(flags, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(['eval', '--model', 'zerosnet_opt_20.cifar10', '--pretrained', '--attack', 'pgd', *flags])
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize('kwargs, message', [
    (dict(eps=8.0), 'need eps in \\[0, 1\\]'), (dict(eps=0.03, step_size=0.0), 'step size must be positive')])
def test_adversarial_refuses_sizes_outside_pixel_units(kwargs, message):
    model = timm.create_model('preresnet_20').eval()
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=message):
        evaluate.adversarial(model, x, y, (0.5,) * 3, (0.25,) * 3, 'pgd', **kwargs)


def test_eval_limit_beyond_the_split_is_refused(capsys):
    assert cli.main(['eval', '--model', 'zerosnet_opt_20.cifar10', '--pretrained', '--limit', '501']) == 2
    err = capsys.readouterr().err
    assert err.startswith('zerosnet-zoo eval: error: a subset of 501 images asked of a split of 500') and '1 to 500' in err


def test_pretrained_eval_reads_the_data_set_of_the_tag(monkeypatch):
    """A NAME.cifar100 weight is measured on CIFAR-100 unless --dataset says otherwise."""
    asked = []

    def load_split(root, split, dataset, *args, **kwargs):
        asked.append(dataset)
        raise SystemExit(0)  # what was asked for is all this test needs

    monkeypatch.setattr(cli, 'create_model', lambda name, kwargs, **_: timm.create_model(name))
    monkeypatch.setattr(cli, 'load_split', load_split)
    for argv in (['--model', 'zerosnet_opt_20.cifar100'], ['--model', 'zerosnet_opt_20.cifar10'],
                 ['--model', 'zerosnet_opt_20.cifar100', '--dataset', 'cifar10']):
        with pytest.raises(SystemExit):
            cli.main(['eval', '--pretrained', *argv])
    assert asked == ['cifar100', 'cifar10', 'cifar10']
