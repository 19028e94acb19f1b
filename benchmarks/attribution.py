"""Where a ZeroSNet step spends the time that a PreResNet step of the same depth does not.

    python benchmarks/attribution.py --depth 56                      # eager train step
    python benchmarks/attribution.py --depth 56 --compile --infer    # compiled inference

torch.profiler records a few steps (a train step is forward, backward and an SGD step;
inference is a forward under no_grad; batch 128, 32x32, channels_last) of preresnet_N,
zerosnet_opt_N and zerosnet_tra_N, interleaved, and sums the self time of every aten
operator, and with --compile of every kernel inductor generated, per step.  The operators
are grouped: the 3x3 convolutions (the same in both families), the 1x1 convolutions (at the
basic-block depths the projections: P_0 in both families, P_1 and P_2 at the stage
transitions, which only third-order blocks have; at bottleneck depths the branches' too),
batch norm and ReLU, the element-wise arithmetic (the multistep combination, the
accumulation of gradients, the SGD update), inductor's fused kernels (batch norm, ReLU and
the combination in one pass), and the rest (loss, views, ...).  The columns against
PreResNet are the cost of the multistep scheme, in ms per step and as a share of the
PreResNet step; profiling adds a little time to every operator alike.
"""

import argparse
import json
import re
import sys
from collections import defaultdict

import torch
import torch._inductor.config
from torch.profiler import ProfilerActivity, profile

from zerosnet_zoo.benchmark import Setting, alternating, build, infer_step, inputs, train_step
from zerosnet_zoo.files import atomic_path

# Matched in this order: a 1x1 convolution (op_name marks it) and an inductor kernel (named
# after what it fuses, e.g. ..._batch_norm_..._relu) before the names of the layers.
GROUPS = {
    '1x1 projections': (' 1x1',),
    'inductor fused kernels (BN, ReLU, combination)': ('cpp_fused',),
    '3x3 convolutions': ('convolution', 'conv2d'),
    'batch norm, ReLU': ('batch_norm', 'relu', 'threshold_backward'),
    'element-wise (combination, grad accumulation, SGD)': (
        'aten::add', 'aten::mul', 'aten::addcmul', 'aten::dot', 'aten::sum', 'aten::stack', 'aten::copy_',
        'aten::_foreach'),
}


def op_name(event) -> str:
    """The event's name without inductor's graph prefix, with ' 1x1' appended for a convolution whose weight is 1x1."""
    name = re.sub(r'^graph_\d+_', '', event.key)
    is_conv = 'convolution' in name or 'conv2d' in name
    if is_conv and any(len(s) == 4 and s[2:] == [1, 1] for s in event.input_shapes):
        return name + ' 1x1'
    return name


def group_of(op: str) -> str:
    for group, keys in GROUPS.items():
        if any(op == k or op.startswith(k + '_') or (not k.startswith('aten::') and k in op) for k in keys):
            return group
    return 'other'


def profile_steps(names: list, step, args) -> dict:
    """Per model: ms per step of each aten operator and inductor kernel (self time, summed over its calls)."""
    setting = Setting(compile=args.compile, batch_size=args.batch_size)
    x, y = inputs(setting)
    built = [build(n, setting) for n in names]
    for b in built:
        for _ in range(args.warmup):
            step(b, x, y, setting)
    per_op = {n: defaultdict(float) for n in names}
    for i in alternating(len(names), args.steps):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step(built[i], x, y, setting)
        for event in prof.key_averages(group_by_input_shape=True):
            if event.key.startswith('aten::') or 'cpp_fused' in event.key:
                per_op[names[i]][op_name(event)] += event.self_cpu_time_total / 1e3 / args.steps
    return per_op


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depth', type=int, default=56)
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--steps', type=int, default=4, help='profiled steps per model')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--compile', action='store_true', help='torch.compile the models (inductor)')
    p.add_argument('--infer', action='store_true', help='profile inference instead of a train step')
    p.add_argument('--json', help='also write the per-operator times here')
    args = p.parse_args(argv)
    # inductor's C++ kernels report themselves to the profiler only with this set
    torch._inductor.config.cpp.enable_kernel_profile = True

    names = [f'preresnet_{args.depth}', f'zerosnet_opt_{args.depth}', f'zerosnet_tra_{args.depth}']
    per_op = profile_steps(names, infer_step if args.infer else train_step, args)
    groups = {n: defaultdict(float) for n in names}
    for n in names:
        for op, ms in per_op[n].items():
            groups[n][group_of(op)] += ms
    base = sum(groups[names[0]].values())

    print(f"# CPU, {torch.get_num_threads()} threads; torch {torch.__version__}; depth {args.depth}; "
          f"batch {args.batch_size}; {'compiled' if args.compile else 'eager'}; {args.steps} profiled "
          f"{'inference' if args.infer else 'train'} steps per model; ms per step")
    print(f"{'':54s} {'PreResNet':>10s} {'Opt':>8s} {'Tra':>8s} {'Opt-P':>8s} {'% of P':>7s} {'Tra-Opt':>8s} {'% of P':>7s}")
    for g in [*GROUPS, 'other', 'total']:
        v = [sum(groups[n].values()) if g == 'total' else groups[n][g] for n in names]
        print(f'{g:54s} {v[0]:10.1f} {v[1]:8.1f} {v[2]:8.1f} {v[1] - v[0]:8.1f} {100 * (v[1] - v[0]) / base:6.1f}% '
              f'{v[2] - v[1]:8.1f} {100 * (v[2] - v[1]) / base:6.1f}%')
    print('\nlargest per-operator differences, Opt - PreResNet (ms per step):')
    ops = set().union(*(per_op[n] for n in names))
    diffs = sorted(ops, key=lambda op: -abs(per_op[names[1]].get(op, 0) - per_op[names[0]].get(op, 0)))
    for op in diffs[:10]:
        print(f'  {op[:60]:60s} {per_op[names[0]].get(op, 0):8.1f} {per_op[names[1]].get(op, 0):8.1f} '
              f'{per_op[names[1]].get(op, 0) - per_op[names[0]].get(op, 0):+8.1f}')
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(dict(args=vars(args), per_op=per_op, groups=groups), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
