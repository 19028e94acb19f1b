"""Mixed precision against float32: the time of a train step and of inference, per model.

    python benchmarks/precision.py --models zerosnet_opt_56,preresnet_56

Mixed precision is bfloat16 autocast on the CPU and float16 autocast on a GPU (the weights
stay float32), as ``train/cifar.py --amp`` trains.  Each model is built twice, once per
precision, and the two are timed side by side in interleaved repetitions after warm-up, so a
busy machine slows both alike; the ratio mixed / float32 of the medians is printed with the
throughput.  Whether bfloat16 pays off on a CPU depends on its instructions: a CPU without
native bfloat16 arithmetic (avx512_bf16 or AMX on x86) converts and can be slower.
"""

import argparse
import json
from functools import partial

import torch

from zerosnet_zoo.benchmark import Setting, build, infer_step, inputs, interleaved, train_step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', default='zerosnet_opt_56,preresnet_56', help='comma-separated registered names')
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--device', default='cpu')
    p.add_argument('--reps', type=int, default=7)
    p.add_argument('--warmup', type=int, default=2)
    args = p.parse_args(argv)

    result = {'threads': torch.get_num_threads(), 'device': args.device, 'batch_size': args.batch_size}
    for name in args.models.split(','):
        settings = [Setting(device=args.device, batch_size=args.batch_size, amp=amp) for amp in (False, True)]
        built = [build(name, s) for s in settings]
        x, y = inputs(settings[0])
        result[name] = {}
        for step in (train_step, infer_step):
            full, mixed = interleaved([partial(step, b, x, y, s) for b, s in zip(built, settings)], args.reps,
                                      args.device, args.warmup)
            result[name][step.__name__] = {'mixed_vs_float32': mixed / full,
                                           'images_per_second': {'float32': args.batch_size / full,
                                                                 'mixed': args.batch_size / mixed}}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
