"""Turn a finished train/cifar.py run into a weight shipped inside the package.

    python train/release.py --run runs/weights/zerosnet_opt_20 --name zerosnet_opt_20.cifar10 \\
        --data-dir ../shared/data/cifar10-jpeg --hardware "2-core AMD EPYC, 1 thread"

A run started with ``--init-from`` (a warm restart) is released with the runs it continued:
their recipes and logs become the weight's training stages. When it continued a released
weight (the package's own file, say), the stages recorded in that weight's NAME.TAG.json are
taken over.

It measures the weight with ``zerosnet-zoo eval`` (clean top-1/top-5 and the paper's input
noises on the whole test split, FGSM and PGD on a seeded subset), then writes into
zerosnet_zoo/weights/:

    NAME.TAG-SHA256.safetensors   the weights (the name pins their sha256)
    NAME.TAG.log.jsonl            the training log (each line tagged with its stage)
    NAME.TAG.json                 provenance: recipe, command, data, hardware, wall time, metrics

rewrites the shipped-weights section of MODEL_CARD.md from every NAME.TAG.json there, and
prints the ``PACKAGED_WEIGHTS`` entry to add to zerosnet_zoo/models/zerosnet.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import torch

from zerosnet_zoo import cli
from zerosnet_zoo.hub import training_summary
from zerosnet_zoo.io import atomic_path, checkpoint_file
from zerosnet_zoo.weights import HF_ORGANIZATION, WEIGHTS_DIR, sha256_of

# Paper Table 4 (CIFAR-10 top-1, mean of 3 seeds, 160 epochs, lr / 10 at 1/2 and 3/4).
PAPER_TABLE_4 = {
    'preresnet': {20: 91.25, 32: 92.49, 44: 92.83, 56: 93.03, 110: 93.63},
    'lmresnet': {20: 91.67, 32: 92.82, 44: 93.34, 56: 93.69, 110: 93.84},
    'zerosnet_opt': {20: 92.01, 32: 93.28, 44: 93.68, 56: 94.04, 110: 94.35},
    'zerosnet_tra': {20: 92.32, 32: 93.07, 44: 93.69, 56: 93.80, 110: 94.30},
}
# Paper Table 6: the optimal ZeroSNet at depth 56 on CIFAR-10, clean and under each noise.
PAPER_TABLE_6_OPT_56 = {'clean': 94.04, 'uniform[-0.08,0]': 88.31, 'uniform[0,0.08]': 87.64, 'gaussian0.01': 92.96,
                        'gaussian0.02': 89.67, 'gaussian0.04': 74.49, 'constant0.3': 88.78}
DATASET = 'CIFAR-10 (JPEG q75)'
MODEL_CARD = Path(__file__).resolve().parents[1] / 'MODEL_CARD.md'
BEGIN, END = '<!-- shipped-weights:begin -->', '<!-- shipped-weights:end -->'


def measure(argv: list[str]) -> dict:
    """Run ``zerosnet-zoo eval ... --json`` and return its result."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(['eval', *argv, '--json'])
    if status != 0:
        raise SystemExit(f'zerosnet-zoo eval {" ".join(argv)} failed with status {status}')
    return json.loads(out.getvalue())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def training_stages(run: Path) -> list[dict]:
    """A finished run and, when it was a warm restart (``--init-from``), the runs it continued, oldest first."""
    stages = []
    while True:
        if not (run / 'args.json').is_file():
            raise SystemExit(f'{run} holds no train/cifar.py run (no args.json)')
        recipe = json.loads((run / 'args.json').read_text())
        log = read_jsonl(run / 'log.jsonl')
        if len(log) != recipe['epochs'] or not (run / 'model.safetensors').is_file():
            raise SystemExit(f'{run} is not a finished run: {len(log)} of {recipe["epochs"]} epochs logged')
        stages.insert(0, {'recipe': recipe, 'log': log})
        if not recipe.get('init_from'):
            return stages
        start = checkpoint_file(recipe['init_from'])
        if not (start.parent / 'args.json').is_file():
            # Continued from a released weight: its record already holds every earlier stage.
            return released_stages(start) + stages
        run = start.parent


def released_stages(weights: Path) -> list[dict]:
    """The stages of a weight this script released, from the NAME.TAG.json beside it with the same sha256."""
    sha = sha256_of(weights)
    for path in weights.parent.glob('*.json'):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and record.get('sha256') == sha:
            log = read_jsonl(path.parent / f"{record['name']}.log.jsonl")
            return [{'recipe': stage['recipe'],
                     'log': [{k: v for k, v in line.items() if k != 'stage'} for line in log if line['stage'] == i]}
                    for i, stage in enumerate(record['stages'], start=1)]
    raise SystemExit(f'{weights} is neither in a train/cifar.py run directory nor a weight released by '
                     'train/release.py (no NAME.TAG.json with its sha256 beside it); release the run it came from')


def train_commands(stages: list[dict], data_dir: str) -> list[str]:
    """The train/cifar.py command lines that reproduce the stages, each from the one before.

    A stage continues from the previous stage's output (the very file, or a released copy of
    it with the same sha256), so the commands chain whatever path the run itself was given.
    """
    commands, previous = [], None
    for stage in stages:
        recipe = stage['recipe']
        flags = ' '.join(f'--{k.replace("_", "-")} {v}' for k, v in recipe.items()
                         if k in ('epochs', 'batch_size', 'lr', 'momentum', 'weight_decay', 'schedule', 'seed')
                         or k in ('swa_epochs', 'swa_lr') and recipe.get('swa_epochs'))
        commands.append(f"python train/cifar.py --model {recipe['model']} --data-dir {data_dir} {flags}"
                        + (' --channels-last' if recipe.get('channels_last') else '')
                        + (f' --init-from {Path(previous) / "model.safetensors"}' if previous else '')
                        + f" --output {recipe['output']}")
        previous = recipe['output']
    return commands


def paper_reference(model: str) -> dict | None:
    family, _, depth = model.rpartition('_')
    top1 = PAPER_TABLE_4.get(family, {}).get(int(depth)) if depth.isdigit() else None
    if top1 is None:
        return None
    return {'top1': top1, 'source': 'paper Table 4',
            'recipe': '160 epochs, lr / 10 at 1/2 and 3/4 of training, mean of 3 seeds'}


def render_shipped_weights(records: list[dict]) -> str:
    """The MODEL_CARD.md section for the shipped weights, from their provenance records."""
    names = [r['name'] for r in records]
    lines = [BEGIN, '',
             f'Every weight below was trained from scratch by `train/cifar.py` on {DATASET}: the JPEG '
             're-encoding of CIFAR-10 in `shared/data/cifar10-jpeg`, so not the original lossless images. '
             'Metrics are on its full 10,000-image test split; reproduce them with the `eval` command given '
             'for each weight.', '',
             '| weight | top-1 % | top-5 % | paper top-1 % (Table 4) | epochs | wall time | sha256 |',
             '|---|---|---|---|---|---|---|']
    for r in records:
        paper = r['paper']['top1'] if r.get('paper') else ''
        lines.append(f"| `{r['name']}` | {r['test']['top1']:.2f} | {r['test']['top5']:.2f} | {paper} | "
                     f"{r['epochs']} | {r['train_seconds'] / 3600:.2f} h | `{r['sha256'][:12]}...` |")
    lines += ['', "The paper's Table 4 numbers are the mean of 3 seeds after 160 epochs on the original "
              'CIFAR-10; ours are one seed at a CPU budget (see each recipe).', '',
              '### Robustness', '',
              'Top-1 % under the input noises of the paper (SPEC section 5; seed 1, noise in [0, 1] pixel space, '
              'clipped, then normalized) on the full test split, and under L-infinity attacks on a seeded '
              "subset. The paper's column is its Table 6: ZeroSNet-Opt at depth 56 on the original CIFAR-10, "
              'for scale only (a deeper network, a longer recipe, other data).', '',
              '| setting | ' + ' | '.join(f'`{n}`' for n in names) + ' | paper, ZeroSNet-Opt-56 |',
              '|---' * (len(names) + 2) + '|']
    lines.append('| clean | ' + ' | '.join(f"{r['test']['top1']:.2f}" for r in records)
                 + f" | {PAPER_TABLE_6_OPT_56['clean']} |")
    for noise in records[0]['noise']:
        lines.append(f'| {noise} | ' + ' | '.join(f"{r['noise'][noise]:.2f}" for r in records)
                     + f' | {PAPER_TABLE_6_OPT_56.get(noise, "")} |')
    for attack, a in records[0]['attacks'].items():
        steps = f", {a['steps']} steps" if attack == 'pgd' else ''
        lines.append(f"| {attack.upper()} eps={a['eps']:.4g}{steps} ({a['images']:,} images) | "
                     + ' | '.join(f"{r['attacks'][attack]['top1']:.2f}" for r in records) + ' |  |')
    lines += ['', '### Provenance', '']
    for r in records:
        lines += [f"**`{r['name']}`**", '',
                  f"- Trained with: `{r['command']}`",
                  f"- Recipe: {training_summary(r)}.",
                  f"- Hardware: {r['hardware']}; torch {r['torch']}; wall time {r['train_seconds'] / 3600:.2f} h "
                  f"(the sum of the log's epoch times).",
                  f"- Training log: `zerosnet_zoo/weights/{r['name']}.log.jsonl` (last epoch: train top-1 "
                  f"{r['final_epoch']['train_acc']:.2f} %, loss {r['final_epoch']['train_loss']:.4f}).",
                  f"- Weights: `zerosnet_zoo/weights/{r['name']}-{r['sha256']}.safetensors`, "
                  f"Hub copy `hf-hub:{HF_ORGANIZATION}/{r['name']}`.",
                  f"- Metrics: `{r['eval_command']}`; attacks: `{r['attack_command']}`.", '']
    return '\n'.join(lines + [END])


def update_model_card(path: Path = MODEL_CARD, weights_dir: Path = WEIGHTS_DIR) -> None:
    """Rewrite the shipped-weights section of MODEL_CARD.md from the provenance records."""
    records = [json.loads(p.read_text()) for p in sorted(weights_dir.glob('*.json'))]
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    with atomic_path(path) as tmp:
        tmp.write_text(text[:start] + render_shipped_weights(records) + text[end:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run', required=True, help='a finished train/cifar.py output directory')
    p.add_argument('--name', required=True, help='NAME.TAG of the weight, e.g. zerosnet_opt_20.cifar10')
    p.add_argument('--data-dir', required=True, help='the CIFAR-10 ImageFolder root the run used')
    p.add_argument('--hardware', required=True, help='what the run trained on, for the provenance')
    p.add_argument('--attack-images', type=int, default=2000, help='seeded test subset for FGSM and PGD')
    p.add_argument('--weights-dir', type=Path, default=WEIGHTS_DIR, help='default: the package (%(default)s)')
    args = p.parse_args(argv)

    stages = training_stages(Path(args.run))
    model, weights = stages[-1]['recipe']['model'], Path(args.run) / 'model.safetensors'
    if args.name.split('.')[0] != model:
        raise SystemExit(f'{args.run} trained {model}, not {args.name}')

    common = ['--model', args.name, '--checkpoint', str(weights), '--data-dir', args.data_dir]
    clean = measure([*common, '--robustness'])
    attacks = {name: measure([*common, '--limit', str(args.attack_images), '--attack', name])['attacks'][name]
               for name in ('fgsm', 'pgd')}
    for result in attacks.values():
        result['images'] = args.attack_images

    sha = sha256_of(weights)
    log = [{**line, 'stage': i + 1} for i, stage in enumerate(stages) for line in stage['log']]
    commands = train_commands(stages, args.data_dir)
    pretrained = f'zerosnet-zoo eval --model {args.name} --pretrained --data-dir {args.data_dir}'
    record = {
        'name': args.name,
        'model': model,
        'sha256': sha,
        'dataset': DATASET,
        'stages': [{'recipe': s['recipe'], 'command': command,
                    'epochs': len(s['log']), 'train_seconds': sum(r['seconds'] for r in s['log'])}
                   for s, command in zip(stages, commands)],
        'epochs': len(log),
        'command': ' && '.join(commands),
        'hardware': args.hardware,
        'torch': torch.__version__,
        'train_seconds': sum(r['seconds'] for r in log),
        'final_epoch': log[-1],
        'test': {'images': clean['images'], 'top1': clean['clean'], 'top5': clean['top5']},
        'noise': clean['noise'],
        'attacks': attacks,
        'eval_command': f'{pretrained} --robustness',
        'attack_command': f'{pretrained} --limit {args.attack_images} --attack fgsm|pgd',
        'paper': paper_reference(model),
    }
    for old in args.weights_dir.glob(f'{args.name}-*.safetensors'):
        old.unlink()
    with atomic_path(args.weights_dir / f'{args.name}-{sha}.safetensors') as tmp:
        shutil.copyfile(weights, tmp)
    with atomic_path(args.weights_dir / f'{args.name}.log.jsonl') as tmp:
        tmp.write_text(''.join(json.dumps(line) + '\n' for line in log))
    with atomic_path(args.weights_dir / f'{args.name}.json') as tmp:
        tmp.write_text(json.dumps(record, indent=2) + '\n')
    if args.weights_dir == WEIGHTS_DIR:
        update_model_card()
    print(json.dumps({k: record[k] for k in ('name', 'test', 'noise', 'attacks')}, indent=2))
    print(f"add to PACKAGED_WEIGHTS in zerosnet_zoo/models/zerosnet.py:\n    '{args.name}': '{sha}',")
    return 0


if __name__ == '__main__':
    sys.exit(main())
