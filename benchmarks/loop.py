"""How much of a train/cifar.py epoch is spent outside the bare train step.

    python benchmarks/loop.py --data-dir DATA      # DATA: a CIFAR-10 ImageFolder or torchvision root

Times the bare train step (forward, loss, backward, SGD step on a ready batch) of the same
model and batch size, then runs train/cifar.py (in a process of its own) for a few epochs and
compares each epoch's training time (steps with augmentation, indexing, normalization,
progress bar) and its whole time (plus evaluation, log and checkpoint writes) with
steps x bare step.  The first epoch is reported but not counted (allocator warm-up).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from zerosnet_zoo.benchmark import Setting, compare, train_step

CIFAR = Path(__file__).resolve().parents[1] / 'train' / 'cifar.py'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-dir', required=True)
    p.add_argument('--model', default='zerosnet_opt_20')
    p.add_argument('--train-subset', type=int, default=10000)
    p.add_argument('--test-subset', type=int, default=1000)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--reps', type=int, default=9)
    args = p.parse_args(argv)

    # train/cifar.py's default memory format, on a ready batch
    bare, = compare([args.model], train_step, Setting(batch_size=args.batch_size, channels_last=False),
                    args.reps, warmup=2)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, str(CIFAR), '--model', args.model, '--data-dir', args.data_dir,
                        '--train-subset', str(args.train_subset), '--test-subset', str(args.test_subset),
                        '--batch-size', str(args.batch_size), '--epochs', str(args.epochs), '--output', out],
                       check=True)
        log = [json.loads(line) for line in (Path(out) / 'log.jsonl').read_text().splitlines()]
    ideal = args.train_subset / args.batch_size * bare  # the last batch may be smaller
    print(f'# {args.model}, batch {args.batch_size}, {args.train_subset} images, CPU {torch.get_num_threads()} threads')
    print(f'bare train step: {bare * 1e3:.1f} ms -> ideal epoch {ideal:.1f} s')
    for r in log:
        print(f"epoch {r['epoch']}: training {r['train_seconds']:.1f} s ({r['train_seconds'] / ideal:.3f} x ideal), "
              f"whole epoch with evaluation on {args.test_subset} images {r['seconds']:.1f} s")
    counted = [r['train_seconds'] / ideal for r in log[1:]] or [log[0]['train_seconds'] / ideal]
    print(f'training loop / (steps x bare step), median after the first epoch: {statistics.median(counted):.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
