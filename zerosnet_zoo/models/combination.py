"""The multistep combination y = beta f + sum_i a_i term_i, one function for every mode.

The block hands ``combine`` the fresh output of the residual branch's last convolution,
already scaled by beta (the branch folds beta into that convolution's weight), and adds
the terms in place on it, so that a step costs what a residual addition costs:

- fixed coefficients (python floats): ``y.add_(term, alpha=a)``, one pass per term;
- trainable coefficients (a tensor), eager: ``Combination``, whose backward gets the
  coefficients' gradients as dot products instead of autograd's product tensors;
- trainable coefficients under TorchScript or torch.compile / torch.export: ``addcmul_``,
  which TorchScript can run and inductor fuses into neighbouring kernels.

``combine`` is an FX leaf (``torch.fx.wrap``), so a traced graph calls it and keeps the
eager fast path; the TorchScript branch is what lets such a graph be scripted.
"""

from typing import List, Optional, Tuple, Union

import torch

__all__ = ['combine', 'Combination']

Alphas = Union[torch.Tensor, List[float]]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b): one read of each and no product tensor for float32/64 in a shared memory layout
    (else the plain product, summed in float32)."""
    for fmt, order in ((torch.contiguous_format, (0, 1, 2, 3)), (torch.channels_last, (0, 2, 3, 1))):
        if (a.dtype == b.dtype and a.dtype in (torch.float32, torch.float64) and a.dim() == 4
                and a.is_contiguous(memory_format=fmt) and b.is_contiguous(memory_format=fmt)):
            return torch.dot(a.permute(order).reshape(-1), b.permute(order).reshape(-1))
    return torch.sum(a * b, dtype=torch.float32)


class Combination(torch.autograd.Function):
    """y = f + sum_i c[i] terms[i], in place on f, for a tensor of trainable coefficients c.

    Autograd's own ``addcmul`` backward forms each product grad * term in memory and sums it
    for the coefficient's gradient; here that gradient is a dot product (one read of each
    tensor, no allocation), and f's gradient is the incoming one, as it is.
    """

    @staticmethod
    def forward(ctx, c: torch.Tensor, f: torch.Tensor, *terms: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(c, *terms)
        ctx.mark_dirty(f)
        for i, t in enumerate(terms):
            f.addcmul_(t, c[i])
        return f

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        c, *terms = ctx.saved_tensors
        grad_c = torch.stack([_dot(grad, t) for t in terms]).to(c.dtype) if ctx.needs_input_grad[0] else None
        grad_terms = [grad * c[i] if ctx.needs_input_grad[2 + i] else None for i in range(len(terms))]
        return (grad_c, grad, *grad_terms)


def _plain(f: torch.Tensor, terms: List[torch.Tensor], alphas: Alphas) -> torch.Tensor:
    """f + sum_i alphas[i] terms[i] in place on f, with autograd's own ops."""
    for i, t in enumerate(terms):
        if isinstance(alphas, torch.Tensor):  # the refinement TorchScript needs to type each call
            f = f.addcmul_(t, alphas[i])
        else:
            f = f.add_(t, alpha=alphas[i])  # rebinding keeps the data flow visible to tracers
    return f


def combine(f: torch.Tensor, terms: List[torch.Tensor], alphas: Alphas) -> torch.Tensor:
    """f + sum_i alphas[i] terms[i], in place on f (the fresh, beta-scaled branch output).

    ``alphas`` holds one coefficient per term: python floats (fixed schemes) or a 1-D tensor
    (trainable ones).
    """
    if torch.jit.is_scripting():  # TorchScript cannot run an autograd.Function; it skips the else branch
        return _plain(f, terms, alphas)
    else:
        if isinstance(alphas, torch.Tensor) and not torch.compiler.is_compiling():
            return Combination.apply(alphas, f, *terms)
        return _plain(f, terms, alphas)


torch.fx.wrap('combine')
