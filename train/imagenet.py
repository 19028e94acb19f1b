"""ImageNet training of any registered model on timm's own training components.

    torchrun --nproc_per_node 8 train/imagenet.py --data-dir /data/imagenet --model zerosnet50 --amp
    python train/imagenet.py --data-dir DIR --model zerosnet18 --device cpu      # one process

The recipe of the paper (SPEC section 5): SGD with momentum 0.9, weight decay 4e-5, cosine
decay with a 5-epoch warm-up, 150 epochs, mixed precision, and per-GPU lr / batch size
0.2 / 128 (18 layers), 0.1 / 64 (34 layers), 0.05 / 32 (50 layers and deeper).

Everything else is timm's: its dataset reader and loader with the standard ImageNet
augmentation (any ImageFolder root with train/ and val/ or validation/), create_optimizer_v2,
create_scheduler_v2, its AMP loss scaler, distributed set-up (NCCL on GPUs, gloo on the CPU,
from the torchrun environment), SyncBatchNorm conversion, model EMA and CheckpointSaver.
Output: OUT/last.pth.tar (resume with --resume OUT/last.pth.tar), the best checkpoints,
OUT/summary.csv, and OUT/model.safetensors with the final weights.
"""

import argparse
import logging
import re
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm import utils
from timm.data import create_dataset, create_loader, resolve_data_config
from timm.layers import convert_sync_batchnorm
from timm.models import load_checkpoint, resume_checkpoint
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch.nn.parallel import DistributedDataParallel

import zerosnet_zoo  # noqa: F401  (registers the models)
from zerosnet_zoo.cli import parse_model_kwargs
from zerosnet_zoo.io import atomic_path

_logger = logging.getLogger('train')

# (lr, batch size per GPU) by depth, SPEC section 5
RECIPE = {18: (0.2, 128), 34: (0.1, 64), 50: (0.05, 32)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', required=True, help='ImageFolder root with train/ and val/ (or validation/)')
    p.add_argument('--model', required=True, help='a registered name, e.g. zerosnet50')
    p.add_argument('--model-kwargs', nargs='*', default=[], metavar='K=V')
    p.add_argument('--num-classes', type=int, help='default: the number of class folders in train/')
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('-b', '--batch-size', type=int, help='per process; default by depth')
    p.add_argument('--epochs', type=int, default=150)
    p.add_argument('--lr', type=float, help='default by depth')
    p.add_argument('--warmup-epochs', type=int, default=5)
    p.add_argument('--warmup-lr', type=float, default=1e-5)
    p.add_argument('--weight-decay', type=float, default=4e-5)
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--output', required=True, help='run directory')
    p.add_argument('--resume', default='', help='a checkpoint to resume from (e.g. OUT/last.pth.tar)')
    p.add_argument('--amp', action='store_true', help='mixed precision (float16 on CUDA, bfloat16 on CPU)')
    p.add_argument('--workers', type=int, default=4)
    p.add_argument('--sync-bn', action='store_true')
    p.add_argument('--model-ema', action='store_true')
    p.add_argument('--model-ema-decay', type=float, default=0.9998)
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--log-interval', type=int, default=50)
    args = p.parse_args(argv)
    depth = int(re.search(r'(\d+)$', args.model).group(1)) if re.search(r'(\d+)$', args.model) else 50
    lr, batch = RECIPE.get(depth, RECIPE[50])
    args.lr = args.lr if args.lr is not None else lr
    args.batch_size = args.batch_size if args.batch_size is not None else batch
    return args


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
    out = Path(args.output)
    if utils.is_primary(args):
        out.mkdir(parents=True, exist_ok=True)

    dataset_train = create_dataset('', root=args.data_dir, split='train', is_training=True)
    dataset_eval = create_dataset('', root=args.data_dir, split='validation')
    num_classes = args.num_classes or len(dataset_train.reader.class_to_idx)
    model = timm.create_model(args.model, num_classes=num_classes, **parse_model_kwargs(args.model_kwargs))
    data_config = resolve_data_config({'input_size': (3, args.img_size, args.img_size)}, model=model)
    model.to(device)
    if args.distributed and args.sync_bn:
        model = convert_sync_batchnorm(model)

    optimizer = create_optimizer_v2(model, opt='sgd', lr=args.lr, weight_decay=args.weight_decay, momentum=args.momentum)
    use_amp = args.amp
    amp_dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    amp_autocast = partial(torch.autocast, device_type=device.type, dtype=amp_dtype) if use_amp else nullcontext
    loss_scaler = utils.NativeScaler(device=device.type) if use_amp and device.type == 'cuda' else None

    start_epoch = 0
    if args.resume:
        start_epoch = resume_checkpoint(model, args.resume, optimizer=optimizer, loss_scaler=loss_scaler,
                                        log_info=utils.is_primary(args)) or 0
    model_ema = None
    if args.model_ema:
        model_ema = utils.ModelEmaV3(model, decay=args.model_ema_decay)
        if args.resume:
            load_checkpoint(model_ema.module, args.resume, use_ema=True)
    if args.distributed:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == 'cuda' else None)

    loader_kwargs = dict(
        input_size=data_config['input_size'], batch_size=args.batch_size, interpolation=data_config['interpolation'],
        mean=data_config['mean'], std=data_config['std'], num_workers=args.workers, distributed=args.distributed,
        use_prefetcher=device.type == 'cuda', device=device, pin_memory=device.type == 'cuda')
    loader_train = create_loader(dataset_train, is_training=True, **loader_kwargs)
    loader_eval = create_loader(dataset_eval, is_training=False, crop_pct=data_config['crop_pct'], **loader_kwargs)

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
                     f'{args.world_size} process(es), batch {args.batch_size} each, lr {args.lr}')

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
        eval_metrics = validate(model_ema if model_ema is not None else model, loader_eval, args, device, amp_autocast)
        if saver is not None:
            utils.update_summary(epoch, train_metrics, {**eval_metrics, 'seconds': time.perf_counter() - started},
                                 filename=str(out / 'summary.csv'), lr=optimizer.param_groups[0]['lr'],
                                 write_header=epoch == 0)
            saver.save_checkpoint(epoch, metric=eval_metrics['top1'])
            _logger.info(f'epoch {epoch}: top-1 {eval_metrics["top1"]:.2f} top-5 {eval_metrics["top5"]:.2f}')

    if saver is not None:
        final = model.module if args.distributed else model
        with atomic_path(out / 'model.safetensors') as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in final.state_dict().items()}, str(tmp),
                      metadata={'model': args.model})
    if args.distributed:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == '__main__':
    sys.exit(main())
