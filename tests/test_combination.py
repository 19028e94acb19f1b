"""The fused multistep combination equals the straightforward formula of docs/design.md, forward and
backward, for fixed and trainable coefficients, in float32 and under bfloat16 autocast."""

import pytest
import timm
import torch

import zerosnet_zoo  # noqa: F401
from zerosnet_zoo.models.schemes import LambdaCoefficients, LMCoefficients
from zerosnet_zoo.models.combination import _dot


def straightforward(block, state):
    """y = a0 P0(y[n]) + a1 P1(y[n-1]) + a2 P2(y[n-2]) + beta f(y[n]), term by term."""
    x, h1, h2 = state
    pre = block.norm1(x)
    f = block.branch(pre)
    skip = block.proj_x(pre) if block.skip_preact else block.proj_x(x)
    if isinstance(block.coefficients, LMCoefficients):
        k = block.coefficients.k
        c = [1 - k, k, 1.0]
    elif isinstance(block.coefficients, LambdaCoefficients):
        lam = block.coefficients.lam_value()
        c = [3 * (1 + lam) / (4 * lam), -1 / lam, (1 + lam) / (4 * lam), (3 * lam - 1) / (2 * lam)]
    else:
        s = block.scheme()
        c = [*s.alphas, s.beta]
    y = c[0] * skip + c[-1] * f
    if block.order >= 2:
        y = y + c[1] * block.proj_h1(h1)
    if block.order >= 3:
        y = y + c[2] * block.proj_h2(h2)
    return y


@pytest.mark.parametrize('name, kwargs', [
    ('zerosnet_opt_20', {}), ('zerosnet_opt_20', dict(coefficients=(0.5, 0.3, 0.1, 0.1))),
    ('zerosnet_tra_20', dict(lam=-1.5)), ('zerosnet_tra_20', dict(keep_zero_stable=True)),
    ('lmresnet_20', {}), ('lmresnet_20', dict(k=0.5)), ('preresnet_20', dict(alpha=0.7)), ('preresnet_20', {}),
])
@pytest.mark.parametrize('autocast', [False, True])
def test_fused_equals_straightforward(name, kwargs, autocast):
    torch.manual_seed(0)
    model = timm.create_model(name, zero_init_last=False, **kwargs).train()
    blocks = [b for stage in model.stages for b in stage]
    block = blocks[3]  # a stage-transition block: every projection in use
    g = torch.Generator().manual_seed(1)
    state = [torch.randn(2, 16, 32, 32, generator=g).requires_grad_() for _ in range(3)]
    upstream = torch.randn(2, 32, 16, 16, generator=g)

    results = []
    for compute in (lambda s: block(tuple(s))[0], lambda s: straightforward(block, s)):
        for t in state:
            t.grad = None
        block.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            y = compute(state)
        (y.float() * upstream).sum().backward()
        grads = [t.grad.clone() if t.grad is not None else torch.zeros_like(t) for t in state]
        params = {n: p.grad.clone() for n, p in block.named_parameters() if p.grad is not None}
        results.append((y.detach().float(), grads, params))

    (y1, g1, p1), (y2, g2, p2) = results
    tol = dict(rtol=2e-2, atol=2e-2 * y2.abs().max().item()) if autocast else dict(rtol=1e-5, atol=1e-5)
    assert torch.allclose(y1, y2, **tol)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=tol['rtol'], atol=tol['rtol'] * max(b.abs().max().item(), 1e-6))
    assert p1.keys() == p2.keys()
    for n in p1:
        assert torch.allclose(p1[n], p2[n], rtol=tol['rtol'], atol=tol['rtol'] * max(p2[n].abs().max().item(), 1e-6)), n
    if isinstance(block.coefficients, (LambdaCoefficients, LMCoefficients)):
        assert any(n.startswith('coefficients.') for n in p1)  # the trainable coefficient gets its gradient


@pytest.mark.parametrize('formats', [(torch.contiguous_format,) * 2, (torch.channels_last,) * 2,
                                     (torch.channels_last, torch.contiguous_format)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_dot_is_the_sum_of_products(formats, dtype):
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(3, 5, 4, 6, generator=g).to(dtype).contiguous(memory_format=m) for m in formats)
    expected = (a.double() * b.double()).sum()
    assert torch.allclose(_dot(a, b).double(), expected, rtol=1e-2 if dtype == torch.bfloat16 else 1e-5)


@pytest.mark.parametrize('name', ['zerosnet_tra_20', 'lmresnet_20'])
@pytest.mark.parametrize('wrap', ['script', 'compile'])
def test_plain_op_trainable_combination_matches_eager(name, wrap):
    """TorchScript and torch.compile take the plain-op path; its gradients equal the autograd.Function's."""
    torch.manual_seed(0)
    model = timm.create_model(name, zero_init_last=False).train()
    # aot_eager traces through autograd as inductor does, without needing a C++ toolchain
    wrapped = torch.jit.script(model) if wrap == 'script' else torch.compile(model, backend='aot_eager')
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    grads = []
    for m in (model, wrapped):
        model.zero_grad()
        with torch.random.fork_rng():
            m(x).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], rtol=1e-4, atol=1e-6), n
    assert any(n.endswith('coefficients.lam') or n.endswith('coefficients.k') for n in grads[0])
