"""ZeroSNet against PreResNet of the same depth: speed ratios, throughput and peak memory.

    python benchmarks/speed.py                        # depths 20, 56, 110 on the CPU
    python benchmarks/speed.py --depths 56 --compile  # torch.compile
    python benchmarks/speed.py --device cuda --amp --batch-size 512

Timing: both models are built in one process and timed side by side, in interleaved A/B
repetitions after warm-up (the order alternates every repetition), and the medians are
compared, so that a busy machine slows both alike.  A train step is forward, backward and
an SGD step; inference is a forward under no_grad.  Inputs are 32x32, channels_last.
Peak memory of a train step is measured for each model in its own subprocess (the growth
of ru_maxrss over the step on the CPU, torch.cuda.max_memory_allocated on a GPU).  As the RSS
growth depends on the allocator, the activation memory is also counted exactly: the bytes of
the distinct storages that a forward saves for backward (a saved-tensors hook).
"""

import argparse
import json
import resource
import subprocess
import sys

import torch

from zerosnet_zoo.benchmark import Setting, autocast, build, compare, infer_step, inputs, train_step
from zerosnet_zoo.files import atomic_path


def setting_of(args: argparse.Namespace) -> Setting:
    return Setting(args.device, args.amp, args.compile, args.batch_size)


def _rss_kib() -> int:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))


def peak_memory_here(name: str, args, grad_checkpointing: bool) -> float:
    """MiB a train step needs beyond the built model (run in a fresh process)."""
    setting = setting_of(args)
    built = build(name, setting, grad_checkpointing)
    x, y = inputs(setting)
    if args.device.startswith('cuda'):
        train_step(built, x, y, setting)  # optimizer state exists from here on
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        train_step(built, x, y, setting)
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    before = _rss_kib()
    train_step(built, x, y, setting)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def saved_tensor_mib(name: str, args) -> float:
    """MiB of distinct storages one forward saves for backward: exact, whatever the allocator does."""
    setting = setting_of(args)
    runner = build(name, setting).runner
    x, _ = inputs(setting)
    sizes = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        sizes[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(setting):
        runner(x).sum()
    return sum(sizes.values()) / 2 ** 20


def peak_memory(name: str, args, grad_checkpointing: bool = False) -> float:
    cmd = [sys.executable, __file__, '--memory-of', name, '--device', args.device, '--batch-size', str(args.batch_size)]
    cmd += ['--amp'] if args.amp else []
    cmd += ['--compile'] if args.compile else []
    cmd += ['--grad-checkpointing'] if grad_checkpointing else []
    return float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depths', default='20,56,110', help='comma-separated CIFAR depths')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true')
    p.add_argument('--compile', action='store_true')
    p.add_argument('--reps', type=int, default=9)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    p.add_argument('--scaling-depths', default='20,110,164,326', help='ZeroSNet depths for time per image')
    p.add_argument('--json', help='also write the results here')
    p.add_argument('--memory-of', help=argparse.SUPPRESS)
    p.add_argument('--grad-checkpointing', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_of:
        print(peak_memory_here(args.memory_of, args, args.grad_checkpointing))
        return 0

    setting = setting_of(args)
    device_name = torch.cuda.get_device_name() if args.device.startswith('cuda') else \
        f'CPU, {torch.get_num_threads()} threads'
    print(f'# {device_name}; torch {torch.__version__}; batch {args.batch_size}; channels_last; '
          f'amp={args.amp}; compile={args.compile}; {args.reps} interleaved reps, medians')
    rows = []
    for depth in [int(d) for d in args.depths.split(',')]:
        names = [f'preresnet_{depth}', f'zerosnet_opt_{depth}', f'zerosnet_tra_{depth}']
        train = compare(names, train_step, setting, args.reps, args.warmup)
        infer = compare(names, infer_step, setting, args.reps, args.warmup)
        row = dict(depth=depth, train_s=train, infer_s=infer,
                   train_ratio=train[1] / train[0], infer_ratio=infer[1] / infer[0],
                   tra_train_ratio=train[2] / train[1], tra_infer_ratio=infer[2] / infer[1],
                   train_img_s=[args.batch_size / t for t in train], infer_img_s=[args.batch_size / t for t in infer])
        if not args.no_memory:
            row['memory_mib'] = [peak_memory(n, args) for n in names[:2]]
            row['memory_ratio'] = row['memory_mib'][1] / row['memory_mib'][0]
            row['saved_mib'] = [saved_tensor_mib(n, args) for n in names[:2]]
            row['saved_ratio'] = row['saved_mib'][1] / row['saved_mib'][0]
            if depth >= 110:
                row['memory_checkpointed_mib'] = peak_memory(names[1], args, grad_checkpointing=True)
        rows.append(row)
        print(f"depth {depth:4d}  train Z/P {row['train_ratio']:.3f}  infer Z/P {row['infer_ratio']:.3f}  "
              f"Tra/Opt train {row['tra_train_ratio']:.3f} infer {row['tra_infer_ratio']:.3f}  "
              f"img/s train P {row['train_img_s'][0]:.0f} Z {row['train_img_s'][1]:.0f}  "
              f"infer P {row['infer_img_s'][0]:.0f} Z {row['infer_img_s'][1]:.0f}"
              + (f"  peak MiB P {row['memory_mib'][0]:.0f} Z {row['memory_mib'][1]:.0f} "
                 f"(ratio {row['memory_ratio']:.3f})  saved for backward MiB P {row['saved_mib'][0]:.1f} "
                 f"Z {row['saved_mib'][1]:.1f} (ratio {row['saved_ratio']:.3f})" if 'memory_mib' in row else '')
              + (f"  checkpointed Z {row['memory_checkpointed_mib']:.0f}" if 'memory_checkpointed_mib' in row else ''),
              flush=True)

    scaling = {}
    if args.scaling_depths:
        depths = [int(d) for d in args.scaling_depths.split(',')]
        per_image = compare([f'zerosnet_opt_{d}' for d in depths], train_step, setting, args.reps, args.warmup)
        scaling = {d: t / args.batch_size * 1e3 for d, t in zip(depths, per_image)}
        print('train ms per image (ZeroSNet-Opt): ' + ', '.join(f'{d}: {v:.2f}' for d, v in scaling.items()))
    if args.json:
        results = dict(device=device_name, args=vars(args), rows=rows, ms_per_image=scaling)
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
