"""Reproduce the paper's CIFAR-10 experiments (Tables 1, 2, 3, 4, 6) at a budget you pick.

    python train/reproduce.py --table 3 --data-dir DATA --depth 20 \\
        --epochs 3 --seeds 0 --train-subset 5000 --output runs/reproduce
    python train/reproduce.py --table 3 --report runs/reproduce   # a markdown table from the records

DATA is a CIFAR-10 root: an ImageFolder with train/ and test/ (for instance CIFAR-10
re-encoded as JPEG quality 75) or a torchvision CIFAR-10 root.  Each setting is trained by
train/cifar.py in its own directory (OUT/tableN/NAME-seedS); finished runs are skipped and
interrupted ones resumed when the command is repeated, and --jobs trains several side by side.
A folder trained with another recipe (model, scheme, epochs, seed, batch size, subsets, or
a recipe value, --init-from or --amp that --extra changes; train/cifar.py's RUN_FLAGS) is
refused rather than reused.  A run that stops
with a non-finite loss counts as diverged (chance accuracy); any other failure stops the driver.

Tables 1-3 sweep one scheme parameter of one network (Table 1: alpha of PreResNet; Table 2:
k of LM-ResNet, eq. (8); Tables 3 and 6: the ten third-order schemes of Table 10 in
ZeroSNet); Table 4 trains the four families (PreResNet, LM-ResNet with trainable k,
ZeroSNet-Opt, ZeroSNet-Tra) at one of the paper's depths 20, 32, 44, 56, 110 (default 56).
The result table shows measured top-1 (mean and sample standard deviation over seeds)
beside the paper's number for the depth that was run (n/a where the paper has none; the
table then names the depths it has), the largest parasitic root modulus of each fixed
scheme, and the Spearman rank correlation between that modulus and accuracy (negative =
less stable, less accurate).  Table 4's paper column is its CIFAR-10 column, with the
paper's row and mark and whose number each is: its baseline row is not always a PreResNet
run.  Table 6 evaluates Table 3's networks (the same runs, in OUT/table3) under the paper's input noises.
Networks start from the reference code's initialization (zero_init_last=False).

--collect DIR copies the records of the finished runs (args.json, log.jsonl, noise.json; no
weights) into DIR/tableN with this machine's paths written as DATA and OUT.  --report DIR
writes a markdown table of a Table 1, 2 or 3 sweep from the run records in
DIR/tableN alone (each run's args.json, log.jsonl and, where present, noise.json), so that a
published table can be checked against the records it came from.
"""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

import numpy as np

from zerosnet_zoo import paper, stability
from zerosnet_zoo.building import checkpoint_model
from zerosnet_zoo.data import load_split
from zerosnet_zoo.evaluate import NOISES, evaluate
from zerosnet_zoo.files import atomic_path

if __package__:  # imported as train.reproduce (the tests)
    from . import cifar
else:  # run as python train/reproduce.py, whose folder is on sys.path
    import cifar

HERE = Path(__file__).resolve().parent

# The depth each table is run at unless --depth says otherwise: the paper's (Table 3's deepest),
# and Table 4, which has every depth, at Table 3's deepest too, so that the two compare.
DEFAULT_DEPTH = {1: max(paper.TABLE_1), 2: max(paper.TABLE_2), 3: max(paper.TABLE_3), 4: max(paper.TABLE_3),
                 6: paper.TABLE_6_DEPTH}


def _fmt(values) -> str:
    return ','.join(f'{v:.10g}' for v in values)


def settings(table: int, depth: int | None = None) -> tuple[int, list[dict]]:
    """The settings of one of the paper's sweeps at ``depth`` (default: the paper's depth for it).

    Returns (depth, rows); a row is {name, model, kwargs, alphas, paper, paper_row}: ``alphas`` is
    None for a trainable scheme, ``paper`` the paper's top-1 for this setting at this depth (None
    where the paper has no such number) and ``paper_row`` the paper's label for it (Table 4 only).
    """
    if table not in DEFAULT_DEPTH:
        raise ValueError(f'table must be one of {sorted(DEFAULT_DEPTH)}, got {table}')
    depth = depth or DEFAULT_DEPTH[table]
    if table == 1:
        reported = paper.TABLE_1.get(depth, {})
        return depth, [_row(f'alpha{a}', f'preresnet_{depth}', [f'alpha={a}'], (a,), reported.get(a))
                       for a in paper.TABLE_1_ALPHAS]
    if table == 2:
        reported = paper.TABLE_2.get(depth, {})
        return depth, [_row(f'k{k}', f'lmresnet_{depth}', [f'k={k}'], stability.lm_coefficients(k).alphas,
                            reported.get(k)) for k in paper.TABLE_2_KS]
    if table == 4:
        if depth not in paper.TABLE_4_DEPTHS:
            raise ValueError(f'Table 4 has depths {paper.TABLE_4_DEPTHS}, not {depth}')
        fixed = {'preresnet': (1,), 'zerosnet_opt': paper.TABLE_10[-1][:3]}  # the others learn their scheme
        rows = []
        for family in paper.TABLE_4_FAMILIES:
            model = f'{family}_{depth}'
            reported = paper.table_4(model, 'cifar10')
            rows.append(_row(model, model, [], fixed.get(family), reported.top1, reported.row))
        return depth, rows
    if table == 3:
        reported = paper.TABLE_3.get(depth, (None,) * len(paper.TABLE_10))
    else:  # Table 6 gives the optimal scheme (the last) at its one depth
        optimal = paper.TABLE_6_OPTIMAL['clean'] if depth == paper.TABLE_6_DEPTH else None
        reported = (None,) * (len(paper.TABLE_10) - 1) + (optimal,)
    return depth, [_row(f'scheme{i + 1}', f'zerosnet_opt_{depth}', [f'coefficients={_fmt(c)}'], c[:3], reported[i])
                   for i, c in enumerate(paper.TABLE_10)]


def _row(name: str, model: str, kwargs: list[str], alphas, reported: float | None, paper_row: str | None = None) -> dict:
    return dict(name=name, model=model, kwargs=kwargs, alphas=alphas, paper=reported, paper_row=paper_row)


def mean_and_std(values: list[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (ddof=1; None for a single value)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    def rank(v):
        v = np.asarray(v, dtype=float)
        order = v.argsort(kind='stable')
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):  # average the ranks of ties
            r[v == value] = r[v == value].mean()
        return r
    rx, ry = rank(x), rank(y)
    if rx.std() == 0 or ry.std() == 0:
        return float('nan')
    return float(np.corrcoef(rx, ry)[0, 1])


def fail(message: str) -> NoReturn:
    """Stop with one line on stderr naming the mistake (argparse's usage is kept for syntax errors)."""
    sys.exit(f'reproduce.py: error: {message}')


def run(cmd: list[str]) -> None:
    print('$', ' '.join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--table', type=int, required=True, choices=sorted(DEFAULT_DEPTH))
    p.add_argument('--data-dir', help='a CIFAR-10 ImageFolder (train/, test/) or torchvision root')
    p.add_argument('--output', default='runs/reproduce')
    p.add_argument('--report', metavar='DIR', help='print the markdown table of the finished runs in DIR/tableN; '
                                                   'trains nothing (Tables 1-3)')
    p.add_argument('--collect', metavar='DIR', help="copy the records of the finished runs in --output's tableN "
                                                    'into DIR/tableN, the paths of this machine replaced; trains nothing')
    defaults = ', '.join(f'{table}: {depth}' for table, depth in DEFAULT_DEPTH.items())
    p.add_argument('--depth', type=int, help=f"default: the paper's depth for the table ({defaults})")
    p.add_argument('--epochs', type=int, default=160)
    p.add_argument('--seeds', default='0,1,2', help='comma-separated')
    p.add_argument('--train-subset', type=int)
    p.add_argument('--test-subset', type=int)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--jobs', type=int, default=1, help='settings trained side by side')
    p.add_argument('--extra', nargs=argparse.REMAINDER, default=[], help='more train/cifar.py flags')
    args = p.parse_args(argv)

    if args.collect:
        for run in collect(Path(args.output) / f'table{args.table}', Path(args.collect) / f'table{args.table}'):
            print(run)
        return 0
    if args.report:
        try:
            print(report(Path(args.report), args.table), end='')
        except (ValueError, FileNotFoundError) as e:
            fail(str(e))
        return 0
    if not args.data_dir:
        fail('--data-dir is required to train or evaluate (only --report works without data)')
    try:
        depth, rows = settings(args.table, args.depth)
    except ValueError as e:
        fail(str(e))
    seeds = [int(s) for s in args.seeds.split(',')]
    table_dir = Path(args.output) / f'table{args.table}'
    runs_dir = Path(args.output) / f'table{RUNS_OF.get(args.table, args.table)}'
    folders = [(row, seed, runs_dir / f'{row["name"]}-seed{seed}') for row in rows for seed in seeds]
    runs = [(out, _command(row, seed, out, args)) for row, seed, out in folders]
    for out, command in runs:
        if problem := _recipe_mismatch(out, command):
            fail(f'{out} holds a run at another budget ({problem}); pass another --output or remove that folder')
    pending = [(out, command) for out, command in runs if not (out / 'model.safetensors').exists()]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each worker waits on one training process
        failures = [f for f in pool.map(lambda r: _train(*r), pending) if f]
    if failures:
        fail('; '.join(failures))
    results = []
    for row in rows:
        accs, noise = [], []
        for seed in seeds:
            out = runs_dir / f'{row["name"]}-seed{seed}'
            log = _read_log(out)
            diverged = not (out / 'model.safetensors').exists()
            accs.append(10.0 if diverged or not log else log[-1]['test_acc'])  # diverged: chance
            if args.table == 6 and not diverged:
                noise.append(_noise_eval(row, out, args))
        mean, std = mean_and_std(accs)
        fixed = row['alphas'] is not None
        results.append(dict(row, accs=accs, mean=mean, std=std,
                            modulus=stability.max_parasitic_modulus(row['alphas']) if fixed else None,
                            zero_stable=stability.analyze(row['alphas']).zero_stable if fixed else None,
                            noise=_average(noise)))
    moduli = [r['modulus'] for r in results]
    summary = dict(table=args.table, depth=depth, epochs=args.epochs, seeds=seeds, train_subset=args.train_subset,
                   rows=results, spearman=None if None in moduli else spearman(moduli, [r['mean'] for r in results]))
    if args.table == 6:  # the paper's summary: the drop from clean to U[-0.08, 0], by stability
        drops = [(r['zero_stable'], r['noise']['clean'] - r['noise'][DROP_NOISE]) for r in results if r['noise']]
        summary['mean_drop'] = {label: _mean([d for stable, d in drops if stable == group])
                                for label, group in (('zero_stable', True), ('not_zero_stable', False))}
    table_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(table_dir / 'summary.json') as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    print_table(summary)
    return 0


# Table 6 measures Table 3's networks under noise: it reads (and if need be trains) Table 3's runs.
RUNS_OF = {6: 3}
# The noise of the paper's robustness summary (Table 6's mean drop from clean top-1).
DROP_NOISE = 'uniform[-0.08,0]'


# The records a run folder keeps for a reader (no weights), and the fields of them that name this machine's paths.
RECORDS = ('args.json', 'log.jsonl', 'noise.json')
PLACEHOLDERS = {'data_dir': 'DATA', 'output': 'OUT'}


def collect(runs_dir: Path, dest: Path) -> list[Path]:
    """Copy the records of every finished run in ``runs_dir`` to ``dest`` (same folder names), with
    ``data_dir`` and ``output`` written as DATA and OUT/tableN/NAME-seedS; returns the copies."""
    copied = []
    for run in sorted(runs_dir.glob('*-seed*')):
        if not (run / 'model.safetensors').exists():
            continue  # unfinished
        target = dest / run.name
        target.mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            if not (run / name).exists():
                continue
            text = (run / name).read_text()
            if name.endswith('.json'):
                record = json.loads(text)
                record.update({k: f'{v}/{runs_dir.name}/{run.name}' if k == 'output' else v
                               for k, v in PLACEHOLDERS.items() if k in record})
                text = json.dumps(record, indent=2 if name == 'args.json' else None) + '\n'
            with atomic_path(target / name) as tmp:
                tmp.write_text(text)
        copied.append(target)
    return copied


def _model_kwargs(row: dict) -> list[str]:
    """A setting's --model-kwargs, with the reference initialization, as args.json records them."""
    return [*row['kwargs'], 'zero_init_last=false']


def _command(row: dict, seed: int, out: Path, args) -> list[str]:
    """The train/cifar.py command line of one run (without --resume)."""
    cmd = [sys.executable, str(HERE / 'cifar.py'), '--model', row['model'],
           '--model-kwargs', *_model_kwargs(row),  # ends with the reference init
           '--data-dir', args.data_dir, '--epochs', str(args.epochs), '--seed', str(seed),
           '--batch-size', str(args.batch_size), '--output', str(out), *args.extra]
    cmd += ['--train-subset', str(args.train_subset)] if args.train_subset else []
    cmd += ['--test-subset', str(args.test_subset)] if args.test_subset else []
    return cmd


def _recipe_mismatch(out: Path, command: list[str]) -> str | None:
    """What differs between the run recorded in ``out`` and the one ``command`` would train, in what
    fixes the result (None if nothing, or no run).  Parsing the command also stops a mistake in
    --extra here, before any training starts."""
    expected = vars(cifar.parse_args(command[2:]))
    if not (out / 'args.json').exists():
        return None
    recorded = json.loads((out / 'args.json').read_text())
    for key in cifar.RUN_FLAGS:
        if key in recorded and recorded[key] != expected[key]:
            return f'{key} {recorded[key]!r}, asked for {expected[key]!r}'
    return None


def _read_log(out: Path) -> list[dict]:
    path = out / 'log.jsonl'
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _train(out: Path, command: list[str]) -> str | None:
    """Train (or resume) one run; a failure other than divergence, as a message."""
    try:
        run([*command, *(['--resume'] if (out / 'checkpoint.pt').exists() else [])])
    except subprocess.CalledProcessError as e:
        if e.returncode != cifar.DIVERGED:
            return f'{out}: train/cifar.py failed (exit {e.returncode}); see its output above'
        print(f'{out}: training stopped at a non-finite loss; counted as diverged', file=sys.stderr)
    return None


def _noise_eval(row: dict, out: Path, args) -> dict:
    """Clean top-1 and top-1 under each of the paper's noises of the run in ``out``, measured once.

    The result is kept in OUT/tableN/NAME-seedS/noise.json in the layout of ``zerosnet-zoo eval --json``.
    """
    path = out / 'noise.json'
    if not path.exists():
        print(f'{out}: evaluating under the noises', file=sys.stderr, flush=True)
        model, name, dataset, _ = checkpoint_model(out, row['model'], row['kwargs'])
        data = load_split(args.data_dir, 'test', dataset, args.test_subset, seed=0)
        result = {'model': name, 'data_dir': args.data_dir, **evaluate(model, data, NOISES).to_dict()}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(result) + '\n')
    result = json.loads(path.read_text())
    return {'clean': result['clean'], **result['noise']}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _average(dicts: list) -> dict | None:
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]} if dicts else None


def print_table(summary: dict) -> None:
    rows = summary['rows']
    models = ', '.join(dict.fromkeys(r['model'] for r in rows))
    print(f"Table {summary['table']} at depth {summary['depth']} ({models}), {summary['epochs']} epochs, "
          f"seeds {summary['seeds']}, train subset {summary['train_subset'] or 'all'}")
    table_4 = summary['table'] == 4
    noise_keys = next((list(r['noise']) for r in rows if r['noise']), [])
    header = (f"{'setting':<16} {'max|parasitic|':>14} {'stable':>6} {'top-1 % (mean ± sample std)':>28} "
              f"{'paper':>6}" + (' paper row' if table_4 else ''))
    print(header + ''.join(f' {k:>17}' for k in noise_keys[1:]))
    for r in rows:
        modulus = 'learned' if r['modulus'] is None else f"{r['modulus']:.2f}"
        stable = '-' if r['zero_stable'] is None else 'yes' if r['zero_stable'] else 'no'
        std = 'n/a' if r['std'] is None else f"{r['std']:.2f}"
        reported = 'n/a' if r['paper'] is None else f"{r['paper']:.2f}"
        line = (f"{r['name']:<16} {modulus:>14} {stable:>6} {r['mean']:21.2f} ± {std:>4} {reported:>6}"
                + (f" {r['paper_row']}" if table_4 else ''))
        if r['noise']:
            line += ''.join(f" {r['noise'][k]:17.2f}" for k in noise_keys[1:])
        print(line)
    if all(r['paper'] is None for r in rows):
        print(f"paper: n/a, the paper reports Table {summary['table']} at depth "
              f"{' and '.join(str(d) for d in _paper_depths(summary['table']))} only")
    if table_4:  # what each of the paper's rows is
        for label in dict.fromkeys(paper.table_4(r['model']) for r in rows):
            print(f'paper {label.row}: {label.source}' + (f'; {label.note}' if label.note else ''))
    correlation = 'n/a (learned schemes)' if summary['spearman'] is None else f"{summary['spearman']:+.3f}"
    print(f'Spearman rank correlation (max parasitic modulus vs top-1): {correlation}')
    if summary['table'] == 6 and summary['depth'] == paper.TABLE_6_DEPTH:
        print('paper, optimal scheme: ' + ', '.join(f'{k} {v:.2f}' for k, v in paper.TABLE_6_OPTIMAL.items()))
    if 'mean_drop' in summary:
        drop = {k: 'n/a' if v is None else f'{v:.2f}' for k, v in summary['mean_drop'].items()}
        expected = paper.TABLE_6_MEAN_DROP
        print(f"mean drop clean -> U[-0.08,0]: zero-stable {drop['zero_stable']}, not zero-stable "
              f"{drop['not_zero_stable']} (paper: {expected['zero_stable']:.2f} and {expected['not_zero_stable']:.2f})")


def report(results_dir: Path, table: int) -> str:
    """A markdown table of the Table 1, 2 or 3 sweep recorded in ``results_dir``/tableN, from the
    run folders' args.json, log.jsonl and (where present) noise.json alone.

    Each setting's top-1 is its last epoch's (mean ± sample std over seeds) beside the paper's
    number at the nearest depth it reports, with the moduli of all its roots and the largest
    parasitic one (every root counts for a scheme without the principal root 1).  Below the
    table come the Spearman correlation between the largest parasitic root modulus and top-1,
    the mean top-1 of the zero-stable and the other settings, in how many (zero-stable, other)
    pairs the zero-stable one scores higher, and, with noise results, each group's mean drop
    from clean top-1 under U[-0.08, 0] (beside the paper's) and under the other noises.
    Runs whose log lacks epochs are listed as unfinished and left out of the summaries.
    """
    if table not in (1, 2, 3):
        raise ValueError(f"--report covers Tables 1, 2 and 3 (Table 6's noises are read from Table 3's runs), not {table}")
    table_dir = Path(results_dir) / f'table{table}'
    folders = sorted(table_dir.glob('*-seed*'))
    if not folders:
        raise FileNotFoundError(f'no run folders (NAME-seedS) in {table_dir}')
    runs = [(folder, json.loads((folder / 'args.json').read_text()), _read_log(folder)) for folder in folders]
    budgets = {(a['model'], a['epochs'], a['train_subset'], a['test_subset'], a['batch_size']) for _, a, _ in runs}
    if len(budgets) != 1:
        raise ValueError(f'{table_dir} mixes budgets (model, epochs, train and test subset, batch size): {sorted(budgets)}')
    model, epochs, train_subset, test_subset, batch_size = budgets.pop()
    depth = int(model.rpartition('_')[2])
    rows = settings(table, depth)[1]
    near = min(_paper_depths(table), key=lambda d: (abs(d - depth), d))
    reported = [r['paper'] for r in settings(table, near)[1]]

    # per setting: top-1 and noise drop of each finished run, 'k/N' for each unfinished one
    measured = [{'accs': [], 'drops': [], 'unfinished': []} for _ in rows]
    for folder, recorded, log in runs:
        name, _, seed = folder.name.rpartition('-seed')
        i = next((i for i, r in enumerate(rows) if r['name'] == name), None)
        if i is None or recorded['model_kwargs'] != _model_kwargs(rows[i]) \
                or recorded['seed'] != int(seed):
            raise ValueError(f'{folder} does not record the setting its name says (Table {table}, {model})')
        entry = measured[i]
        if len(log) < epochs:
            entry['unfinished'].append(f'{len(log)}/{epochs}')
            continue
        entry['accs'].append(log[-1]['test_acc'])
        if (folder / 'noise.json').exists():
            noise = json.loads((folder / 'noise.json').read_text())
            entry['drops'].append({k: noise['clean'] - acc for k, acc in noise['noise'].items()})
    seeds = sorted({a['seed'] for _, a, _ in runs})
    with_noise = any(m['drops'] for m in measured)

    lines = [f"{model}, {epochs} epochs, batch {batch_size}, "
             f"{'all training images' if train_subset is None else f'{train_subset} training images'}, "
             f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; top-1 after the last epoch on "
             f"{'the full test split' if test_subset is None else f'{test_subset} test images'}.", '',
             f"| {_SETTING[table]} | root moduli | largest parasitic | zero-stable | top-1 % | paper, depth {near} |"
             + (' drop clean → U[-0.08, 0] |' if with_noise else ''),
             '|---|---|---|---|---|---|' + ('---|' if with_noise else '')]
    done = []  # (modulus, zero-stable, top-1, paper, {noise: mean drop} or None) of finished settings
    for i, row in enumerate(rows):
        analysis = stability.analyze(row['alphas'])
        largest, zero_stable = stability.max_parasitic_modulus(row['alphas']), analysis.zero_stable
        entry = measured[i]
        if entry['accs']:
            mean, std = mean_and_std(entry['accs'])
            drop = _average(entry['drops'])
            done.append((largest, zero_stable, mean, reported[i], drop))
            top1 = f'{mean:.2f}' if std is None else f"{mean:.2f} ± {std:.2f} ({', '.join(f'{a:.2f}' for a in entry['accs'])})"
        else:
            top1 = 'unfinished ' + ', '.join(entry['unfinished']) + ' epochs' if entry['unfinished'] else 'not run'
            drop = None
        lines.append(f"| {_setting_label(table, i)} | {', '.join(f'{m:.2f}' for m in sorted(analysis.moduli, reverse=True))} "
                     f"| {largest:.2f} | {'yes' if zero_stable else 'no'} | {top1} | {_num(reported[i])} |"
                     + (f' {_num(drop and drop[DROP_NOISE])} |' if with_noise else ''))
    lines.append('')
    if len(done) < len(rows):
        lines.append(f'{len(done)} of {len(rows)} settings finished; the summaries below cover those.')
    return '\n'.join(lines + _summary(done, near, with_noise)) + '\n'


def _summary(done: list[tuple], near: int, with_noise: bool) -> list[str]:
    """The lines under the report's table, from the finished settings' (largest parasitic modulus,
    zero-stable, top-1, paper's top-1 at depth ``near``, {noise: mean drop} or None)."""
    moduli, stable, top1, expected, drops = zip(*done) if done else ((),) * 5
    lines = [f'- Spearman rank correlation between the largest parasitic root modulus and top-1: '
             f'{_num(spearman(moduli, top1) if len(done) > 1 else None, "+.2f")} '
             f'(the paper at depth {near}: {_num(spearman(moduli, expected) if len(done) > 1 else None, "+.2f")})']
    groups = {label: [i for i, s in enumerate(stable) if s == flag] for label, flag in (('zero-stable', True), ('not zero-stable', False))}
    lines.append('- Mean top-1: ' + '; '.join(
        f'{label} {_num(_mean([top1[i] for i in idx]))} over {len(idx)} (paper: {_num(_mean([expected[i] for i in idx]))})'
        for label, idx in groups.items()))
    stable_idx, unstable_idx = groups.values()
    if stable_idx and unstable_idx:
        pairs = [(i, j) for i in stable_idx for j in unstable_idx]
        lines.append(f'- Pairs (zero-stable, not zero-stable) in which the zero-stable setting has the higher top-1: '
                     f'{sum(top1[i] > top1[j] for i, j in pairs)} of {len(pairs)} '
                     f'(paper: {sum(expected[i] > expected[j] for i, j in pairs)} of {len(pairs)})')
    if with_noise:
        def group_drop(idx: list[int], noise: str) -> str:
            return _num(_mean([drops[i][noise] for i in idx if drops[i] is not None]))
        lines.append('- Mean drop clean → U[-0.08, 0]: ' + '; '.join(
            f'{label} {group_drop(idx, DROP_NOISE)}' for label, idx in groups.items())
            + f" (the paper, Table 6 at depth {paper.TABLE_6_DEPTH}: {paper.TABLE_6_MEAN_DROP['zero_stable']:.2f} and "
              f"{paper.TABLE_6_MEAN_DROP['not_zero_stable']:.2f})")
        others = [k for k in NOISES if k != DROP_NOISE and all(d is None or k in d for d in drops)]
        if others:  # the paper gives group means for U[-0.08, 0] only; the other noises, measured alike
            lines.append('- Mean drop under the other noises, zero-stable / not zero-stable: ' + '; '.join(
                f'{k} {group_drop(stable_idx, k)} / {group_drop(unstable_idx, k)}' for k in others))
    return lines


_SETTING = {1: 'alpha', 2: 'k', 3: 'scheme (Table 10 row)'}


def _setting_label(table: int, i: int) -> str:
    if table == 1:
        return f'{paper.TABLE_1_ALPHAS[i]:g}'
    if table == 2:
        return f'{paper.TABLE_2_KS[i]:g}'
    label = f"{i + 1} ({', '.join(_short(c) for c in paper.TABLE_10[i])})"
    return label + (', optimal' if i == len(paper.TABLE_10) - 1 else '')


def _short(x: float) -> str:
    """A coefficient as the paper writes it: a short decimal, or else a fraction (1/3)."""
    return f'{x:g}' if float(f'{x:.4g}') == x else str(Fraction(x).limit_denominator(100))


def _num(x: float | None, fmt: str = '.2f') -> str:
    return 'n/a' if x is None or x != x else format(x, fmt)


def _paper_depths(table: int) -> list[int]:
    """The depths at which the paper reports a table."""
    return {1: list(paper.TABLE_1), 2: list(paper.TABLE_2), 3: list(paper.TABLE_3),
            4: list(paper.TABLE_4_DEPTHS), 6: [paper.TABLE_6_DEPTH]}[table]


if __name__ == '__main__':
    sys.exit(main())
