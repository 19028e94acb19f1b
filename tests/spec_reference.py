"""An independent, functional ZeroSNet forward written from docs/design.md, on the
reference implementation's state-dict names, used to check the models and the converter.

It shares no code with zerosnet_zoo: every block is spelled out with torch.nn.functional.
"""

import re
from pathlib import Path

import torch
import torch.nn.functional as F

KEY_LIST = Path(__file__).resolve().parent / 'data' / 'reference_state_dict_keys.txt'


def reference_sections() -> dict:
    """{section name: [(key, shape), ...]} from the reference key list."""
    sections, current = {}, None
    for line in KEY_LIST.read_text().splitlines():
        if m := re.match(r'^\[(.+)\]', line):
            current = sections.setdefault(m.group(1), [])
        elif current is not None and line.strip() and not line.startswith('#'):
            key, shape = line.split(' ', 1)
            current.append((key, tuple(int(s) for s in re.findall(r'\d+', shape))))
    return sections


def random_state_dict(entries, seed: int = 0) -> dict:
    """Random weights and BN statistics of the listed shapes; lambdas drawn in the stable set."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in entries:
        if key.endswith('num_batches_tracked'):
            sd[key] = torch.tensor(0)
        elif key.endswith('running_var'):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith(('.coe', '.k')):
            sd[key] = -1.2 - 2 * torch.rand(shape, generator=g)
        else:
            sd[key] = 0.2 * torch.randn(shape, generator=g)
    return sd


def _bn(sd, p, x):
    return F.batch_norm(x, sd[p + '.running_mean'], sd[p + '.running_var'], sd[p + '.weight'], sd[p + '.bias'],
                        False, 0.0, 1e-5)


def _conv(sd, p, x, stride=1):
    w = sd[p + '.weight']
    return F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2)


def _branch(sd, p, x, stride):
    """Returns (BN-ReLU(x), f(x)); bottleneck when conv3 exists, stride on the first 3x3 conv."""
    pre = F.relu(_bn(sd, p + '.bn1', x))
    if p + '.conv3.weight' in sd:
        h = F.relu(_bn(sd, p + '.bn2', _conv(sd, p + '.conv1', pre)))
        h = F.relu(_bn(sd, p + '.bn3', _conv(sd, p + '.conv2', h, stride)))
        return pre, _conv(sd, p + '.conv3', h)
    h = F.relu(_bn(sd, p + '.bn2', _conv(sd, p + '.conv1', pre, stride)))
    return pre, _conv(sd, p + '.conv2', h)


def _coefficients(sd, p, fixed):
    if p + '.coe' in sd or p + '.k' in sd:
        lam = float(sd.get(p + '.coe', sd.get(p + '.k')))
        return 3 * (1 + lam) / (4 * lam), -1 / lam, (1 + lam) / (4 * lam), (3 * lam - 1) / (2 * lam)
    return fixed


def _maybe(sd, name, x, stride):
    return _conv(sd, name, x, stride) if name + '.weight' in sd else x


def cifar_forward(sd, x, blocks_per_stage, coefficients=(1 / 3, 5 / 9, 1 / 9, 16 / 9)):
    """CIFAR: raw projections; bottleneck block 0 skips through downsample1."""
    y = _conv(sd, 'conv1', x)
    h1 = h2 = None
    n = 0
    for stage in range(3):
        for j in range(blocks_per_stage):
            p, stride = f'blocks.{n}', 2 if (stage > 0 and j == 0) else 1
            _, f = _branch(sd, p, y, stride)
            if n < 2:  # starters
                if n == 0 and p + '.conv3.weight' in sd:
                    skip = _conv(sd, 'downsample1.downsample.2', F.relu(_bn(sd, 'downsample1.downsample.0', y)))
                else:
                    skip = y
                y, h1, h2 = skip + f, y, h1  # CIFAR starters pass their raw input on
            else:
                a0, a1, a2, b = _coefficients(sd, p, coefficients)
                px = _maybe(sd, p + '.downsample_x.downsample_.0', y, stride)
                p1 = _maybe(sd, p + '.downsample_l.downsample_.0', h1, stride)
                p2 = _maybe(sd, p + '.downsample_ll.downsample_.0', h2, stride)
                y, h1, h2 = a0 * px + a1 * p1 + a2 * p2 + b * f, px, p1
            n += 1
    y = F.relu(_bn(sd, 'bn', y))
    return F.linear(y.mean((2, 3)), sd['fc.weight'], sd['fc.bias'])


def imagenet_forward(sd, x, layers, coefficients=(1 / 3, 5 / 9, 1 / 9, 16 / 9), order=3):
    """ImageNet: P0 on the pre-activated input; no final BN-ReLU.  order=1: PreResNet."""
    y = F.max_pool2d(F.relu(_bn(sd, 'bn1', _conv(sd, 'conv1', x, stride=2))), 3, 2, 1)
    h1 = h2 = None
    n = 0
    for stage, count in enumerate(layers):
        for j in range(count):
            p, stride = f'layer{stage + 1}.{j}', 2 if (stage > 0 and j == 0) else 1
            pre, f = _branch(sd, p, y, stride)
            shortcut = p + ('.shortcut.0' if order == 1 else '.shortcut_x.0')
            skip = _conv(sd, shortcut, pre, stride) if shortcut + '.weight' in sd else y
            if n < order - 1:
                y, h1, h2 = skip + f, skip, h1
            elif order == 1:
                y = skip + f
            else:
                a0, a1, a2, b = _coefficients(sd, p, coefficients)
                p1 = _maybe(sd, p + '.shortcut_l.0', h1, stride)
                p2 = _maybe(sd, p + '.shortcut_ll.0', h2, stride)
                y, h1, h2 = a0 * skip + a1 * p1 + a2 * p2 + b * f, skip, p1
            n += 1
    return F.linear(y.mean((2, 3)), sd['fc.weight'], sd['fc.bias'])
