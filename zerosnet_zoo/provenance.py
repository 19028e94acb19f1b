"""A weight's provenance record (``zerosnet_zoo/weights/NAME.TAG.json``) in words.

The record is what ``train/release.py`` writes: the training stages with their recipes.  The
model card, the Hub card and the release script describe a weight with these sentences.
"""

from __future__ import annotations

from .evaluate import amp_dtype

__all__ = ['INITIALIZATIONS', 'initialization', 'seeds_summary', 'training_summary']


def training_summary(record: dict) -> str:
    """The recipe of a provenance record in words; a warm restart is described stage by stage."""
    staged = len(record['stages']) > 1
    clauses = []
    for i, stage in enumerate(record['stages']):
        r = stage['recipe']
        momentum = f"{'Nesterov ' if r.get('nesterov') else ''}momentum {r['momentum']}"
        if r['schedule'] == 'onecycle':
            schedule = (f"peak lr {r['lr']} on one cycle (warm-up over {r['warmup_fraction']:.0%} of the steps, then "
                        "annealing to about 0: torch's OneCycleLR)")
        else:
            schedule = f"lr {r['lr']} with a {r['schedule']} schedule"
        clause = (f"SGD ({momentum}), {schedule}, weight decay {r['weight_decay']}, batch {r['batch_size']}, "
                  f"{stage['epochs']} epochs, seed {r['seed']}")
        if r.get('label_smoothing'):
            clause += f", label smoothing {r['label_smoothing']}"
        if r.get('flip') == 'alternating':
            clause += ', the horizontal flip alternating (each image mirrored in every other epoch)'
        if r.get('amp'):
            clause += f", mixed precision ({str(amp_dtype(r.get('device', 'cpu'))).removeprefix('torch.')} autocast)"
        if r.get('ema_decay'):
            clause += (f", the output being the exponential moving average of the weights (decay {r['ema_decay']} per step, "
                       "after timm's warm-up of the decay)")
        if r.get('swa_epochs'):
            clause += (f", the last {r['swa_epochs']} epochs at lr {r['swa_lr']} with their weights averaged "
                       '(stochastic weight averaging, batch-norm statistics recomputed)')
        if staged:
            clause = f'stage {i + 1}, {_start(r, i)}: {clause}'
        else:
            clause = f'{_start(r, i)}: {clause}'
        clauses.append(clause)
    prefix = f"{record['epochs']} epochs in all; " if staged else ''
    return prefix + '; '.join(clauses) + '; random crop 32 (padding 4) and horizontal flip'


def seeds_summary(record: dict) -> str:
    """How many stages a provenance record's weight was trained in, and their seeds in order."""
    seeds = [str(stage['recipe']['seed']) for stage in record['stages']]
    if len(seeds) == 1:
        return f'one run, seed {seeds[0]}'
    return f"one run in {len(seeds)} stages, seeds {', '.join(seeds)}"


INITIALIZATIONS = {
    'reference': "the reference code's random initialization (Kaiming normal)",
    'zero_init_last': "timm's random initialization (Kaiming normal, each residual branch's last convolution at zero)",
}


def initialization(recipe: dict) -> str:
    """'reference' or 'zero_init_last': how a train/cifar.py run initialized its model."""
    if 'init' in recipe:
        return recipe['init']
    # runs from before train/cifar.py recorded it were built with timm.create_model's default
    explicit = [k.split('=', 1)[1].lower() for k in recipe.get('model_kwargs') or [] if k.startswith('zero_init_last=')]
    return 'reference' if explicit == ['false'] else 'zero_init_last'


def _start(recipe: dict, i: int) -> str:
    """How stage ``i + 1`` began."""
    if i == 0:
        return f'from {INITIALIZATIONS[initialization(recipe)]}'
    init_from = recipe.get('init_from')
    released = f", released as `{init_from['weight']}` (sha256 {init_from['sha256'][:12]}...)" \
        if init_from and 'weight' in init_from else ''
    return f'a warm restart from the weights of stage {i}{released}'
