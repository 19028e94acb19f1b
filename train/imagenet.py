"""ImageNet training of any registered model on timm's own training components.

    torchrun --nproc_per_node 8 train/imagenet.py --data-dir /data/imagenet --model zerosnet50
    python train/imagenet.py --data-dir DIR --model zerosnet18 --device cpu      # one process

The paper's recipe: SGD with momentum 0.9 (not Nesterov's), weight decay 4e-5 (not on biases
and norm layers), cosine decay with a 5-epoch warm-up, 150 epochs, mixed precision, 8 GPUs with
lr / batch size per GPU 0.2 / 128 (18 layers), 0.1 / 64 (34 layers), 0.05 / 32 (50 and deeper),
from the reference code's initialization (Kaiming normal convolutions; --zero-init-last starts
each residual branch's last convolution at zero instead, timm's convention).

Learning rate. The paper's lr belongs to its global batch (per-GPU batch x 8 GPUs: 1024, 512
and 256), and all three settings come to the same lr per image, 0.1 per 512 images. Without
--lr the lr follows the linear scaling rule (Goyal et al. 2017) for the batch actually used:
lr = lr_base * (batch per process x processes) / lr_base_size, where --lr-base and
--lr-base-size default to the paper's lr and global batch for the model's depth (timm's
train.py flags; --lr-base-scale sqrt is there too). The derived lr is logged at start-up and
written to OUT/args.yaml. So 8 processes with the default batch reproduce the paper exactly,
and a small run (say 2 processes of 8 images) gets a proportionally small lr instead of one
tuned for 1024 images, which diverges.

Augmentation. The paper trained with the DALI pipeline of Xu Ma's Efficient_ImageNet_Classification
(main_cosine.py): a random crop of 10-100 % of the image area with aspect ratio 0.8-1.25,
resized to 224 x 224 with a triangular filter, a horizontal flip with probability 0.5, and
ImageNet mean / std normalisation; no colour jitter, no other augmentation. Evaluation
resizes the shorter side to 256 and takes the central 224 x 224. Here that is timm's
RandomResizedCrop with scale (0.1, 1.0) and ratio (0.8, 1.25), bilinear interpolation (PIL's
bilinear filter is the triangular one, antialiased when shrinking), hflip 0.5, colour jitter
off, and an eval crop_pct of 224 / 256 (timm draws the aspect ratio log-uniformly within
its range, which is symmetric about 1 in log: 0.8 = 1 / 1.25).

Mixed precision is on by default on CUDA (float16 autocast with a loss scaler, as the paper's
APEX O2 run) and off on the CPU; --no-amp / --amp override (bfloat16 on the CPU).

Everything else is timm's: its dataset reader and loader (any ImageFolder root with train/
and val/ or validation/), create_optimizer_v2, create_scheduler_v2, its AMP loss scaler,
distributed set-up (NCCL on GPUs, gloo on the CPU, from the torchrun environment),
SyncBatchNorm conversion, model EMA and CheckpointSaver.
Output: OUT/args.yaml (the parsed and derived settings), OUT/last.pth.tar (resume with
--resume OUT/last.pth.tar), the best checkpoints, OUT/summary.csv, and OUT/model.safetensors
with the final weights. With --model-ema the average is the output: summary.csv gives the
trained weights' accuracy (eval_*) and the average's (eval_ema_*), and the best checkpoints
are ranked by the average's top-1.
"""

import argparse
import logging
import math
import re
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import save_file
from timm import utils
from timm.data import create_dataset, create_loader, resolve_data_config
from timm.layers import convert_sync_batchnorm
from timm.models import load_checkpoint, resume_checkpoint, split_model_name_tag
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch.nn.parallel import DistributedDataParallel

import zerosnet_zoo  # noqa: F401  (registers the models)
from zerosnet_zoo.building import create_model, parse_model_kwargs
from zerosnet_zoo.evaluate import amp_dtype, slow_amp
from zerosnet_zoo.files import atomic_path

_logger = logging.getLogger('train')

# The paper's (lr, batch size per GPU) by depth, on PAPER_GPUS GPUs; any other depth uses 50's.
RECIPE = {18: (0.2, 128), 34: (0.1, 64), 50: (0.05, 32)}
PAPER_GPUS = 8

# The paper's train augmentation (see the module docstring), as timm create_loader arguments.
TRAIN_AUG = dict(scale=(0.1, 1.0), ratio=(0.8, 1.25), hflip=0.5, vflip=0.0, color_jitter=None)
INTERPOLATION = 'bilinear'
EVAL_CROP_PCT = 224 / 256  # shorter side to 256, central 224 x 224


def derive_lr(batch_size: int, world_size: int, lr_base: float, lr_base_size: int, scale: str = 'linear') -> float:
    """The lr for a global batch of batch_size * world_size, scaled from lr_base at lr_base_size images.

    'linear' is the linear scaling rule of Goyal et al. 2017; 'sqrt' scales by the square root instead.
    """
    if scale not in ('linear', 'sqrt'):
        raise ValueError(f"lr scaling {scale!r}: use 'linear' or 'sqrt'")
    ratio = batch_size * world_size / lr_base_size
    return lr_base * (ratio if scale == 'linear' else math.sqrt(ratio))


def resolve_amp(requested: bool | None, device_type: str) -> bool:
    """Mixed precision unless asked otherwise: on by default on CUDA (as the paper), off elsewhere."""
    return device_type == 'cuda' if requested is None else requested


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', required=True, help='ImageFolder root with train/ and val/ (or validation/)')
    p.add_argument('--model', required=True, help='a registered name, e.g. zerosnet50')
    p.add_argument('--model-kwargs', nargs='*', default=[], metavar='K=V')
    p.add_argument('--zero-init-last', action='store_true',
                   help="start each residual branch's last convolution at zero (timm's convention) instead of the "
                        "reference code's initialization the paper trained with")
    p.add_argument('--num-classes', type=int, help='default: the number of class folders in train/')
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('-b', '--batch-size', type=int, help="per process; default: the paper's per-GPU batch by depth")
    p.add_argument('--epochs', type=int, default=150)
    p.add_argument('--lr', type=float, help='learning rate; overrides the scaled --lr-base')
    p.add_argument('--lr-base', type=float, help="lr at --lr-base-size images; default: the paper's, by depth")
    p.add_argument('--lr-base-size', type=int, help=f"global batch of --lr-base; default: the paper's ({PAPER_GPUS} GPUs)")
    p.add_argument('--lr-base-scale', choices=('linear', 'sqrt'), default='linear',
                   help='lr vs global batch (default: linear, Goyal et al. 2017)')
    p.add_argument('--warmup-epochs', type=int, default=5)
    p.add_argument('--warmup-lr', type=float, default=1e-5)
    p.add_argument('--weight-decay', type=float, default=4e-5)
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--output', required=True, help='run directory')
    p.add_argument('--resume', default='', help='a checkpoint to resume from (e.g. OUT/last.pth.tar)')
    p.add_argument('--amp', action=argparse.BooleanOptionalAction,
                   help='mixed precision (default: on for CUDA, float16; off on the CPU, bfloat16 if asked)')
    p.add_argument('--workers', type=int, default=4)
    p.add_argument('--sync-bn', action='store_true')
    p.add_argument('--model-ema', action='store_true')
    p.add_argument('--model-ema-decay', type=float, default=0.9998)
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--log-interval', type=int, default=50)
    args = p.parse_args(argv)

    if not timm.is_model(args.model):
        p.error(f'--model {args.model}: not a registered model (see timm.list_models("*zerosnet*"))')
    root = Path(args.data_dir)
    if not (root / 'train').is_dir() or not ((root / 'val').is_dir() or (root / 'validation').is_dir()):
        p.error(f'--data-dir {args.data_dir}: expected an ImageFolder root with train/ and val/ (or validation/)')
    for flag, value in (('-b/--batch-size', args.batch_size), ('--lr-base-size', args.lr_base_size),
                        ('--epochs', args.epochs), ('--img-size', args.img_size)):
        if value is not None and value < 1:
            p.error(f'{flag} {value}: must be a positive integer')
    for flag, value in (('--lr', args.lr), ('--lr-base', args.lr_base)):
        if value is not None and not value > 0:
            p.error(f'{flag} {value}: must be positive')

    try:
        kwargs = parse_model_kwargs(args.model_kwargs)  # fail here, before any process group starts
    except ValueError as e:
        p.error(str(e))
    if 'zero_init_last' in kwargs:
        p.error('--model-kwargs zero_init_last: pass --zero-init-last (or nothing, for the reference initialization)')
    args.init = 'zero_init_last' if args.zero_init_last else 'reference'

    found = re.search(r'(\d+)$', split_model_name_tag(args.model)[0])  # zerosnet18.in1k: 18 layers
    depth = int(found.group(1)) if found else 0
    recipe = RECIPE[50] if depth >= 50 else RECIPE.get(depth)
    if recipe is None and (args.batch_size is None or args.lr_base is None):
        p.error(f'--model {args.model}: the paper has ImageNet recipes for 18, 34 and 50 or more layers; '
                'pass -b/--batch-size and --lr-base for this one')
    lr, batch = recipe or (args.lr_base, args.batch_size)
    args.batch_size = args.batch_size or batch
    args.lr_base = args.lr_base or lr
    args.lr_base_size = args.lr_base_size or batch * PAPER_GPUS
    return args


def create_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    """SGD with (heavy-ball) momentum; timm leaves biases and norm weights (every 1-d parameter) out
    of weight decay, as the paper's script does.  (timm's 'sgd' would be Nesterov's.)"""
    return create_optimizer_v2(model, opt='momentum', lr=args.lr, weight_decay=args.weight_decay,
                               momentum=args.momentum)


def create_loaders(model, dataset_train, dataset_eval, args, device):
    """The train loader with the paper's augmentation and the eval loader with its centre crop."""
    data_config = resolve_data_config({'input_size': (3, args.img_size, args.img_size), 'interpolation': INTERPOLATION,
                                       'crop_pct': EVAL_CROP_PCT}, model=model)
    cuda = device.type == 'cuda'
    common = dict(input_size=data_config['input_size'], batch_size=args.batch_size,
                  interpolation=data_config['interpolation'], mean=data_config['mean'], std=data_config['std'],
                  num_workers=args.workers, distributed=args.distributed, use_prefetcher=cuda, device=device,
                  pin_memory=cuda)
    loader_train = create_loader(dataset_train, is_training=True, **TRAIN_AUG, **common)
    loader_eval = create_loader(dataset_eval, is_training=False, crop_pct=data_config['crop_pct'], **common)
    return loader_train, loader_eval


def train_one_epoch(epoch, model, loader, optimizer, scheduler, args, device, amp_autocast, loss_scaler, model_ema):
    model.train()
    losses = utils.AverageMeter()
    updates = epoch * len(loader)
    for i, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        with amp_autocast():
            loss = F.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f'non-finite loss at epoch {epoch}, step {i}; the last checkpoint is kept')
        optimizer.zero_grad(set_to_none=True)
        if loss_scaler is not None:
            loss_scaler(loss, optimizer, parameters=model.parameters())
        else:
            loss.backward()
            optimizer.step()
        if model_ema is not None:
            model_ema.update(model, step=updates)
        updates += 1
        scheduler.step_update(num_updates=updates)
        losses.update(loss.item(), x.size(0))
        if utils.is_primary(args) and (i % args.log_interval == 0 or i == len(loader) - 1):
            _logger.info(f'epoch {epoch} [{i + 1}/{len(loader)}] loss {losses.avg:.4f} '
                         f'lr {optimizer.param_groups[0]["lr"]:.3e}')
    return {'loss': losses.avg}


@torch.no_grad()
def validate(model, loader, args, device, amp_autocast):
    model.eval()
    top1, top5, losses = utils.AverageMeter(), utils.AverageMeter(), utils.AverageMeter()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with amp_autocast():
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        acc1, acc5 = utils.accuracy(out, y, topk=(1, min(5, out.shape[1])))
        if args.distributed:
            loss, acc1, acc5 = (utils.reduce_tensor(t, args.world_size) for t in (loss, acc1, acc5))
        losses.update(loss.item(), x.size(0))
        top1.update(acc1.item(), x.size(0))
        top5.update(acc5.item(), x.size(0))
    return {'loss': losses.avg, 'top1': top1.avg, 'top5': top5.avg}


def main(argv=None) -> int:
    args = parse_args(argv)
    utils.setup_default_logging()
    device = utils.init_distributed_device(args)  # torchrun env -> NCCL (CUDA) or gloo (CPU)
    utils.random_seed(args.seed, args.rank)
    args.amp = resolve_amp(args.amp, device.type)
    if args.amp and utils.is_primary(args) and (why := slow_amp(device)):
        _logger.warning(f'--amp: {why}')
    if args.lr is None:  # the paper's lr, rescaled to the global batch of this run
        args.lr = derive_lr(args.batch_size, args.world_size, args.lr_base, args.lr_base_size, args.lr_base_scale)
        lr_source = (f'{args.lr_base_scale} scaling of --lr-base {args.lr_base:g} at {args.lr_base_size} images '
                     f'to the global batch {args.batch_size} x {args.world_size} = {args.batch_size * args.world_size}')
    else:
        lr_source = 'given by --lr'
    out = Path(args.output)
    if utils.is_primary(args):
        out.mkdir(parents=True, exist_ok=True)
        _logger.info(f'lr {args.lr:.6g} ({lr_source})')
        with atomic_path(out / 'args.yaml') as tmp:  # timm's name; the settings actually used, derived lr included
            tmp.write_text(yaml.safe_dump({**vars(args), 'lr_source': lr_source}, sort_keys=False, width=1000))

    dataset_train = create_dataset('', root=args.data_dir, split='train', is_training=True)
    dataset_eval = create_dataset('', root=args.data_dir, split='validation')
    num_classes = args.num_classes or len(dataset_train.reader.class_to_idx)
    try:
        model = create_model(args.model, parse_model_kwargs(args.model_kwargs), num_classes=num_classes,
                             zero_init_last=args.zero_init_last)
    except ValueError as e:
        sys.exit(f'imagenet.py: error: {e}')
    model.to(device)
    if args.distributed and args.sync_bn:
        model = convert_sync_batchnorm(model)
    loader_train, loader_eval = create_loaders(model, dataset_train, dataset_eval, args, device)

    optimizer = create_optimizer(model, args)
    dtype = amp_dtype(device)
    amp_autocast = partial(torch.autocast, device_type=device.type, dtype=dtype) if args.amp else nullcontext
    # float16 gradients need loss scaling; bfloat16 has float32's range and does not
    loss_scaler = utils.NativeScaler(device=device.type) if args.amp and dtype == torch.float16 else None

    start_epoch = 0
    if args.resume:
        start_epoch = resume_checkpoint(model, args.resume, optimizer=optimizer, loss_scaler=loss_scaler,
                                        log_info=utils.is_primary(args)) or 0
        resumed_lr = optimizer.param_groups[0].get('initial_lr', args.lr)
        if utils.is_primary(args) and resumed_lr != args.lr:  # the schedule continues from the checkpoint's lr
            _logger.info(f'the resumed run keeps its base lr {resumed_lr:.6g}')
    model_ema = None
    if args.model_ema:
        model_ema = utils.ModelEmaV3(model, decay=args.model_ema_decay)
        if args.resume:
            load_checkpoint(model_ema.module, args.resume, use_ema=True)
    if args.distributed:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None)

    scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched='cosine', num_epochs=args.epochs, warmup_epochs=args.warmup_epochs,
        warmup_lr=args.warmup_lr, step_on_epochs=False, updates_per_epoch=len(loader_train))
    if start_epoch > 0:
        scheduler.step_update(start_epoch * len(loader_train))

    saver = None
    if utils.is_primary(args):
        saver = utils.CheckpointSaver(model, optimizer, model_ema=model_ema, amp_scaler=loss_scaler,
                                      checkpoint_dir=str(out), recovery_dir=str(out), max_history=2)
        _logger.info(f'{args.model}: {sum(p.numel() for p in model.parameters()):,} parameters, '
                     f'{args.world_size} process(es), batch {args.batch_size} each, amp {args.amp}')

    for epoch in range(start_epoch, num_epochs):
        if args.distributed and hasattr(loader_train.sampler, 'set_epoch'):
            loader_train.sampler.set_epoch(epoch)
        started = time.perf_counter()
        try:
            train_metrics = train_one_epoch(epoch, model, loader_train, optimizer, scheduler, args, device,
                                            amp_autocast, loss_scaler, model_ema)
        except FloatingPointError as e:
            _logger.error(f'{e}; lower --lr or check the scheme')
            return 3
        if args.distributed:
            utils.distribute_bn(model, args.world_size, reduce=True)  # one set of BN statistics
        eval_metrics = validate(model, loader_eval, args, device, amp_autocast)
        output_metrics = eval_metrics  # those of the weights the run writes out
        if model_ema is not None:
            output_metrics = validate(model_ema.module, loader_eval, args, device, amp_autocast)
            eval_metrics = {**eval_metrics, **{f'ema_{k}': v for k, v in output_metrics.items()}}
        if saver is not None:
            utils.update_summary(epoch, train_metrics, {**eval_metrics, 'seconds': time.perf_counter() - started},
                                 filename=str(out / 'summary.csv'), lr=optimizer.param_groups[0]['lr'],
                                 write_header=epoch == 0)
            saver.save_checkpoint(epoch, metric=output_metrics['top1'])
            _logger.info(f'epoch {epoch}: top-1 {eval_metrics["top1"]:.2f} top-5 {eval_metrics["top5"]:.2f}'
                         + (f'; average top-1 {output_metrics["top1"]:.2f} top-5 {output_metrics["top5"]:.2f}'
                            if model_ema is not None else ''))

    if saver is not None:
        final = model_ema.module if model_ema is not None else model.module if args.distributed else model
        with atomic_path(out / 'model.safetensors') as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in final.state_dict().items()}, str(tmp),
                      metadata={'model': args.model})
    if args.distributed:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == '__main__':
    sys.exit(main())
