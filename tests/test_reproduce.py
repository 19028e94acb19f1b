"""train/reproduce.py: the sweeps' settings, the rank correlation, and skip-on-restart."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import timm
from safetensors.torch import save_file

from train import cifar, reproduce
from zerosnet_zoo import building, cli, paper, stability
from zerosnet_zoo.data import SAMPLE_DIR
from real_data import DATA, needs_data

REPO = Path(__file__).resolve().parents[1]


def test_spearman():
    assert reproduce.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert reproduce.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties get average ranks: x ranks (0, 1.5, 1.5, 3), y ranks (0, 1, 2, 3)
    assert reproduce.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)


def test_settings_follow_the_paper():
    depth, rows = reproduce.settings(3)
    assert (depth, len(rows), {r['model'] for r in rows}) == (56, 10, {'zerosnet_opt_56'})
    assert [stability.analyze(r['alphas']).zero_stable for r in rows] == [False] * 4 + [True] * 6
    assert rows[-1]['paper'] == 94.04 and rows[-1]['kwargs'][0].startswith('coefficients=0.333')
    depth, rows = reproduce.settings(1)
    assert (depth, rows[0]['model']) == (32, 'preresnet_32') and {r['name']: r['paper'] for r in rows}['alpha2'] == 79.13
    assert [stability.max_parasitic_modulus(r['alphas']) for r in rows] == [2, 1.5, 0.5, 0.7, 0]
    depth, rows = reproduce.settings(4)
    assert depth == 56 and [r['model'] for r in rows] == ['preresnet_56', 'lmresnet_56', 'zerosnet_opt_56',
                                                          'zerosnet_tra_56']
    assert [r['alphas'] is None for r in rows] == [False, True, False, True]  # LM-ResNet and Tra learn theirs
    assert [r['kwargs'] for r in rows] == [[]] * 4  # each family as registered (LM-ResNet: trainable k)
    for table in (5, 7):
        with pytest.raises(ValueError, match='table must be one of'):
            reproduce.settings(table)
    with pytest.raises(ValueError, match='Table 4 has depths'):
        reproduce.settings(4, 164)


# The paper's number for each setting, by table and depth; None where the paper has no such run.
PAPER_COLUMN = {
    (1, 20): [None] * 5, (1, 32): [79.13, 87.07, 92.52, 93.16, 93.19], (1, 44): [None] * 5, (1, 56): [None] * 5,
    (2, 20): [None] * 4, (2, 32): [None] * 4, (2, 44): [81.43, 89.46, 92.95, 93.69], (2, 56): [None] * 4,
    (3, 20): [None] * 10,
    (3, 32): [78.44, 77.55, 79.67, 88.77, 89.44, 92.84, 92.59, 93.14, 93.27, 93.28],
    (3, 44): [78.70, 77.91, 79.95, 83.08, 92.70, 93.10, 93.06, 93.72, 93.68, 93.68],
    (3, 56): [78.29, 78.34, 79.39, 83.11, 92.42, 93.08, 93.15, 93.71, 93.99, 94.04],
    # Table 4, CIFAR-10: baseline, LM-ResNet, ZeroSNet-Opt, ZeroSNet-Tra
    (4, 20): [91.25, 91.67, 92.01, 92.32], (4, 32): [92.49, 92.82, 93.28, 93.07],
    (4, 44): [92.83, 93.34, 93.68, 93.69], (4, 56): [93.03, 93.69, 94.04, 93.80],
}


# Table 3 at depths 32 and 44 as the paper lists it: by the moduli of each scheme's roots.
TABLE_3_BY_MODULI = {
    32: [((0.57, 1.00, 2.18), 77.55), ((1.84, 0.74, 0.74), 78.44), ((4.24, 0.24, 1.00), 79.67),
         ((1.88, 0.13, 1.00), 88.77), ((1.00, 0.87, 0.87), 89.44), ((0.94, 0.33, 0.33), 92.59),
         ((0.81, 0.61, 0.61), 92.84), ((1.00, 0.52, 0.52), 93.14), ((0.60, 0.82, 0.82), 93.27),
         ((0.33, 0.33, 1.00), 93.28)],
    44: [((0.57, 1.00, 2.18), 77.91), ((1.84, 0.74, 0.74), 78.70), ((4.24, 0.24, 1.00), 79.95),
         ((1.88, 0.13, 1.00), 83.08), ((1.00, 0.87, 0.87), 92.70), ((0.94, 0.33, 0.33), 93.06),
         ((0.81, 0.61, 0.61), 93.10), ((0.60, 0.82, 0.82), 93.68), ((0.33, 0.33, 1.00), 93.68),
         ((1.00, 0.52, 0.52), 93.72)],
}


@pytest.mark.parametrize('depth', sorted(TABLE_3_BY_MODULI))
def test_table_3_rows_match_the_listed_root_moduli(depth):
    moduli_of_rows = [tuple(sorted(round(float(m), 2) for m in stability.analyze(c[:3], c[3]).moduli))
                      for c in paper.TABLE_10]
    assert len(set(moduli_of_rows)) == 10  # every scheme has its own moduli, so the match is unique
    matched = [None] * 10
    for moduli, top1 in TABLE_3_BY_MODULI[depth]:
        matched[moduli_of_rows.index(tuple(sorted(moduli)))] = top1
    assert tuple(matched) == paper.TABLE_3[depth]


@pytest.mark.parametrize('table, depth', sorted(PAPER_COLUMN))
def test_paper_column_is_the_number_for_the_depth_that_runs(table, depth):
    got, rows = reproduce.settings(table, depth)
    assert got == depth and {r['model'].rpartition('_')[2] for r in rows} == {str(depth)}
    assert [r['paper'] for r in rows] == PAPER_COLUMN[table, depth]


def test_table_4_labels_the_baseline_it_quotes():
    rows = {r['name']: r['paper_row'] for r in reproduce.settings(4, 20)[1]}
    assert rows == {'preresnet_20': 'ResNet†', 'lmresnet_20': 'LM-ResNet†', 'zerosnet_opt_20': 'ZeroSNet-Opt',
                    'zerosnet_tra_20': 'ZeroSNet-Tra'}
    assert reproduce.settings(4, 110)[1][0]['paper_row'] == 'ResNet*†'


def test_table_6_quotes_the_optimal_scheme_at_depth_56_only():
    assert [r['paper'] for r in reproduce.settings(6)[1]] == [None] * 9 + [94.04]
    assert [r['paper'] for r in reproduce.settings(6, 20)[1]] == [None] * 10


def test_table_6_noise_file_is_what_the_eval_command_prints(tmp_path, capsys):
    row = reproduce.settings(6, 20)[1][-1]
    out = tmp_path / 'table6' / f"{row['name']}-seed0"
    out.mkdir(parents=True)
    model = timm.create_model(row['model'], **building.parse_model_kwargs(row['kwargs']))
    save_file(model.state_dict(), str(out / 'model.safetensors'))
    noise = reproduce._noise_eval(row, out, argparse.Namespace(data_dir=str(SAMPLE_DIR), test_subset=20))
    assert cli.main(['eval', '--model', row['model'], '--model-kwargs', *row['kwargs'], '--checkpoint', str(out),
                     '--data-dir', str(SAMPLE_DIR), '--robustness', '--json', '--limit', '20']) == 0
    printed = capsys.readouterr().out
    assert (out / 'noise.json').read_text() == printed
    assert noise == {'clean': json.loads(printed)['clean'], **json.loads(printed)['noise']}


def test_mean_and_sample_std():
    mean, std = reproduce.mean_and_std([90.0, 91.0, 92.5])
    assert mean == pytest.approx(91.1666667) and std == pytest.approx(1.2583057)  # ddof=1, not 1.0274
    assert reproduce.mean_and_std([88.0]) == (88.0, None)


def test_printed_table(capsys):
    rows = [dict(r, accs=[80.0, 82.0], mean=81.0, std=1.41421356, modulus=m, zero_stable=z, noise=None)
            for r, m, z in zip(reproduce.settings(4, 32)[1], (0, None, 1 / 3, None), (True, None, True, None))]
    reproduce.print_table(dict(table=4, depth=32, epochs=1, seeds=[0, 1], train_subset=None, rows=rows, spearman=None))
    out = capsys.readouterr().out
    assert 'top-1 % (mean ± sample std)' in out and '81.00 ± 1.41  92.49 ResNet†\n' in out
    assert 'paper ResNet†: He et al. 2016, quoted by the paper from Lu et al. 2018' in out
    assert 'learned' in out and 'Spearman rank correlation (max parasitic modulus vs top-1): n/a' in out


@needs_data
def test_tiny_sweep_and_restart(tmp_path):
    cmd = [sys.executable, str(REPO / 'train' / 'reproduce.py'), '--table', '2', '--data-dir', str(DATA),
           '--depth', '20', '--epochs', '1', '--seeds', '0', '--train-subset', '64', '--test-subset', '20',
           '--batch-size', '32', '--output', str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert first.stderr.count('train/cifar.py') == 4
    assert 'Spearman rank correlation' in first.stdout and 'k-1.5' in first.stdout
    assert 'paper: n/a, the paper reports Table 2 at depth 44 only' in first.stdout
    summary = json.loads((tmp_path / 'table2' / 'summary.json').read_text())
    assert [r['paper'] for r in summary['rows']] == [None] * 4  # the paper has LM-ResNet-44 only
    assert [r['std'] for r in summary['rows']] == [None] * 4  # one seed: no standard deviation
    assert sorted(p.name for p in (tmp_path / 'table2').iterdir()) == \
        ['k-0.5-seed0', 'k-1.5-seed0', 'k0.5-seed0', 'k1.5-seed0', 'summary.json']
    assert [r['modulus'] for r in summary['rows']] == pytest.approx([1.5, 1.5, 0.5, 0.5])
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert 'train/cifar.py' not in again.stderr  # finished runs are skipped
    assert again.stdout == first.stdout


def _record_run(folder: Path, row: dict, seed: int, epochs: int, accs: list[float], noise: dict | None = None) -> None:
    """A run folder as train/cifar.py leaves it (args.json, log.jsonl), with noise.json if given."""
    folder.mkdir(parents=True)
    recorded = {'model': row['model'], 'model_kwargs': [*row['kwargs'], 'zero_init_last=false'], 'epochs': epochs,
                'seed': seed, 'batch_size': 128, 'train_subset': None, 'test_subset': None}
    (folder / 'args.json').write_text(json.dumps(recorded))
    (folder / 'log.jsonl').write_text(''.join(json.dumps({'epoch': e + 1, 'test_acc': a}) + '\n'
                                              for e, a in enumerate(accs)))
    if noise is not None:
        (folder / 'noise.json').write_text(json.dumps({'clean': accs[-1], 'noise': noise}))


def test_report_is_computed_from_the_records(tmp_path):
    rows = reproduce.settings(3, 20)[1]
    # top-1 falls as the largest parasitic modulus grows, so the rank correlation is exactly -1
    by_modulus = sorted(range(10), key=lambda i: stability.max_parasitic_modulus(rows[i]['alphas']))
    top1 = {i: 90.0 - rank for rank, i in enumerate(by_modulus)}
    for i, row in enumerate(rows[:9]):  # scheme 10 is still running: one epoch of two
        _record_run(tmp_path / 'table3' / f"{row['name']}-seed0", row, 0, 2, [50.0, top1[i]],
                    {'uniform[-0.08,0]': top1[i] - (12.0 if i < 4 else 6.0), 'constant0.3': top1[i] - (20.0 if i < 4 else 10.0)})
    _record_run(tmp_path / 'table3' / 'scheme10-seed0', rows[9], 0, 2, [70.0])
    text = reproduce.report(tmp_path, 3)
    lines = text.splitlines()
    assert lines[0] == ('zerosnet_opt_20, 2 epochs, batch 128, all training images, seed 0; '
                        'top-1 after the last epoch on the full test split.')
    assert lines[4] == f'| 1 (1, 1, 1, 1) | 1.84, 0.74, 0.74 | 1.84 | no | {top1[0]:.2f} | 78.44 | 12.00 |'
    assert lines[13] == '| 10 (1/3, 5/9, 1/9, 16/9), optimal | 1.00, 0.33, 0.33 | 0.33 | yes | unfinished 1/2 epochs | 93.28 | n/a |'
    assert '9 of 10 settings finished' in text
    spearman_line = next(line for line in lines if line.startswith('- Spearman'))
    assert spearman_line.startswith('- Spearman rank correlation between the largest parasitic root modulus and top-1: -1.00')
    stable = [top1[i] for i in range(4, 9)]
    unstable = [top1[i] for i in range(4)]
    assert (f'- Mean top-1: zero-stable {sum(stable) / 5:.2f} over 5 (paper: '
            f'{sum(paper.TABLE_3[32][4:9]) / 5:.2f}); not zero-stable {sum(unstable) / 4:.2f} over 4') in text
    assert ('- Pairs (zero-stable, not zero-stable) in which the zero-stable setting has the higher top-1: '
            '20 of 20 (paper: 20 of 20)') in text
    assert '- Mean drop clean → U[-0.08, 0]: zero-stable 6.00; not zero-stable 12.00 (the paper' in text
    assert '- Mean drop under the other noises, zero-stable / not zero-stable: constant0.3 10.00 / 20.00' in text
    # an edited number in a log changes the report
    log = tmp_path / 'table3' / 'scheme1-seed0' / 'log.jsonl'
    log.write_text(log.read_text().replace(f'{top1[0]}', '11.5'))
    assert '| 1.84 | no | 11.50 |' in reproduce.report(tmp_path, 3)
    log.write_text(log.read_text().replace('11.5', '99.5'))  # scheme 1 now beats all five stable ones
    assert 'the higher top-1: 15 of 20 (paper: 20 of 20)' in reproduce.report(tmp_path, 3)


def test_report_refuses_records_that_do_not_match_their_folder(tmp_path):
    rows = reproduce.settings(3, 20)[1]
    _record_run(tmp_path / 'table3' / 'scheme1-seed0', rows[1], 0, 2, [50.0, 60.0])  # scheme 2's args
    with pytest.raises(ValueError, match='does not record the setting its name says'):
        reproduce.report(tmp_path, 3)
    with pytest.raises(FileNotFoundError, match='no run folders'):
        reproduce.report(tmp_path, 1)


def test_readme_table_is_what_report_prints():
    readme = (REPO / 'README.md').read_text()
    begin, end = '<!-- reproduce --table 3 --report results/reproduce -->\n', '<!-- end of report -->'
    assert begin in readme and end in readme
    published = readme.split(begin, 1)[1].split(end, 1)[0]
    assert published == reproduce.report(REPO / 'results' / 'reproduce', 3)


def test_driver_skips_finished_runs_resumes_interrupted_ones_and_refuses_other_budgets(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(reproduce, 'run', commands.append)
    rows = reproduce.settings(2, 20)[1]  # k-1.5, k1.5, k-0.5, k0.5
    finished, interrupted = (tmp_path / 'table2' / f"{row['name']}-seed0" for row in rows[:2])
    _record_run(finished, rows[0], 0, 2, [40.0, 45.0])
    (finished / 'model.safetensors').write_bytes(b'')
    _record_run(interrupted, rows[1], 0, 2, [41.0])
    (interrupted / 'checkpoint.pt').write_bytes(b'')
    argv = ['--table', '2', '--depth', '20', '--epochs', '2', '--seeds', '0', '--data-dir', str(SAMPLE_DIR),
            '--output', str(tmp_path)]
    assert reproduce.main(argv) == 0
    started = {Path(cmd[cmd.index('--output') + 1]).name: cmd for cmd in commands}
    assert sorted(started) == ['k-0.5-seed0', 'k0.5-seed0', 'k1.5-seed0']  # the finished run is skipped
    assert '--resume' in started['k1.5-seed0'] and '--resume' not in started['k0.5-seed0']
    with pytest.raises(SystemExit, match='holds a run at another budget \\(epochs 2, asked for 3\\)'):
        reproduce.main([*argv[:5], '3', *argv[6:]])
    # a value that --extra changes counts too: the finished run had the paper's lr
    recorded = json.loads((finished / 'args.json').read_text())
    (finished / 'args.json').write_text(json.dumps({**recorded, 'lr': 0.1, 'amp': False}))
    with pytest.raises(SystemExit, match='holds a run at another budget \\(lr 0.1, asked for 0.05\\)'):
        reproduce.main([*argv, '--extra', '--lr', '0.05'])
    with pytest.raises(SystemExit, match='holds a run at another budget \\(amp False, asked for True\\)'):
        reproduce.main([*argv, '--extra', '--amp'])
    with pytest.raises(SystemExit, match='--label-smoothing must be in'):  # a mistake in --extra, before training
        reproduce.main([*argv, '--extra', '--label-smoothing', '2'])


@pytest.mark.parametrize('status, diverged', [(cifar.DIVERGED, True), (1, False), (2, False)])
def test_only_a_non_finite_loss_counts_as_diverged(tmp_path, monkeypatch, status, diverged):
    def failing(cmd):
        raise subprocess.CalledProcessError(status, cmd)
    monkeypatch.setattr(reproduce, 'run', failing)
    argv = ['--table', '2', '--depth', '20', '--epochs', '2', '--seeds', '0', '--data-dir', str(SAMPLE_DIR),
            '--output', str(tmp_path)]
    if diverged:
        assert reproduce.main(argv) == 0
        summary = json.loads((tmp_path / 'table2' / 'summary.json').read_text())
        assert [r['accs'] for r in summary['rows']] == [[10.0]] * 4  # chance, for every setting
    else:
        with pytest.raises(SystemExit, match=f'train/cifar.py failed \\(exit {status}\\)'):
            reproduce.main(argv)
        assert not (tmp_path / 'table2' / 'summary.json').exists()


@pytest.mark.filterwarnings('ignore::zerosnet_zoo.stability.ZeroStabilityWarning')  # schemes 1-4
def test_table_6_measures_table_3s_runs(tmp_path):
    for row in reproduce.settings(3, 20)[1]:
        out = tmp_path / 'table3' / f"{row['name']}-seed0"
        _record_run(out, row, 0, 1, [30.0])
        out.joinpath('args.json').write_text(out.joinpath('args.json').read_text().replace('"test_subset": null',
                                                                                          '"test_subset": 10'))
        model = timm.create_model(row['model'], **building.parse_model_kwargs(row['kwargs']))
        save_file(model.state_dict(), str(out / 'model.safetensors'))
    argv = ['--table', '6', '--depth', '20', '--epochs', '1', '--seeds', '0', '--test-subset', '10',
            '--data-dir', str(SAMPLE_DIR), '--output', str(tmp_path)]
    assert reproduce.main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ['table3', 'table6']  # no runs of its own
    assert all((tmp_path / 'table3' / f'scheme{i}-seed0' / 'noise.json').exists() for i in range(1, 11))
    summary = json.loads((tmp_path / 'table6' / 'summary.json').read_text())
    assert set(summary['mean_drop']) == {'zero_stable', 'not_zero_stable'}


def test_collect_copies_finished_records_without_this_machines_paths(tmp_path):
    rows = reproduce.settings(3, 20)[1]
    runs = tmp_path / 'runs' / 'table3'
    _record_run(runs / 'scheme1-seed0', rows[0], 0, 1, [42.5], {'uniform[-0.08,0]': 40.0})
    for name in ('args.json', 'noise.json'):  # as train/cifar.py and the noise evaluation write them
        record = json.loads((runs / 'scheme1-seed0' / name).read_text())
        record.update(data_dir='/home/me/cifar', **({'output': str(runs / 'scheme1-seed0')} if name == 'args.json' else {}))
        (runs / 'scheme1-seed0' / name).write_text(json.dumps(record))
    (runs / 'scheme1-seed0' / 'model.safetensors').write_bytes(b'weights')
    _record_run(runs / 'scheme2-seed0', rows[1], 0, 1, [])  # unfinished: not collected
    copied = reproduce.collect(runs, tmp_path / 'results' / 'table3')
    assert [p.name for p in copied] == ['scheme1-seed0']
    assert sorted(p.name for p in copied[0].iterdir()) == ['args.json', 'log.jsonl', 'noise.json']  # no weights
    recorded = json.loads((copied[0] / 'args.json').read_text())
    assert recorded['data_dir'] == 'DATA' and recorded['output'] == 'OUT/table3/scheme1-seed0'
    assert json.loads((copied[0] / 'noise.json').read_text())['data_dir'] == 'DATA'
    assert (copied[0] / 'log.jsonl').read_text() == (runs / 'scheme1-seed0' / 'log.jsonl').read_text()
    assert '/home/me' not in ''.join(p.read_text() for p in copied[0].iterdir())
    from_results, from_runs = (reproduce.report(tmp_path / d, 3).splitlines() for d in ('results', 'runs'))
    assert from_results[4] == from_runs[4] == '| 1 (1, 1, 1, 1) | 1.84, 0.74, 0.74 | 1.84 | no | 42.50 | 78.44 | 2.50 |'
    assert 'unfinished 0/1 epochs' in from_runs[5] and 'not run' in from_results[5]
