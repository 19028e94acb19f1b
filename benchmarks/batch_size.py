"""Training throughput (images per second) against the batch size, on one device.

    OMP_NUM_THREADS=1 python benchmarks/batch_size.py --model zerosnet_opt_20 --batch-sizes 64,128,256,512

The train step (forward, loss, backward, SGD step) of one model is timed at each batch size
in interleaved repetitions (the order alternating), so a busy machine slows every size
alike; the medians are reported as images per second and as a ratio to the first size.
"""

import argparse
import json
from functools import partial

import torch

from zerosnet_zoo.benchmark import Setting, build, inputs, interleaved, train_step


def _train_steps(n, setting, built, x, y) -> None:
    for _ in range(n):
        train_step(built, x, y, setting)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='zerosnet_opt_20')
    p.add_argument('--batch-sizes', default='64,128,256,512', help='comma-separated; the first is the reference')
    p.add_argument('--images', type=int, default=2048, help='images per timed repetition, at every batch size')
    p.add_argument('--reps', type=int, default=5)
    p.add_argument('--device', default='cpu')
    args = p.parse_args(argv)

    sizes = [int(b) for b in args.batch_sizes.split(',')]
    runs = []
    for size in sizes:
        setting = Setting(device=args.device, batch_size=size)
        built, (x, y) = build(args.model, setting), inputs(setting)
        train_step(built, x, y, setting)  # warm-up
        runs.append((setting, built, x, y))
    steps = [max(1, args.images // setting.batch_size) for setting, *_ in runs]
    per_rep = interleaved([partial(_train_steps, n, *run) for n, run in zip(steps, runs)], args.reps, args.device)
    per_image = [t / (n * size) for t, n, size in zip(per_rep, steps, sizes)]
    result = {'model': args.model, 'threads': torch.get_num_threads(), 'device': args.device,
              'images_per_second': {b: 1 / t for b, t in zip(sizes, per_image)},
              'throughput_vs_first': {b: per_image[0] / t for b, t in zip(sizes, per_image)}}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
