"""Turn a finished train/cifar.py run into a weight shipped inside the package.

    python train/release.py --run runs/weights/zerosnet_opt_20 --name zerosnet_opt_20.cifar10 \\
        --data-dir DATA --hardware "2-core AMD EPYC, 1 thread"

DATA is the CIFAR-10 root the run trained on (an ImageFolder with train/ and test/, or a
torchvision CIFAR-10 root).  A run started with ``--init-from`` (a warm restart) is released
with the runs it continued: their recipes and logs become the weight's training stages.  When
it continued a released weight (the package's own file, say), the stages recorded in that
weight's NAME.TAG.json are taken over.  A stage's ``init_from`` names what a reader can find:
the released weight it started from (NAME.TAG and the sha256 of the file, which stays in the
repository's history after a newer release replaces it), or else the command of the stage
that made it.

It measures the weight as ``zerosnet-zoo eval`` does (``zerosnet_zoo.evaluate.evaluate``:
clean top-1/top-5 and the paper's input noises on the whole test split, FGSM and PGD on a
seeded subset), then writes into zerosnet_zoo/weights/:

    NAME.TAG-SHA256.safetensors   the weights (the name pins their sha256)
    NAME.TAG.log.jsonl            the training log (each line tagged with its stage)
    NAME.TAG.json                 provenance: recipe, commands, hardware, wall time, metrics, paper

and rewrites the shipped-weights section of MODEL_CARD.md from every NAME.TAG.json there.
``--remeasure --name NAME.TAG --data-dir DATA`` measures a released weight again and rewrites
the metrics of its record, leaving what it says of the training as it is.
The package finds its weights by these files, so a release edits no Python.  The commands
in the record and the card write the data folder as ``DATA`` and a run folder given as an
absolute path as ``runs/NAME``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from zerosnet_zoo import paper
from zerosnet_zoo.checkpoints import checkpoint_file
from zerosnet_zoo.building import Checkpoint, checkpoint_model
from zerosnet_zoo.data import load_split
from zerosnet_zoo.evaluate import ATTACKS, NOISES, AttackResult, evaluate
from zerosnet_zoo.files import atomic_path
from zerosnet_zoo.models.zerosnet import fits_published_weights, published_scheme
from zerosnet_zoo.plots import plot_accuracy_curves
from zerosnet_zoo.provenance import initialization, seeds_summary, training_summary
from zerosnet_zoo.weights import HF_ORGANIZATION, WEIGHTS_DIR, curves_file, sha256_of

if __package__:  # imported as train.release (the tests)
    from . import cifar
else:  # run as python train/release.py, whose folder is on sys.path
    import cifar

DATASET = 'CIFAR-10 (JPEG q75)'
DATA = 'DATA'  # how the commands in records and cards name the CIFAR-10 root
MODEL_CARD = Path(__file__).resolve().parents[1] / 'MODEL_CARD.md'
BEGIN, END = '<!-- shipped-weights:begin -->', '<!-- shipped-weights:end -->'


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def training_stages(run: Path, weights_dir: Path = WEIGHTS_DIR) -> list[dict]:
    """A finished run and, when it was a warm restart (``--init-from``), the runs it continued, oldest first.

    Each stage is {recipe, log, command}.  In the recipe of every stage this walk finds, ``init_from``
    (a path on the machine that trained it) becomes ``start_record``'s account of that file.
    """
    found = []  # (recipe, log, the file it started from), newest first
    while True:
        if not (run / 'args.json').is_file():
            raise SystemExit(f'{run} holds no train/cifar.py run (no args.json)')
        recipe = json.loads((run / 'args.json').read_text())
        log = read_jsonl(run / 'log.jsonl')
        if len(log) != recipe['epochs'] or not (run / 'model.safetensors').is_file():
            raise SystemExit(f'{run} is not a finished run: {len(log)} of {recipe["epochs"]} epochs logged')
        start = checkpoint_file(recipe['init_from']) if recipe.get('init_from') else None
        # the record names no path of the machine that trained it
        recipe['data_dir'], recipe['output'] = DATA, portable_output(recipe['output'])
        if start is None:  # a run from scratch: say how its model was initialized
            recipe['init'] = initialization(recipe)
        found.append((recipe, log, start))
        if start is None:
            earlier = []
            break
        if not (start.parent / 'args.json').is_file():
            # Continued from a released weight: its record already holds every earlier stage.
            earlier = released_stages(start)
            break
        run = start.parent
    stages = earlier + [{'recipe': recipe, 'log': log} for recipe, log, _ in reversed(found)]
    for stage, command in zip(stages, train_commands(stages)):
        stage['command'] = command
    for i, (recipe, _, start) in enumerate(reversed(found), start=len(earlier)):
        if start is not None:
            recipe['init_from'] = start_record(start, i, stages[i - 1]['command'], weights_dir)
    return stages


def portable_output(output: str) -> str:
    """How a record writes a run folder: an absolute path of the training machine becomes ``runs/NAME``
    (a relative one is kept).  The commands chain the stages by these names, so they stay consistent."""
    path = Path(output)
    return str(Path('runs') / path.name) if path.is_absolute() else output


def start_record(start: Path, stage: int, command: str, weights_dir: Path) -> dict:
    """What a stage started from, as a reader can find it: the output of ``stage`` (numbered from 1),
    the released weight with that file's sha256 (looked up beside the file and in ``weights_dir``),
    or else the command that made it."""
    sha = sha256_of(start)
    record = _released_record(sha, [start.parent, weights_dir])
    found = {'weight': record['name']} if record else {'command': command}
    return {'stage': stage, **found, 'sha256': sha}


def _released_record(sha: str, folders: list[Path]) -> dict | None:
    """The NAME.TAG.json of the weight with this sha256, in the first folder that has one."""
    for folder in folders:
        for path in sorted(folder.glob('*.json')):
            record = json.loads(path.read_text())
            if isinstance(record, dict) and record.get('sha256') == sha:
                return record
    return None


def released_stages(weights: Path) -> list[dict]:
    """The stages of a weight this script released, from the NAME.TAG.json beside it with the same sha256."""
    record = _released_record(sha256_of(weights), [weights.parent])
    if record is None:
        raise SystemExit(f'{weights} is neither in a train/cifar.py run directory nor a weight released by '
                         'train/release.py (no NAME.TAG.json with its sha256 beside it); release the run it came from')
    log = read_jsonl(weights.parent / f"{record['name']}.log.jsonl")
    return [{'recipe': stage['recipe'],
             'log': [{k: v for k, v in line.items() if k != 'stage'} for line in log if line['stage'] == i]}
            for i, stage in enumerate(record['stages'], start=1)]


# train/cifar.py's flags that take a value (its booleans are written as --[no-]nesterov and --amp)
VALUE_FLAGS = (*(k for k in cifar.RECIPES['paper'] if k != 'nesterov'), 'seed', 'train_subset', 'test_subset')


def _spelled_out(recipe: dict, key: str) -> bool:
    """Whether a command writes this train/cifar.py value: every one that is set, except an off
    value (0) the command's preset fills in by itself.  Keys a record predates are absent, as the
    run had their default."""
    value = recipe[key]
    if key not in VALUE_FLAGS or value is None:
        return False
    if key == 'warmup_fraction':
        return recipe['schedule'] == 'onecycle'  # no other schedule reads it
    return bool(value) or value != cifar.RECIPES[recipe.get('recipe', 'paper')].get(key)


def train_commands(stages: list[dict]) -> list[str]:
    """The train/cifar.py command lines that reproduce the stages, each from the one before.

    A stage continues from the previous stage's output (the very file, or a released copy of
    it with the same sha256), so the commands chain the output folders the runs were given.
    The data folder is written ``DATA``.
    """
    commands, previous = [], None
    for stage in stages:
        recipe = stage['recipe']
        flags = ' '.join(f'--{k.replace("_", "-")} {v}' for k, v in recipe.items() if _spelled_out(recipe, k))
        if recipe.get('nesterov'):
            flags += ' --nesterov'
        elif 'nesterov' in recipe and cifar.RECIPES[recipe.get('recipe', 'paper')]['nesterov']:
            flags += ' --no-nesterov'  # the preset's default is Nesterov momentum
        if recipe.get('amp'):
            flags += ' --amp'
        if recipe.get('recipe', 'paper') != 'paper':  # the preset's name, for the reader; every value is spelled out
            flags = f"--recipe {recipe['recipe']} {flags}"
        if recipe.get('dataset', 'cifar10') != 'cifar10':
            flags += f" --dataset {recipe['dataset']}"
        if recipe.get('model_kwargs'):
            flags += ' --model-kwargs ' + ' '.join(recipe['model_kwargs'])
        explicit = any(k.startswith('zero_init_last=') for k in recipe.get('model_kwargs') or [])
        if previous is None and initialization(recipe) == 'zero_init_last' and not explicit:
            flags += ' --zero-init-last'
        commands.append(f"python train/cifar.py --model {recipe['model']} --data-dir {DATA} {flags}"
                        + (' --channels-last' if recipe.get('channels_last') else '')
                        + (f' --init-from {Path(previous) / "model.safetensors"}' if previous else '')
                        + f" --output {recipe['output']}")
        previous = recipe['output']
    return commands


def paper_reference(model: str) -> dict | None:
    """The paper's CIFAR-10 number for this model (Table 4), with the paper's row and whose number it is."""
    reported = paper.table_4(model, 'cifar10')
    if reported is None:
        return None
    return {'top1': reported.top1, 'table': 'Table 4, CIFAR-10', 'row': reported.row, 'source': reported.source,
            'note': reported.note}


def attack_record(result: AttackResult, images: int) -> dict:
    """An attack's result as the record keeps it, with the size of the subset it ran on."""
    return {**result.to_dict(), 'images': images}


def measure(checkpoint: Checkpoint, name_tag: str, data_dir: str, attack_images: int) -> dict:
    """The metrics a record keeps, measured as ``zerosnet-zoo eval`` does: clean top-1/top-5 with and
    without flip TTA and under the paper's noises on the whole test split, FGSM and PGD on a seeded subset."""
    network, _, dataset, _ = checkpoint
    data = load_split(data_dir, 'test', dataset)
    clean = evaluate(network, data, NOISES, flip=True)
    attacked = evaluate(network, data.subset(attack_images), attacks=ATTACKS)
    pretrained = f'zerosnet-zoo eval --model {name_tag} --pretrained --data-dir {DATA}'
    return {
        'test': {'images': clean.images, 'top1': clean.clean, 'top5': clean.top5},
        'test_flip': {'top1': clean.flip['clean'], 'top5': clean.flip['top5']},
        'noise': clean.noise,
        'attacks': {name: attack_record(result, attacked.images) for name, result in attacked.attacks.items()},
        'eval_command': f'{pretrained} --flip --robustness',
        'attack_command': f'{pretrained} --limit {attack_images} --attack fgsm|pgd',
    }


def remeasure(name_tag: str, data_dir: str, attack_images: int, weights_dir: Path = WEIGHTS_DIR) -> dict:
    """Measure a released weight again (after the evaluation has grown a metric, say) and rewrite the
    metrics of its record; what the record says of its training is kept as it is."""
    path = weights_dir / f'{name_tag}.json'
    if not path.is_file():
        raise SystemExit(f'{name_tag} is not released in {weights_dir} (no {path.name}); release a run with --run')
    record = json.loads(path.read_text())
    weights = weights_dir / f"{name_tag}-{record['sha256']}.safetensors"
    if not weights.is_file() or sha256_of(weights) != record['sha256']:
        raise SystemExit(f"{weights} is missing or does not match the sha256 in {path.name}")
    record.update(measure(checkpoint_model(weights, name_tag), name_tag, data_dir, attack_images))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + '\n')
    return record


def render_shipped_weights(records: list[dict], curves: dict[str, Path] | None = None) -> str:
    """The MODEL_CARD.md section for the shipped weights, from their provenance records, with the
    pictures of ``curves`` (title -> PNG in the weights folder)."""
    curves = curves or {}
    names = [r['name'] for r in records]
    lines = [BEGIN, '',
             '(This section is generated by `train/release.py` from the provenance records '
             '`zerosnet_zoo/weights/NAME.TAG.json`.)', '',
             f'Every weight below was trained from scratch by `train/cifar.py` on {DATASET}: CIFAR-10 '
             're-encoded as JPEG quality 75, in ImageFolder layout (`train/`, `test/`), so not the original '
             'lossless images. Metrics are on its full 10,000-image test split. In the commands, `DATA` is '
             'that folder; they run on any CIFAR-10 ImageFolder or torchvision CIFAR-10 root, but the numbers '
             'are for the JPEG copy.', '',
             '| weight | top-1 % | top-5 % | with flip TTA, top-1 / top-5 % | epochs | training | wall time | sha256 '
             '| paper, CIFAR-10 top-1 % (Table 4) |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in records:
        reported = f"{r['paper']['top1']:.2f}: {r['paper']['row']} ({r['paper']['source']})" if r.get('paper') else ''
        flip = f"{r['test_flip']['top1']:.2f} / {r['test_flip']['top5']:.2f}"
        lines.append(f"| `{r['name']}` | {r['test']['top1']:.2f} | {r['test']['top5']:.2f} | {flip} | {r['epochs']} | "
                     f"{seeds_summary(r)} | {r['train_seconds'] / 3600:.2f} h | `{r['sha256'][:12]}...` | "
                     f"{reported} |")
    lines += ['', 'The released number is the one without test-time augmentation; with flip TTA the logits of each '
              'image and of its mirror image are averaged (`zerosnet-zoo eval --flip`). Each weight is a single '
              'training run (when continued in stages, each stage drew its own seed, listed in order), so it is '
              'one sample, not a mean over independent runs.']
    if curves:
        lines += ['', '### Test accuracy during training', '',
                  "Test top-1 after every epoch, from the weights' training logs "
                  '(`zerosnet_zoo/weights/NAME.TAG.log.jsonl`); a dashed line or a star is the average of the weights '
                  'that a run outputs (an exponential moving average, or stochastic weight averaging).', '']
        lines += [f'![{title}](zerosnet_zoo/weights/{path.name})' for title, path in curves.items()]
    quoted = {r['paper']['row']: r['paper'] for r in records if r.get('paper')}
    if quoted:
        lines += ['', "The paper's column is its Table 4, on the original lossless CIFAR-10. The authors' own runs "
                  f"follow its recipe ({paper.CIFAR_EPOCHS['cifar10']} epochs, lr / 10 at 1/2 and 3/4 of training) "
                  f'and report the mean of {paper.RUNS}; a number it quotes comes from the paper it cites. By row:', '']
        lines += [f"- {row}: {q['source']}" + (f"; {q['note']}" if q['note'] else '') + '.' for row, q in quoted.items()]
    lines += ['', '### Robustness', '',
              "Top-1 % under the input noises of the paper's Table 6 (seed 1; noise added in [0, 1] pixel "
              'space, clipped, then normalized) on the full test split, and under L-infinity attacks on a seeded '
              f"subset. The paper's column is its Table 6: ZeroSNet-Opt at depth {paper.TABLE_6_DEPTH} on the "
              'original CIFAR-10, for scale only (a deeper network, a longer recipe, other data).', '',
              '| setting | ' + ' | '.join(f'`{n}`' for n in names) + f' | paper, ZeroSNet-Opt-{paper.TABLE_6_DEPTH} |',
              '|---' * (len(names) + 2) + '|']
    lines.append('| clean | ' + ' | '.join(f"{r['test']['top1']:.2f}" for r in records)
                 + f" | {paper.TABLE_6_OPTIMAL['clean']:.2f} |")
    for noise in records[0]['noise']:
        lines.append(f'| {noise} | ' + ' | '.join(f"{r['noise'][noise]:.2f}" for r in records)
                     + f' | {paper.TABLE_6_OPTIMAL[noise]:.2f} |')
    for attack, a in records[0]['attacks'].items():
        steps = f", {a['steps']} steps" if attack == 'pgd' else ', one step'
        lines.append(f"| {attack.upper()} eps={a['eps']:.4g}{steps} ({a['images']:,} images) | "
                     + ' | '.join(f"{r['attacks'][attack]['top1']:.2f}" for r in records) + ' |  |')
    lines += ['', '### Provenance', '',
              "A stage's record names what it started from: the earlier stage's weight as released (NAME.TAG and "
              'the sha256 of the file; a release replaced by a newer one stays in the repository history as '
              '`zerosnet_zoo/weights/NAME.TAG-SHA256.safetensors`), or else the command that made it.', '']
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


def curve_plots(records: list[dict], weights_dir: Path = WEIGHTS_DIR) -> dict[str, Path]:
    """Draw the test-accuracy curves of the shipped weights, one picture per data set and depth
    (ZeroSNet beside its PreResNet baseline), from their logs; returns {title: PNG path}."""
    groups: dict[Path, list[dict]] = {}
    for r in records:
        groups.setdefault(curves_file(r['name'], weights_dir), []).append(r)
    plots = {}
    for path, group in sorted(groups.items()):
        curves, dashed, points = {}, [], {}
        for r in group:
            log = read_jsonl(weights_dir / f"{r['name']}.log.jsonl")
            curves[r['name']] = [line['test_acc'] for line in log]
            average = f"{r['name']}, weight average"
            if all('ema_test_acc' in line for line in log):
                curves[average] = [line['ema_test_acc'] for line in log]
                dashed.append(average)
            elif 'swa_test_acc' in log[-1]:  # SWA: the average exists at the end only
                points[average] = (len(log), log[-1]['swa_test_acc'])
        title = f"{DATASET}, depth {group[0]['model'].rpartition('_')[2]}: test top-1 per epoch"
        plots[title] = path
        plot_accuracy_curves(curves, path, title, dashed, points)
    return plots


def update_model_card(path: Path = MODEL_CARD, weights_dir: Path = WEIGHTS_DIR) -> None:
    """Rewrite the shipped-weights section of MODEL_CARD.md, and its pictures, from the provenance records."""
    records = [json.loads(p.read_text()) for p in sorted(weights_dir.glob('*.json'))]
    curves = curve_plots(records, weights_dir)
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    with atomic_path(path) as tmp:
        tmp.write_text(text[:start] + render_shipped_weights(records, curves) + text[end:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--card-only', action='store_true', help='release nothing: redraw the curves and rewrite '
                                                               "MODEL_CARD.md's weights section from the records")
    p.add_argument('--remeasure', action='store_true', help='release nothing: measure the released weight '
                                                               '--name again and rewrite the metrics of its record')
    p.add_argument('--run', help='a finished train/cifar.py output directory')
    p.add_argument('--name', help='NAME.TAG of the weight, e.g. zerosnet_opt_20.cifar10')
    p.add_argument('--data-dir', help='the CIFAR-10 root the run used (ImageFolder or torchvision)')
    p.add_argument('--hardware', help='what the run trained on, for the provenance')
    p.add_argument('--attack-images', type=int, default=2000, help='seeded test subset for FGSM and PGD')
    p.add_argument('--weights-dir', type=Path, default=WEIGHTS_DIR, help='default: the package (%(default)s)')
    args = p.parse_args(argv)
    if args.card_only:
        update_model_card()
        return 0
    def require(*keys: str, what: str) -> None:
        missing = [f'--{k.replace("_", "-")}' for k in keys if not getattr(args, k)]
        if missing:
            raise SystemExit(f"release.py: error: {what} needs {', '.join(missing)}")

    if args.remeasure:
        require('name', 'data_dir', what='--remeasure')
        record = remeasure(args.name, args.data_dir, args.attack_images, args.weights_dir)
        if args.weights_dir == WEIGHTS_DIR:
            update_model_card()
        print(json.dumps({k: record[k] for k in ('name', 'test', 'test_flip', 'noise', 'attacks')}, indent=2))
        return 0
    require('run', 'name', 'data_dir', 'hardware', what='a release (without --card-only or --remeasure)')

    stages = training_stages(Path(args.run), args.weights_dir)
    model, weights = stages[-1]['recipe']['model'], Path(args.run) / 'model.safetensors'
    if args.name.split('.')[0] != model:
        raise SystemExit(f'{args.run} trained {model}, not {args.name}')
    dataset = stages[-1]['recipe'].get('dataset', 'cifar10')
    if args.name != f'{model}.cifar10' or dataset != 'cifar10':  # the card's data and the paper's column
        raise SystemExit(f'a release publishes CIFAR-10 weights as {model}.cifar10, measured on {DATASET}; '
                         f'{args.run} trained on {dataset} and --name is {args.name}')

    checkpoint = checkpoint_model(weights, args.name)
    if not all(fits_published_weights(model, s) for s in checkpoint.model.schemes()):
        given = ' '.join(stages[-1]['recipe']['model_kwargs'])
        raise SystemExit(f'{args.run} trained {model} with --model-kwargs {given}, but {args.name} is loaded '
                         f'without them, as {published_scheme(model)}; share this run with zerosnet-zoo export instead')
    sha = sha256_of(weights)
    log = [{**line, 'stage': i + 1} for i, stage in enumerate(stages) for line in stage['log']]
    record = {
        'name': args.name,
        'model': model,
        'sha256': sha,
        'dataset': DATASET,
        'stages': [{'recipe': s['recipe'], 'command': s['command'],
                    'epochs': len(s['log']), 'train_seconds': sum(r['seconds'] for r in s['log'])}
                   for s in stages],
        'epochs': len(log),
        'command': ' && '.join(s['command'] for s in stages),
        'hardware': args.hardware,
        'torch': torch.__version__,
        'train_seconds': sum(r['seconds'] for r in log),
        'final_epoch': log[-1],
        **measure(checkpoint, args.name, args.data_dir, args.attack_images),
        'paper': paper_reference(model),
    }
    packaged = args.weights_dir / f'{args.name}-{sha}.safetensors'
    with atomic_path(packaged) as tmp:
        shutil.copyfile(weights, tmp)
    with atomic_path(args.weights_dir / f'{args.name}.log.jsonl') as tmp:
        tmp.write_text(''.join(json.dumps(line) + '\n' for line in log))
    with atomic_path(args.weights_dir / f'{args.name}.json') as tmp:
        tmp.write_text(json.dumps(record, indent=2) + '\n')
    for old in args.weights_dir.glob(f'{args.name}-*.safetensors'):  # only once the new weight and record are in place
        if old != packaged:
            old.unlink()
    if args.weights_dir == WEIGHTS_DIR:
        update_model_card()
    print(json.dumps({k: record[k] for k in ('name', 'test', 'test_flip', 'noise', 'attacks')}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
