"""Train any registered model on CIFAR-10/100 with the paper's recipe.

    python train/cifar.py --model zerosnet_opt_20 --data-dir DATA --output runs/z20

Defaults are the paper's recipe (--recipe paper: ``zerosnet_zoo.paper.CIFAR_RECIPE`` and
``CIFAR_EPOCHS``): SGD, lr / 10 at 1/2 and 3/4 of training, random crop 32 with 4-pixel
padding and horizontal flip, and the reference code's initialization (Kaiming normal
convolutions; --zero-init-last starts each residual branch's last convolution at zero instead,
timm's convention).  --recipe fast is a preset for CPU budgets: one 36-epoch cycle of the
learning rate (peak 0.4), Nesterov momentum, weight decay 5e-4 and label smoothing 0.1
(RECIPES lists every value; a flag overrides one).
The recipe's values are printed at the start and recorded in args.json.  The data are
decoded once into uint8 tensors and augmented as batched tensor operations on the training
device.

The model is built from the pretrained config of --dataset (zerosnet_opt_20 becomes
zerosnet_opt_20.cifar100 with --dataset cifar100), so training, the logged test accuracy and
whoever loads the weights through that tag normalize with the same mean and std.

With --ema-decay D the weights' exponential moving average (decay D per step once timm's
warm-up of the decay reaches it) is kept, logged as 'ema_test_acc' and written as the output.
With --swa-epochs K the last K epochs hold the learning rate at --swa-lr and average the
weights at the end of each (stochastic weight averaging, torch.optim.swa_utils; a onecycle
schedule completes its cycle in the epochs before them); the average, with its batch-norm
statistics recomputed on the training data, is the output.  With --flip alternating each
training image is mirrored in every other epoch instead of at random (a seeded random half
first).

Output (OUT = --output):
  OUT/args.json          the parsed command line (the recipe), with 'init', the initialization
                         the model was built with ('reference' or 'zero_init_last'; --init-from
                         then replaces it), and the normalization 'mean' and 'std'
  OUT/log.jsonl          one JSON object per finished epoch ('seconds' is the whole epoch,
                         'train_seconds' its training steps with augmentation; with SWA the
                         last also holds 'swa_test_acc', the accuracy of the output, and
                         with --ema-decay every one holds 'ema_test_acc'; every one holds
                         'init' and 'threads', torch's CPU thread count; 'lr' is the rate
                         the epoch started at)
  OUT/model.safetensors  the final weights, for timm.create_model(NAME.DATASET, pretrained=True,
                         pretrained_cfg_overlay=dict(file=...), num_classes=...); its metadata
                         records model, model_kwargs, dataset, epochs, init, mean and std, which
                         `zerosnet-zoo eval --checkpoint OUT` uses
  OUT/checkpoint.pt      resume state (model, optimizer, scheduler, log), read back with
                         torch.load(weights_only=True)

Every file is replaced atomically.  Each epoch's randomness is a function of (seed, epoch)
alone, so a run killed at any moment and restarted with --resume ends with weights
bit-identical to an uninterrupted run (on the CPU).
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NoReturn

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.models import split_model_name_tag
from timm.utils import ModelEmaV3
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm import tqdm

import zerosnet_zoo  # noqa: F401  (registers the models)
from zerosnet_zoo import paper, stability
from zerosnet_zoo.checkpoints import checkpoint_file, load_weights
from zerosnet_zoo.building import check_model_name, create_model, dataset_model_name, parse_model_kwargs
from zerosnet_zoo.data import alternating_flips, load_split, normalize, random_crop_flip
from zerosnet_zoo.evaluate import accuracy, amp_dtype, slow_amp
from zerosnet_zoo.files import atomic_path


# Each recipe gives every training flag a value; args.json records the values a run used.
RECIPES = {
    # The paper's: SGD, lr 0.1 / 10 at 1/2 and 3/4 of 160 epochs (CIFAR-10; 300 for CIFAR-100).
    'paper': {**paper.CIFAR_RECIPE, 'epochs': None, 'nesterov': False, 'schedule': 'step', 'warmup_fraction': 0.25,
              'label_smoothing': 0.0, 'ema_decay': 0.0, 'swa_epochs': 0, 'swa_lr': None, 'flip': 'random'},
    # For a CPU budget (docs/recipes.md): one cycle of a 4x larger peak lr (Smith & Topin's
    # super-convergence), Nesterov momentum and label smoothing, picked by short runs on CIFAR-10
    # (JPEG q75), which found no gain in a moving average of the weights at the end of the cycle;
    # the network, its initialization and the augmentation stay the paper's.
    'fast': {'epochs': 36, 'batch_size': 128, 'lr': 0.4, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 5e-4,
             'schedule': 'onecycle', 'warmup_fraction': 0.25, 'label_smoothing': 0.1, 'ema_decay': 0.0,
             'swa_epochs': 0, 'swa_lr': None, 'flip': 'random'},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', required=True, help='a registered name, e.g. zerosnet_opt_56 (built with the config '
                                                   'of --dataset: zerosnet_opt_56.cifar100 for cifar100)')
    p.add_argument('--model-kwargs', nargs='*', default=[], metavar='K=V', help='e.g. lam=-1.2 coefficients=1,1,1,1')
    p.add_argument('--zero-init-last', action='store_true',
                   help="start each residual branch's last convolution at zero (timm's convention) instead of the "
                        "reference code's initialization the paper trained with; --model-kwargs zero_init_last=true|"
                        'false is honoured too but may not contradict this flag')
    p.add_argument('--dataset', choices=('cifar10', 'cifar100'), default='cifar10')
    p.add_argument('--data-dir', required=True, help='ImageFolder root with train/ and test/, or a torchvision CIFAR root')
    p.add_argument('--download', action='store_true', help="torchvision's download (needs a network)")
    epochs = ', '.join(f'{e} ({dataset})' for dataset, e in paper.CIFAR_EPOCHS.items())
    p.add_argument('--recipe', choices=sorted(RECIPES), default='paper',
                   help="the defaults of the flags below: 'paper' (the paper's recipe) or 'fast' (a one-cycle "
                        'recipe for CPU budgets); a flag given on the command line overrides its value')
    p.add_argument('--epochs', type=int, help=f'paper: {epochs}')
    p.add_argument('--batch-size', type=int)
    p.add_argument('--lr', type=float, help='the peak learning rate for --schedule onecycle')
    p.add_argument('--momentum', type=float)
    p.add_argument('--nesterov', action=argparse.BooleanOptionalAction)
    p.add_argument('--weight-decay', type=float)
    p.add_argument('--schedule', choices=('step', 'cosine', 'onecycle'),
                   help='step: lr / 10 at 1/2 and 3/4 of training; cosine: per epoch; onecycle: per step, '
                        "torch's OneCycleLR (warm-up, then annealing to about 0) at constant momentum")
    p.add_argument('--warmup-fraction', type=float, help="onecycle: the share of the steps spent warming up")
    p.add_argument('--label-smoothing', type=float)
    p.add_argument('--ema-decay', type=float, help='keep an exponential moving average of the weights, updated '
                                                   'every step, and output it (timm.utils.ModelEmaV3); 0 = off')
    p.add_argument('--swa-epochs', type=int, help='average the weights of the last this many epochs')
    p.add_argument('--swa-lr', type=float, help='the constant learning rate of the averaged epochs')
    p.add_argument('--flip', choices=('random', 'alternating'),
                   help='random: mirror each training image with probability 1/2; alternating: a seeded random '
                        'half in the first epoch, then each image the other way round from the epoch before')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--output', required=True, help='run directory')
    p.add_argument('--resume', action='store_true', help='continue the run in --output')
    p.add_argument('--init-from', metavar='SAFETENSORS',
                   help="start from these weights (an earlier run directory or its model.safetensors) with a fresh "
                        'optimizer and schedule: a warm restart')
    p.add_argument('--train-subset', type=int, help='train on a seeded random subset of this size')
    p.add_argument('--test-subset', type=int, help='evaluate on a seeded random subset of this size')
    p.add_argument('--workers', type=int, default=2, help='threads decoding the images')
    p.add_argument('--amp', action='store_true', help='mixed precision (bfloat16 on CPU, float16 on CUDA)')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    recipe = p.parse_known_args(argv)[0].recipe  # the preset fills in whatever the command line leaves out
    p.set_defaults(**RECIPES[recipe])
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = paper.CIFAR_EPOCHS[args.dataset]
    # Checks of values that parsed: one line each, without argparse's usage (kept for syntax errors).
    for flag in ('epochs', 'batch_size', 'train_subset', 'test_subset'):
        value = getattr(args, flag)
        if value is not None and value < 1:
            fail(f'--{flag.replace("_", "-")} must be positive, got {value}')
    for flag in ('lr', 'swa_lr'):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            fail(f'--{flag.replace("_", "-")} must be positive, got {value}')
    if not 0 <= args.momentum < 1:
        fail(f'--momentum must be in [0, 1), got {args.momentum}')
    if args.nesterov and not args.momentum:
        fail('--nesterov needs a positive --momentum; pass --no-nesterov for plain SGD')
    if args.weight_decay < 0:
        fail(f'--weight-decay must be at least 0, got {args.weight_decay}')
    if not 0 <= args.label_smoothing < 1:
        fail(f'--label-smoothing must be in [0, 1), got {args.label_smoothing}')
    if not 0 <= args.ema_decay < 1:
        fail(f'--ema-decay must be in [0, 1) (0 = no average), got {args.ema_decay}')
    if not 0 < args.warmup_fraction < 1:
        fail(f'--warmup-fraction must be in (0, 1), got {args.warmup_fraction}')
    if args.ema_decay and args.swa_epochs:
        fail('--ema-decay and --swa-epochs both average the weights; keep one')
    if not 0 <= args.swa_epochs < args.epochs:
        fail(f'--swa-epochs {args.swa_epochs} must be at least 0 and below --epochs {args.epochs}')
    if args.swa_epochs and args.swa_lr is None:
        fail('--swa-epochs needs --swa-lr, the learning rate of the averaged epochs')
    if args.swa_lr is not None and not args.swa_epochs:
        fail('--swa-lr is the learning rate of the averaged epochs; give --swa-epochs too, or drop it')
    try:  # the command line's mistakes show now, not after the data are decoded
        model_name(args)
        model_kwargs(args)
    except ValueError as e:
        fail(str(e))
    return args


def model_name(args: argparse.Namespace) -> str:
    """The timm name to build: --model, tagged with --dataset for that data set's class count, mean and std."""
    check_model_name(args.model)
    tag = split_model_name_tag(args.model)[1]
    if tag in ('cifar10', 'cifar100') and tag != args.dataset:
        raise ValueError(f'--model {args.model} is configured for {tag} but --dataset is {args.dataset}; '
                         'drop the tag or make the two agree')
    return dataset_model_name(args.model, args.dataset)


def model_kwargs(args: argparse.Namespace) -> tuple[dict, bool]:
    """--model-kwargs without zero_init_last, and zero_init_last: the initialization to build with.

    It is --zero-init-last (default False: the reference code's initialization).  A
    ``--model-kwargs zero_init_last=true|false`` is honoured too (train/reproduce.py passes
    false); it may repeat the flag's choice but not contradict an explicit --zero-init-last.
    """
    kwargs = parse_model_kwargs(args.model_kwargs)
    zero_init_last = kwargs.pop('zero_init_last', args.zero_init_last)
    if not isinstance(zero_init_last, bool):
        raise ValueError(f'--model-kwargs zero_init_last must be true or false, got {zero_init_last!r}')
    if args.zero_init_last and not zero_init_last:
        raise ValueError('--zero-init-last contradicts --model-kwargs zero_init_last=false; keep one')
    return kwargs, zero_init_last


DIVERGED = 3  # the exit status of a run stopped by a non-finite loss

# What fixes a run's result, and so must be the same when it is resumed.
RUN_FLAGS = ('model', 'model_kwargs', 'dataset', 'recipe', *RECIPES['fast'], 'seed', 'train_subset', 'test_subset',
             'init_from', 'amp')


def check_same_run(args: argparse.Namespace, recorded: dict) -> None:
    """Stop if --resume's command line differs from the run's recorded one (args.json) in what fixes
    the result; flags the record predates are not compared."""
    for key in RUN_FLAGS:
        if key in recorded and recorded[key] != getattr(args, key):
            fail(f"{args.output} was started with --{key.replace('_', '-')} {recorded[key]}, not "
                 f"{getattr(args, key)}; resume with the run's own flags (in {args.output}/args.json)")


def fail(message: str) -> NoReturn:
    """Stop with one line on stderr naming the mistake, in argparse's style but without its usage."""
    sys.exit(f'cifar.py: error: {message}')


def make_scheduler(optimizer, args, steps_per_epoch: int):
    """The learning-rate schedule; a onecycle schedule is stepped after every step, the others after every epoch.

    With --swa-epochs the averaged epochs hold --swa-lr: a onecycle schedule completes its cycle
    in the epochs before them, the step and cosine schedules are cut off where they begin.
    """
    swa_start = args.epochs - args.swa_epochs
    if args.schedule == 'onecycle':
        swa_start *= steps_per_epoch
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=swa_start,
                                                       pct_start=args.warmup_fraction, cycle_momentum=False)
    elif args.schedule == 'cosine':
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    else:
        milestones = [args.epochs // 2, args.epochs * 3 // 4]
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if not args.swa_epochs:
        return schedule
    # a factor on the base rate the first schedule set ('initial_lr': --lr, or onecycle's starting rate)
    factor = args.swa_lr / optimizer.param_groups[0]['initial_lr']
    hold = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: factor)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [schedule, hold], milestones=[swa_start])


def scheme_record(model) -> dict:
    """Every lambda of a trainable ZeroSNet and its worst parasitic root modulus."""
    blocks = [b for stage in model.stages for b in stage if not b.starter]
    if not any(hasattr(b.coefficients, 'lam_value') for b in blocks):
        return {}
    schemes = model.schemes()
    return {
        'lambdas': [float(b.coefficients.lam_value().detach()) for b in blocks],
        'max_parasitic_modulus': max(stability.max_parasitic_modulus(s.alphas) for s in schemes),
    }


def init_weights(model: torch.nn.Module, path: str) -> None:
    try:
        load_weights(model, checkpoint_file(path))
    except (FileNotFoundError, ValueError) as e:  # no such file, not safetensors, another architecture
        fail(f'--init-from: {e}')


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The epoch's randomness is a function of (seed, epoch) alone, which makes resuming exact."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def epoch_flips(args: argparse.Namespace, n: int, epoch: int) -> torch.Tensor | None:
    """The images --flip mirrors in this epoch, or None for each with probability 1/2."""
    return alternating_flips(n, args.seed, epoch) if args.flip == 'alternating' else None


def augmented_batches(images, batch_size, mean, std, memory_format, generator, flips=None):
    """One epoch of training batches, augmented, in the order the generator draws; flips (one bool
    per image) fixes which images are mirrored, else each is with probability 1/2."""
    order = torch.randperm(len(images), generator=generator).to(images.device)
    flips = None if flips is None else flips.to(images.device)  # once, not a device sync per batch
    for i in range(0, len(images), batch_size):
        idx = order[i:i + batch_size]
        x = random_crop_flip(images[idx], generator=generator, flip=None if flips is None else flips[idx])
        yield normalize(x, mean, std).contiguous(memory_format=memory_format), idx


def write_log(path: Path, records: list) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(''.join(json.dumps(r) + '\n' for r in records))


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.output)
    ckpt_path, log_path, weights_path = out / 'checkpoint.pt', out / 'log.jsonl', out / 'model.safetensors'
    if ckpt_path.exists() and not args.resume:
        fail(f'{out} already holds a run; pass --resume to continue it, or choose another --output')
    resuming = args.resume and ckpt_path.exists()  # (a run killed before its first checkpoint starts afresh)
    if resuming:
        check_same_run(args, json.loads((out / 'args.json').read_text()))
    device = torch.device(args.device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format

    try:
        train = load_split(args.data_dir, 'train', args.dataset, args.train_subset, args.seed, args.workers,
                           args.download)
        test = load_split(args.data_dir, 'test', args.dataset, args.test_subset, args.seed, args.workers, args.download)
    except (OSError, ValueError) as e:  # a missing folder, an unreadable image, a subset larger than the split
        fail(str(e))
    kwargs, zero_init_last = model_kwargs(args)
    init = 'zero_init_last' if zero_init_last else 'reference'
    torch.manual_seed(args.seed)
    try:
        model = create_model(model_name(args), kwargs, num_classes=len(train.classes), zero_init_last=zero_init_last)
    except ValueError as e:
        fail(str(e))
    if args.init_from and not resuming:
        init_weights(model, args.init_from)
    model.to(device=device, memory_format=memory_format)
    print(f'recipe {args.recipe}: ' + ', '.join(f'{k} {getattr(args, k)}' for k in RECIPES[args.recipe]), file=sys.stderr)
    if args.amp and (why := slow_amp(device)):
        print(f'warning: --amp: {why}', file=sys.stderr)
    mean, std = model.pretrained_cfg['mean'], model.pretrained_cfg['std']
    provenance = {'init': init, 'mean': list(mean), 'std': list(std)}
    if not resuming:
        with atomic_path(out / 'args.json') as tmp:  # the recipe, for the weights' provenance
            tmp.write_text(json.dumps({**vars(args), **provenance}, indent=2) + '\n')
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
                                weight_decay=args.weight_decay)
    steps = (len(train.labels) + args.batch_size - 1) // args.batch_size
    scheduler = make_scheduler(optimizer, args, steps)
    per_step = args.schedule == 'onecycle'
    scaler = torch.amp.GradScaler(device.type, enabled=args.amp and device.type == 'cuda')
    dtype = amp_dtype(device)
    averaged = AveragedModel(model) if args.swa_epochs else None
    # timm's warm-up of the decay (1 - (1 + step) ** -2/3, up to --ema-decay) keeps the early average from
    # being the random initialization's, whatever the length of the run
    ema = ModelEmaV3(model, decay=args.ema_decay, use_warmup=True) if args.ema_decay else None

    start_epoch, records = 0, []
    if resuming:
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        if state['model_name'] != args.model:
            fail(f"{out} holds a run of {state['model_name']}, not {args.model}")
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        scaler.load_state_dict(state['scaler'])
        if averaged is not None:
            averaged.load_state_dict(state['averaged'])
        if ema is not None:
            ema.load_state_dict(state['ema'])
        start_epoch, records = state['epoch'], state['records']
        init = state.get('init', init)  # the run's initialization, whatever this command line says
        write_log(log_path, records)  # drop any record written after the checkpoint
        print(f'resuming {args.model} after epoch {start_epoch} of {args.epochs}', file=sys.stderr)
        before, now = records[-1].get('threads'), torch.get_num_threads()  # a checkpoint holds >= 1 epoch
        if device.type == 'cpu' and before not in (None, now):
            print(f'warning: epoch {start_epoch} ran with {before} CPU thread(s) and this process has '
                  f'{now}; the run goes on, but its weights will differ from an uninterrupted '
                  f"run's (sums split across threads add in another order). Set OMP_NUM_THREADS={before} to "
                  f'continue bit-identically.', file=sys.stderr)

    images, labels = train.images.to(device), train.labels.to(device)
    for epoch in range(start_epoch, args.epochs):
        started = time.perf_counter()
        g = epoch_generator(args.seed, epoch)
        torch.manual_seed(g.initial_seed())  # dropout etc.: a function of (seed, epoch) too
        lr = optimizer.param_groups[0]['lr']
        model.train()
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        flips = epoch_flips(args, len(images), epoch)
        batches = augmented_batches(images, args.batch_size, mean, std, memory_format, g, flips)
        for i, (x, idx) in enumerate(tqdm(batches, total=steps, desc=f'epoch {epoch + 1}/{args.epochs}',
                                          leave=False, mininterval=1.0)):
            y = labels[idx]
            with torch.autocast(device.type, dtype=dtype, enabled=args.amp):
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            if not torch.isfinite(loss):
                print(f'non-finite loss ({loss.item()}) at epoch {epoch + 1}, step {i + 1}: stopping. '
                      f'The last good state (after epoch {start_epoch if not records else records[-1]["epoch"]}) '
                      f'is kept in {ckpt_path if ckpt_path.exists() else out}; lower --lr or check the scheme.',
                      file=sys.stderr)
                return DIVERGED
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if per_step:
                scheduler.step()
            if ema is not None:
                ema.update(model, step=epoch * steps + i)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
        if not per_step:
            scheduler.step()
        if epoch >= args.epochs - args.swa_epochs:
            averaged.update_parameters(model)
        train_seconds = time.perf_counter() - started  # steps, augmentation and progress bar
        record = {
            'epoch': epoch + 1,
            'train_loss': loss_sum.item() / len(labels),
            'train_acc': 100.0 * correct.item() / len(labels),
            'test_acc': accuracy(model, test.images, test.labels, mean, std, device=device,
                                 channels_last=args.channels_last, amp=args.amp),
            'lr': lr,
            'init': init,
            'seconds': time.perf_counter() - started,
            'train_seconds': train_seconds,
            'threads': torch.get_num_threads(),  # CPU results depend on it: see the resume warning
            **scheme_record(model),
        }
        if ema is not None:  # the average is the output, so its accuracy is logged beside the iterate's
            record['ema_test_acc'] = accuracy(ema.module, test.images, test.labels, mean, std, device=device,
                                              channels_last=args.channels_last, amp=args.amp)
            record['seconds'] = time.perf_counter() - started
        if averaged is not None and epoch + 1 == args.epochs:
            # The average's batch-norm statistics belong to no iterate: measure them on the training data.
            g, flips = epoch_generator(args.seed, args.epochs), epoch_flips(args, len(images), args.epochs)
            batches = augmented_batches(images, args.batch_size, mean, std, memory_format, g, flips)
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=args.amp):
                update_bn((x for x, _ in batches), averaged)
            record['swa_test_acc'] = accuracy(averaged.module, test.images, test.labels, mean, std, device=device,
                                              channels_last=args.channels_last, amp=args.amp)
            record['seconds'] = time.perf_counter() - started
        records.append(record)
        state = {
            'model_name': args.model, 'init': init, 'epoch': epoch + 1, 'records': records,
            'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict(), 'scaler': scaler.state_dict(),
            **({'averaged': averaged.state_dict()} if averaged is not None else {}),
            **({'ema': ema.state_dict()} if ema is not None else {}),
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)
        write_log(log_path, records)
        print(json.dumps(record), file=sys.stderr)

    with atomic_path(weights_path) as tmp:
        final = averaged.module if averaged is not None else ema.module if ema is not None else model
        save_file({k: v.contiguous().cpu() for k, v in final.state_dict().items()}, str(tmp),
                  metadata={'model': args.model, 'model_kwargs': json.dumps(args.model_kwargs),
                            'dataset': args.dataset, 'epochs': str(args.epochs), 'init': init,
                            'mean': json.dumps(provenance['mean']), 'std': json.dumps(provenance['std'])})
    return 0


if __name__ == '__main__':
    sys.exit(main())
