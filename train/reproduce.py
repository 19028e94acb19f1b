"""Reproduce the paper's CIFAR-10 experiments (Tables 1, 2, 3, 4, 6) at a budget you pick.

    python train/reproduce.py --table 3 --data-dir DATA --depth 20 \\
        --epochs 3 --seeds 0 --train-subset 5000 --output runs/reproduce

DATA is a CIFAR-10 root: an ImageFolder with train/ and test/ (for instance CIFAR-10
re-encoded as JPEG quality 75) or a torchvision CIFAR-10 root.  Each setting is trained by
train/cifar.py in its own directory (OUT/tableN/NAME-seedS); finished runs are skipped and
interrupted ones resumed when the command is repeated, and --jobs trains several side by side.

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
run.  Table 6 also evaluates every trained network under the paper's input noises.  Networks start from the
reference code's initialization (zero_init_last=False).
"""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from zerosnet_zoo import paper, stability
from zerosnet_zoo.cli import checkpoint_model
from zerosnet_zoo.data import load_split
from zerosnet_zoo.evaluate import NOISES, evaluate
from zerosnet_zoo.files import atomic_path

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


def run(cmd: list[str]) -> None:
    print('$', ' '.join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--table', type=int, required=True, choices=sorted(DEFAULT_DEPTH))
    p.add_argument('--data-dir', required=True, help='a CIFAR-10 ImageFolder (train/, test/) or torchvision root')
    p.add_argument('--output', default='runs/reproduce')
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

    try:
        depth, rows = settings(args.table, args.depth)
    except ValueError as e:
        p.error(str(e))
    seeds = [int(s) for s in args.seeds.split(',')]
    table_dir = Path(args.output) / f'table{args.table}'
    runs = [(row, seed, table_dir / f'{row["name"]}-seed{seed}') for row in rows for seed in seeds]
    pending = [(row, seed, out) for row, seed, out in runs if not (out / 'model.safetensors').exists()]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each worker waits on one training process
        list(pool.map(lambda r: _train(*r, args), pending))
    results = []
    for row in rows:
        accs, noise = [], []
        for seed in seeds:
            out = table_dir / f'{row["name"]}-seed{seed}'
            log = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()] \
                if (out / 'log.jsonl').exists() else []
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
        summary['mean_drop'] = {
            label: float(np.mean(drops)) if drops else None
            for label, drops in (
                ('zero_stable', [r['noise']['clean'] - r['noise']['uniform[-0.08,0]'] for r in results if r['noise'] and r['zero_stable']]),
                ('not_zero_stable', [r['noise']['clean'] - r['noise']['uniform[-0.08,0]'] for r in results if r['noise'] and not r['zero_stable']]))}
    with atomic_path(table_dir / 'summary.json') as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    print_table(summary)
    return 0


def _train(row: dict, seed: int, out: Path, args) -> None:
    cmd = [sys.executable, str(HERE / 'cifar.py'), '--model', row['model'],
           '--model-kwargs', *row['kwargs'], 'zero_init_last=false',  # the reference init
           '--data-dir', args.data_dir, '--epochs', str(args.epochs), '--seed', str(seed),
           '--batch-size', str(args.batch_size), '--output', str(out), *args.extra]
    cmd += ['--train-subset', str(args.train_subset)] if args.train_subset else []
    cmd += ['--test-subset', str(args.test_subset)] if args.test_subset else []
    cmd += ['--resume'] if (out / 'checkpoint.pt').exists() else []
    try:
        run(cmd)
    except subprocess.CalledProcessError as e:
        print(f'{out}: training stopped (exit {e.returncode}); counted as diverged', file=sys.stderr)


def _noise_eval(row: dict, out: Path, args) -> dict:
    """Clean top-1 and top-1 under each of the paper's noises of the run in ``out``, measured once.

    The result is kept in OUT/tableN/NAME-seedS/noise.json in the layout of ``zerosnet-zoo eval --json``.
    """
    path = out / 'noise.json'
    if not path.exists():
        print(f'{out}: evaluating under the noises', file=sys.stderr, flush=True)
        model, name, dataset = checkpoint_model(out, row['model'], row['kwargs'])
        data = load_split(args.data_dir, 'test', dataset, args.test_subset, seed=0)
        result = {'model': name, 'data_dir': args.data_dir, **evaluate(model, data, NOISES).to_dict()}
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(result) + '\n')
    result = json.loads(path.read_text())
    return {'clean': result['clean'], **result['noise']}


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


def _paper_depths(table: int) -> list[int]:
    """The depths at which the paper reports a table."""
    return {1: list(paper.TABLE_1), 2: list(paper.TABLE_2), 3: list(paper.TABLE_3),
            4: list(paper.TABLE_4_DEPTHS), 6: [paper.TABLE_6_DEPTH]}[table]


if __name__ == '__main__':
    sys.exit(main())
