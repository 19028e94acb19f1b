"""Reproduce the paper's CIFAR-10 sweeps (Tables 1, 2, 3, 6) at a budget you pick.

    python train/reproduce.py --table 3 --data-dir ../shared/data/cifar10-jpeg --depth 20 \\
        --epochs 3 --seeds 0 --train-subset 5000 --output runs/reproduce

Each setting is trained by train/cifar.py in its own directory (OUT/tableN/NAME-seedS);
finished runs are skipped and interrupted ones resumed when the command is repeated.
The result table shows measured top-1 (mean +- std over seeds) beside the paper's number,
the largest parasitic root modulus of each scheme, and the Spearman rank correlation
between that modulus and accuracy (negative = less stable, less accurate).
Table 6 also evaluates every trained network under the paper's input noises.
Networks start from the reference code's initialization (zero_init_last=False).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from zerosnet_zoo import stability
from zerosnet_zoo.io import atomic_path

HERE = Path(__file__).resolve().parent

# Table 10's third-order schemes, in the paper's order (Tables 3 and 6 use them)
TABLE_10 = [(1, 1, 1, 1), (3.75, -4, 1.25, -0.5), (-3, 5, -1, 4), (-0.75, 2, -0.25, 2.5), (2.25, -2, 0.75, 0.5),
            (0.1, 0.2, 0.3, 0.4), (0.5, 0.3, 0.1, 0.1), (0.825, -0.1, 0.275, 1.45), (1, 0.3, -0.4, 1),
            (1 / 3, 5 / 9, 1 / 9, 16 / 9)]
TABLE_3_PAPER = [78.29, 78.34, 79.39, 83.11, 92.42, 93.08, 93.15, 93.71, 93.99, 94.04]


def _fmt(values) -> str:
    return ','.join(f'{v:.10g}' for v in values)


def settings(table: int) -> tuple[str, int, list[dict]]:
    """(model family, the paper's depth, [{name, kwargs, alphas, paper}])."""
    if table == 1:
        paper = {2: 79.13, 1.5: 87.07, 0.5: 92.52, 0.7: 93.16, 1: 93.19}
        return 'preresnet', 32, [dict(name=f'alpha{a}', kwargs=[f'alpha={a}'], alphas=(a,), paper=p)
                                 for a, p in paper.items()]
    if table == 2:
        paper = {-1.5: 81.43, 1.5: 89.46, -0.5: 92.95, 0.5: 93.69}
        return 'lmresnet', 44, [dict(name=f'k{k}', kwargs=[f'k={k}'], alphas=stability.lm_coefficients(k).alphas, paper=p)
                                for k, p in paper.items()]
    if table in (3, 6):
        return 'zerosnet_opt', 56, [dict(name=f'scheme{i + 1}', kwargs=[f'coefficients={_fmt(c)}'], alphas=c[:3],
                                         paper=TABLE_3_PAPER[i] if table == 3 else None)
                                    for i, c in enumerate(TABLE_10)]
    raise ValueError(f'table must be 1, 2, 3 or 6, got {table}')


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
    p.add_argument('--table', type=int, required=True, choices=(1, 2, 3, 6))
    p.add_argument('--data-dir', required=True)
    p.add_argument('--output', default='runs/reproduce')
    p.add_argument('--depth', type=int, help="default: the paper's depth for the table")
    p.add_argument('--epochs', type=int, default=160)
    p.add_argument('--seeds', default='0,1,2', help='comma-separated')
    p.add_argument('--train-subset', type=int)
    p.add_argument('--test-subset', type=int)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--extra', nargs=argparse.REMAINDER, default=[], help='more train/cifar.py flags')
    args = p.parse_args(argv)

    family, paper_depth, rows = settings(args.table)
    depth = args.depth or paper_depth
    model = f'{family}_{depth}'
    seeds = [int(s) for s in args.seeds.split(',')]
    table_dir = Path(args.output) / f'table{args.table}'
    results = []
    for row in rows:
        accs, noise = [], []
        for seed in seeds:
            out = table_dir / f'{row["name"]}-seed{seed}'
            if not (out / 'model.safetensors').exists():
                cmd = [sys.executable, str(HERE / 'cifar.py'), '--model', model,
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
            log = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()] \
                if (out / 'log.jsonl').exists() else []
            diverged = not (out / 'model.safetensors').exists()
            accs.append(10.0 if diverged or not log else log[-1]['test_acc'])  # diverged: chance
            if args.table == 6 and not diverged:
                noise.append(_noise_eval(model, row, out, args))
        results.append(dict(row, model=model, accs=accs, mean=float(np.mean(accs)), std=float(np.std(accs)),
                            modulus=stability.max_parasitic_modulus(row['alphas']),
                            zero_stable=stability.analyze(row['alphas']).zero_stable,
                            noise=_average(noise)))
    summary = dict(table=args.table, model=model, epochs=args.epochs, seeds=seeds, train_subset=args.train_subset,
                   rows=results, spearman=spearman([r['modulus'] for r in results], [r['mean'] for r in results]))
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


def _noise_eval(model: str, row: dict, out: Path, args) -> dict:
    path = out / 'noise.json'
    if not path.exists():
        cmd = [sys.executable, '-m', 'zerosnet_zoo', 'eval', '--model', model, '--model-kwargs', *row['kwargs'],
               '--checkpoint', str(out), '--data-dir', args.data_dir, '--robustness', '--json']
        cmd += ['--limit', str(args.test_subset)] if args.test_subset else []
        print('$', ' '.join(cmd), file=sys.stderr, flush=True)
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    result = json.loads(path.read_text())
    return {'clean': result['clean'], **result['noise']}


def _average(dicts: list) -> dict | None:
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]} if dicts else None


def print_table(summary: dict) -> None:
    print(f"Table {summary['table']}: {summary['model']}, {summary['epochs']} epochs, seeds {summary['seeds']}, "
          f"train subset {summary['train_subset'] or 'all'}")
    noise_keys = next((list(r['noise']) for r in summary['rows'] if r['noise']), [])
    header = f"{'setting':<12} {'max|parasitic|':>14} {'stable':>6} {'top-1 %':>14} {'paper':>6}"
    print(header + ''.join(f' {k:>17}' for k in noise_keys[1:]))
    for r in summary['rows']:
        paper = f"{r['paper']:.2f}" if r['paper'] is not None else '-'
        line = (f"{r['name']:<12} {r['modulus']:14.2f} {'yes' if r['zero_stable'] else 'no':>6} "
                f"{r['mean']:8.2f} ± {r['std']:4.2f} {paper:>6}")
        if r['noise']:
            line += ''.join(f" {r['noise'][k]:17.2f}" for k in noise_keys[1:])
        print(line)
    print(f"Spearman rank correlation (max parasitic modulus vs top-1): {summary['spearman']:+.3f}")
    if 'mean_drop' in summary:
        drop = {k: 'n/a' if v is None else f'{v:.2f}' for k, v in summary['mean_drop'].items()}
        print(f"mean drop clean -> U[-0.08,0]: zero-stable {drop['zero_stable']}, not zero-stable "
              f"{drop['not_zero_stable']} (paper: 6.40 and 12.38)")


if __name__ == '__main__':
    sys.exit(main())
