"""ZeroSNet and its baselines as one multistep pre-activation residual network.

Every family of the paper is the same network with another scheme:
block n turns the state (y[n], y[n-1], y[n-2]) into

    y[n+1] = a0 P0(y[n]) + a1 P1(y[n-1]) + a2 P2(y[n-2]) + beta f(y[n])

using as many history terms as the scheme's order d, after d - 1 plain starter blocks
(y[k+1] = P0(y[k]) + f(y[k])).  P_i is the identity or a 1x1 projection; the state handed
on is (y[n+1], P0(y[n]), P1(y[n-1])), so every block sees tensors of its own input shape.

- PreResNet (order 1): y[n+1] = alpha y[n] + f(y[n]).
- LM-ResNet (order 2): Lu et al. (trainable k) or the paper's eq. (8) (fixed k).
- ZeroSNet (order 3): fixed optimal coefficients (Opt) or a trainable lambda (Tra).
"""

from collections import OrderedDict
import warnings
from typing import Final, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import BatchNormAct2d, ClassifierHead
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model, resolve_pretrained_cfg
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint

from .. import stability
from ..stability import Scheme, ZeroStabilityWarning
from ..weights import packaged_cfg, verify_file
from .schemes import FixedScheme, LMTrainableScheme, ZeroSLambdaScheme

__all__ = ['MultistepResNet', 'MultistepBlock', 'CIFAR_DEPTHS']

State = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]

# depth -> (bottleneck, blocks per stage) for the CIFAR family
CIFAR_DEPTHS = {
    20: (False, 3), 32: (False, 5), 44: (False, 7), 56: (False, 9), 110: (False, 18),
    164: (True, 18), 326: (True, 36), 650: (True, 72), 1298: (True, 144),
}
# name suffix -> (bottleneck, blocks per stage) for the ImageNet family
IMAGENET_LAYOUTS = {
    18: (False, (2, 2, 2, 2)), 34: (False, (3, 4, 6, 3)), 50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)), 152: (True, (3, 8, 36, 3)),
}
OPTIMAL_LAMBDA = stability.optimal_lambda()


def _conv1x1(in_chs: int, out_chs: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, kernel_size=1, stride=stride, bias=False)


def _conv3x3(in_chs: int, out_chs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_chs, out_chs, kernel_size=3, stride=stride, padding=1, bias=False)


def _projection(in_chs: int, out_chs: int, stride: int) -> nn.Module:
    """P_i: identity where the shape already matches, else a bare 1x1 convolution."""
    if in_chs == out_chs and stride == 1:
        return nn.Identity()
    return _conv1x1(in_chs, out_chs, stride)


def _residual_branch(in_chs: int, width: int, stride: int, bottleneck: bool) -> nn.Sequential:
    """f without its first BN-ReLU (the block applies that, since the ImageNet skip shares it)."""
    if bottleneck:
        return nn.Sequential(OrderedDict(
            conv1=_conv1x1(in_chs, width, 1),
            norm2=BatchNormAct2d(width),
            conv2=_conv3x3(width, width, stride),
            norm3=BatchNormAct2d(width),
            conv3=_conv1x1(width, width * 4, 1),
        ))
    return nn.Sequential(OrderedDict(
        conv1=_conv3x3(in_chs, width, stride),
        norm2=BatchNormAct2d(width),
        conv2=_conv3x3(width, width),
    ))


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum(a * b): one read of each and no product tensor for float32/64 in a shared memory layout
    (else the plain product, summed in float32)."""
    for fmt, order in ((torch.contiguous_format, (0, 1, 2, 3)), (torch.channels_last, (0, 2, 3, 1))):
        if (a.dtype == b.dtype and a.dtype in (torch.float32, torch.float64) and a.dim() == 4
                and a.is_contiguous(memory_format=fmt) and b.is_contiguous(memory_format=fmt)):
            return torch.dot(a.permute(order).reshape(-1), b.permute(order).reshape(-1))
    return torch.sum(a * b, dtype=torch.float32)


class TrainableCombination(torch.autograd.Function):
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
    def backward(ctx, grad: torch.Tensor):
        c, *terms = ctx.saved_tensors
        grad_c = torch.stack([_dot(grad, t) for t in terms]).to(c.dtype) if ctx.needs_input_grad[0] else None
        grad_terms = [grad * c[i] if ctx.needs_input_grad[2 + i] else None for i in range(len(terms))]
        return (grad_c, grad, *grad_terms)


def addcmul_combination(c: torch.Tensor, f: torch.Tensor, skip: torch.Tensor, h1: torch.Tensor,
                        h2: torch.Tensor, order: int) -> torch.Tensor:
    """f + c[0] skip (+ c[1] h1 (+ c[2] h2)) in place on f, with autograd's own ops."""
    f = f.addcmul_(skip, c[0])
    if order >= 2:
        f = f.addcmul_(h1, c[1])
    if order >= 3:
        f = f.addcmul_(h2, c[2])
    return f


def trainable_combination(c: torch.Tensor, f: torch.Tensor, skip: torch.Tensor, h1: torch.Tensor,
                          h2: torch.Tensor, order: int) -> torch.Tensor:
    """f + c[0] skip (+ c[1] h1 (+ c[2] h2)) for the first ``order`` terms (an FX leaf).

    Under torch.compile the plain ops win: inductor fuses the additions and the gradient
    scalings into neighbouring kernels, which it cannot do through the Function.
    """
    if torch.jit.is_scripting():  # TorchScript cannot run an autograd.Function; it skips the else branch
        return addcmul_combination(c, f, skip, h1, h2, order)
    else:
        if torch.compiler.is_compiling():
            return addcmul_combination(c, f, skip, h1, h2, order)
        return TrainableCombination.apply(c[:order], f, *(skip, h1, h2)[:order])


torch.fx.wrap('trainable_combination')


class MultistepBlock(nn.Module):
    """One step y[n+1] = sum_i a_i P_i(y[n-i]) + beta f(y[n]) on the state (y[n], y[n-1], y[n-2]).

    Args:
        in_chs, width, stride, bottleneck: the residual branch f.
        history_chs: channels of y[n-1] and y[n-2] as this block receives them.
        coefficients: a fixed ``Scheme``, a module returning (a_0, ..., a_{order-1}, beta),
            or None for a starter block (y[n+1] = P0(y[n]) + f(y[n]) whatever the scheme).
        order: the scheme's order, the number of state terms the step uses.
        skip_preact: P0 projects the pre-activated input BN-ReLU(y[n]) (ImageNet family)
            instead of the raw y[n] (CIFAR family).
        stem_skip: the CIFAR bottleneck nets' block 0: the skip term is its own
            BN-ReLU-1x1 conv of y[0], and the raw y[0] is what is passed on as history.

    The combination costs what a residual addition costs wherever it can: beta rides on the
    last convolution's weight (``residual``) and the other terms are added in place on its
    output (``y.add_(x, alpha=a)``), so a starter or PreResNet block does one element-wise
    pass, a third-order block three, and neither allocates.  Trainable coefficients go
    through ``TrainableCombination``, whose backward computes their gradients as dot products.
    """
    trainable: Final[bool]  # TorchScript constants: only the paths in use are compiled
    bottleneck: Final[bool]
    fixed: List[float]  # (alpha_0, ..., beta); empty for trainable coefficients

    def __init__(
            self,
            in_chs: int,
            width: int,
            stride: int,
            bottleneck: bool,
            history_chs: Tuple[int, int],
            coefficients: Union[Scheme, nn.Module, None],
            order: int,
            skip_preact: bool = False,
            stem_skip: bool = False,
    ):
        super().__init__()
        out_chs = width * 4 if bottleneck else width
        self.starter = coefficients is None
        self.order = 1 if self.starter else order
        self.out_chs = out_chs
        self.pass_raw = stem_skip
        self.norm1 = BatchNormAct2d(in_chs)
        self.branch = _residual_branch(in_chs, width, stride, bottleneck)
        if stem_skip:
            self.proj_x = nn.Sequential(BatchNormAct2d(in_chs), _conv1x1(in_chs, out_chs, stride))
        else:
            self.proj_x = _projection(in_chs, out_chs, stride)
        self.skip_preact = skip_preact and not isinstance(self.proj_x, nn.Identity)
        self.proj_h1 = _projection(history_chs[0], out_chs, stride) if self.order >= 2 else nn.Identity()
        self.proj_h2 = _projection(history_chs[1], out_chs, stride) if self.order >= 3 else nn.Identity()
        self.trainable = isinstance(coefficients, nn.Module)
        self.coefficients = coefficients if self.trainable else None
        self.fixed_scheme = None if self.trainable else (coefficients or Scheme((1.0,), 1.0))
        self.fixed = [] if self.trainable else [*self.fixed_scheme.alphas, self.fixed_scheme.beta]
        self.bottleneck = bottleneck

    def scheme(self) -> Scheme:
        """This block's coefficients now (the learned ones for a trainable scheme)."""
        return self.coefficients.scheme() if self.trainable else self.fixed_scheme

    def residual(self, pre: torch.Tensor, beta: Optional[torch.Tensor]) -> torch.Tensor:
        """beta f(y[n]) from the pre-activated input, as f with its last convolution's weight times beta.

        Scaling the small weight instead of the output saves an element-wise pass over the
        activations in the forward and another in the backward, and leaves a fresh tensor that
        the combination can be built on in place.
        """
        b = self.branch
        h = b.norm2(b.conv1(pre))
        if self.bottleneck:
            h = b.norm3(b.conv2(h))
            weight = b.conv3.weight
        else:
            weight = b.conv2.weight
        if beta is not None:
            weight = weight * beta
        elif self.fixed[-1] != 1.0:
            weight = weight * self.fixed[-1]
        return F.conv2d(h, weight, None, 1, weight.shape[-1] // 2)

    def forward(self, state: State) -> State:
        x, h1, h2 = state
        pre = self.norm1(x)
        skip = self.proj_x(pre) if self.skip_preact else self.proj_x(x)
        if self.order >= 2:
            h1 = self.proj_h1(h1)
        if self.order >= 3:
            h2 = self.proj_h2(h2)
        # y is built in place on beta f, the fresh output of the branch's last convolution
        if self.trainable:
            c = self.coefficients()
            y = self.residual(pre, c[-1])
            y = trainable_combination(c, y, skip, h1, h2, self.order)
        else:
            a = self.fixed
            y = self.residual(pre, None).add_(skip, alpha=a[0])  # rebinding keeps FX data flow
            if self.order >= 2:
                y = y.add_(h1, alpha=a[1])
            if self.order >= 3:
                y = y.add_(h2, alpha=a[2])
        return y, (x if self.pass_raw else skip), h1


class StateSequential(nn.Sequential):
    """nn.Sequential over the multistep state (typed, so that TorchScript accepts the tuple)."""

    def forward(self, state: State) -> State:
        for module in self:
            state = module(state)
        return state


class MultistepResNet(nn.Module):
    """A pre-activation ResNet whose blocks are steps of a linear multistep scheme.

    Args:
        layers: blocks per stage.
        scheme: a scheme spec from ``zerosnet_zoo.models.schemes`` (its ``order`` and the
            coefficients it makes for each non-starter block: numbers or a trainable module).
        bottleneck: bottleneck (expansion 4) instead of basic blocks.
        stem_type: 'cifar' (3x3 conv, widths 16/32/64, final BN-ReLU) or
            'imagenet' (7x7/2 conv, BN-ReLU, max pool; widths 64/128/256/512).
        num_classes, in_chans, global_pool, drop_rate: as in every timm model.
        zero_init_last: start every residual branch's last convolution at zero (timm's
            convention: the untrained network is the bare multistep recursion, finite in
            eval mode at any depth). False gives the reference code's initialization
            (Kaiming normal everywhere), which the paper's experiments used.
    """

    def __init__(
            self,
            layers: Sequence[int],
            scheme: Union[FixedScheme, ZeroSLambdaScheme, LMTrainableScheme],
            bottleneck: bool = False,
            stem_type: str = 'cifar',
            num_classes: int = 1000,
            in_chans: int = 3,
            global_pool: str = 'avg',
            drop_rate: float = 0.0,
            zero_init_last: bool = True,
    ):
        super().__init__()
        if stem_type not in ('cifar', 'imagenet'):
            raise ValueError(f"stem_type must be 'cifar' or 'imagenet', got {stem_type!r}")
        imagenet = stem_type == 'imagenet'
        widths, strides = ((64, 128, 256, 512), (1, 2, 2, 2)) if imagenet else ((16, 32, 64), (1, 2, 2))
        if len(layers) != len(widths) or min(layers) < 1:
            raise ValueError(f'layers must give {len(widths)} positive block counts, got {tuple(layers)}')
        if layers[0] < scheme.order - 1:
            # a history term from before a stride would reach a step that does not downsample it
            raise ValueError(f'an order-{scheme.order} scheme needs its {scheme.order - 1} starter blocks in the '
                             f'first stage, got layers={tuple(layers)}; give the first stage more blocks')
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        stem_chs = widths[0]
        if imagenet:
            self.stem = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_chans, stem_chs, kernel_size=7, stride=2, padding=3, bias=False),
                norm=BatchNormAct2d(stem_chs),
                pool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            ))
            self.feature_info = [dict(num_chs=stem_chs, reduction=2, module='stem.norm')]
            reduction = 4
        else:
            self.stem = nn.Sequential(OrderedDict(conv=_conv3x3(in_chans, stem_chs)))
            self.feature_info = [dict(num_chs=stem_chs, reduction=1, module='stem')]
            reduction = 1
        self._stem_feat_idx = 1 if imagenet else 0

        chs = (stem_chs, stem_chs, stem_chs)  # channels of the state (y[n], y[n-1], y[n-2])
        block_idx = 0
        stages = []
        for stage_idx, (width, stride, depth) in enumerate(zip(widths, strides, layers)):
            blocks = []
            for j in range(depth):
                starter = block_idx < scheme.order - 1
                block = MultistepBlock(
                    chs[0], width, stride if j == 0 else 1, bottleneck,
                    history_chs=(chs[1], chs[2]),
                    coefficients=None if starter else scheme.make(),
                    order=scheme.order,
                    skip_preact=imagenet,
                    stem_skip=bottleneck and not imagenet and block_idx == 0,
                )
                out = block.out_chs
                chs = (out, chs[0] if block.pass_raw else out, chs[1] if block.order < 2 else out)
                blocks.append(block)
                block_idx += 1
            reduction *= stride
            stages.append(StateSequential(*blocks))
            self.feature_info.append(dict(num_chs=chs[0], reduction=reduction, module=f'stages.{stage_idx}'))
        self.stages = StateSequential(*stages)
        self.num_features = self.head_hidden_size = chs[0]
        # the CIFAR reference ends with BN-ReLU before pooling; the ImageNet one does not
        self.norm = nn.Identity() if imagenet else BatchNormAct2d(self.num_features)
        self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        if zero_init_last:
            for stage in self.stages:
                for block in stage:
                    nn.init.zeros_(block.branch[-1].weight)
        self._warn_if_unstable()

    def schemes(self) -> List[Scheme]:
        """The scheme of every non-starter block, in order, as ``stability.analyze(*s)`` takes it.

        For trainable schemes these are the current (learned) coefficients.
        """
        return [b.scheme() for stage in self.stages for b in stage if not b.starter]

    def _warn_if_unstable(self) -> None:
        for s in dict.fromkeys(self.schemes()):
            report = stability.analyze(s.alphas)
            if not report.zero_stable:
                moduli = ', '.join(f'{m:.3g}' for m in report.moduli)
                warnings.warn(
                    f'scheme alphas={s.alphas}, beta={s.beta:.6g} is not zero-stable '
                    f'(root moduli {moduli}: {"; ".join(report.reasons)}); the network still builds',
                    ZeroStabilityWarning, stacklevel=2)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r'^stem', blocks=r'^stages\.(\d+)' if coarse else r'^stages\.(\d+)\.(\d+)')

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool)

    def forward_intermediates(
            self,
            x: torch.Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = 'NCHW',
            intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Features of the stem (index 0) and of each stage (1..), as timm defines it."""
        if output_fmt != 'NCHW':
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.stages) + 1, indices)
        intermediates = []
        for i, layer in enumerate(self.stem):
            x = layer(x)
            if i == self._stem_feat_idx and 0 in take_indices:
                intermediates.append(x)
        stages = self.stages if torch.jit.is_scripting() or not stop_early else self.stages[:max_index]
        state = (x, x, x)
        last = len(self.stages)
        for feat_idx, stage in enumerate(stages, start=1):
            if self.grad_checkpointing:
                for block in stage:
                    state = checkpoint(block, state)
            else:
                state = stage(state)
            if feat_idx in take_indices:
                intermediates.append(self.norm(state[0]) if norm and feat_idx == last else state[0])
        if intermediates_only:
            return intermediates
        return self.norm(state[0]), intermediates

    def prune_intermediate_layers(
            self,
            indices: Union[int, List[int]] = 1,
            prune_norm: bool = False,
            prune_head: bool = True,
    ) -> List[int]:
        """Drop the stages (and head) that the requested intermediates do not need."""
        take_indices, max_index = feature_take_indices(len(self.stages) + 1, indices)
        self.stages = self.stages[:max_index]
        if max_index == 0:
            self.stem = self.stem[:self._stem_feat_idx + 1]
        if prune_norm or max_index < len(self.feature_info) - 1:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, '')
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        state = (x, x, x)  # starters never read the missing histories
        if self.grad_checkpointing and not torch.jit.is_scripting():
            for stage in self.stages:
                for block in stage:
                    state = checkpoint(block, state)
        else:
            state = self.stages(state)
        return self.norm(state[0])

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------
# Builders: user knobs -> scheme spec -> timm's build_model_with_cfg

def _cifar_layout(depth: int) -> Tuple[bool, Tuple[int, int, int]]:
    if depth not in CIFAR_DEPTHS:
        raise ValueError(f'unknown CIFAR depth {depth}; available: {sorted(CIFAR_DEPTHS)}')
    bottleneck, n = CIFAR_DEPTHS[depth]
    return bottleneck, (n, n, n)


def _imagenet_layout(depth: int) -> Tuple[bool, Tuple[int, ...]]:
    if depth not in IMAGENET_LAYOUTS:
        raise ValueError(f'unknown ImageNet depth {depth}; available: {sorted(IMAGENET_LAYOUTS)}')
    return IMAGENET_LAYOUTS[depth]


def zerosnet_scheme(lam: Optional[float] = None, coefficients: Optional[Sequence[float]] = None) -> FixedScheme:
    """The fixed ZeroSNet scheme: optimal by default, else from ``lam`` or any ``coefficients``."""
    if lam is not None and coefficients is not None:
        raise ValueError('give either lam= (a ZeroSNet lambda) or coefficients=(a0, a1, a2, beta), not both')
    if coefficients is not None:
        return FixedScheme.from_sequence(coefficients, order=3)
    s = stability.zerosnet_coefficients(OPTIMAL_LAMBDA if lam is None else lam)
    return FixedScheme(s.alphas, s.beta)


def checkpoint_filter_fn(state_dict: dict, model: 'MultistepResNet') -> dict:
    """timm's hook for pretrained loading: converts reference checkpoints, passes ours through."""
    from .convert import convert_reference_state_dict, is_reference_state_dict
    state_dict = state_dict.get('state_dict', state_dict)
    if is_reference_state_dict(state_dict):
        return convert_reference_state_dict(state_dict, model)
    return state_dict


def _create(variant: str, pretrained: bool, **kwargs) -> MultistepResNet:
    if pretrained:
        cfg = resolve_pretrained_cfg(
            variant, pretrained_cfg=kwargs.get('pretrained_cfg'),
            pretrained_cfg_overlay=kwargs.get('pretrained_cfg_overlay'))
        if not (cfg.has_weights or cfg.state_dict):
            raise RuntimeError(
                f'no pretrained weights are published for {variant} (tag {cfg.tag or "default"}); '
                f'use pretrained=False, or point at a checkpoint with '
                f'pretrained_cfg_overlay=dict(file="model.safetensors")')
        if cfg.file:
            verify_file(cfg.file)
    stages = len(kwargs['layers'])
    return build_model_with_cfg(
        MultistepResNet, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(feature_cls='getter', out_indices=tuple(range(stages + 1))),
        **kwargs)


def _create_cifar(variant: str, depth: int, pretrained: bool, scheme, **kwargs) -> MultistepResNet:
    bottleneck, layers = _cifar_layout(depth)
    return _create(variant, pretrained, layers=layers, bottleneck=bottleneck, scheme=scheme,
                   stem_type='cifar', **kwargs)


def _create_imagenet(variant: str, depth: int, pretrained: bool, scheme, **kwargs) -> MultistepResNet:
    bottleneck, layers = _imagenet_layout(depth)
    return _create(variant, pretrained, layers=layers, bottleneck=bottleneck, scheme=scheme,
                   stem_type='imagenet', **kwargs)


def _zerosnet_opt(variant, depth, pretrained, lam=None, coefficients=None, imagenet=False, **kwargs):
    create = _create_imagenet if imagenet else _create_cifar
    return create(variant, depth, pretrained, zerosnet_scheme(lam, coefficients), **kwargs)


def _zerosnet_tra(variant, depth, pretrained, lam=None, keep_zero_stable=False, imagenet=False, **kwargs):
    # the reference initializes lambda at 1 on CIFAR and at the optimal -9/5 on ImageNet
    init = lam if lam is not None else (OPTIMAL_LAMBDA if imagenet else 1.0)
    create = _create_imagenet if imagenet else _create_cifar
    return create(variant, depth, pretrained, ZeroSLambdaScheme(float(init), keep_zero_stable), **kwargs)


def _preresnet(variant, depth, pretrained, alpha=1.0, imagenet=False, **kwargs):
    scheme = FixedScheme(*stability.preresnet_coefficients(float(alpha)))
    create = _create_imagenet if imagenet else _create_cifar
    return create(variant, depth, pretrained, scheme, **kwargs)


def _lmresnet(variant, depth, pretrained, k=None, **kwargs):
    scheme = LMTrainableScheme() if k is None else FixedScheme(*stability.lm_coefficients(float(k)))
    return _create_cifar(variant, depth, pretrained, scheme, **kwargs)


# ---------------------------------------------------------------------------------------
# Pretrained configs.  Every tag exists so that timm.create_model('zerosnet_opt_56.cifar100')
# picks the right head and preprocessing; the tags in PACKAGED_WEIGHTS also carry weights
# (shipped in zerosnet_zoo/weights, copied on the Hugging Face Hub), and only those are
# listed by timm.list_pretrained().

PAPER = 'Zero Stability Well Predicts Performance of Convolutional Neural Networks (AAAI 2022)'
REFERENCE_CODE = 'https://github.com/LongJin-lab/ZeroSNet'
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')

# NAME.TAG -> sha256 of its safetensors file (train/release.py writes both)
PACKAGED_WEIGHTS = {
    'preresnet_20.cifar10': 'ffb6cfba269565ce64bd6f938f26c7616064058248b519488f11caa0e3ad4c2b',
    'zerosnet_opt_20.cifar10': '8049a887bc6e3387bdddfc9b0cf54eb9bf31fc8be5f365fddb58bf29f4d636ca',
}


def _cifar_cfg(name_tag: str, num_classes: int, mean, std) -> dict:
    weights = packaged_cfg(name_tag, PACKAGED_WEIGHTS[name_tag]) if name_tag in PACKAGED_WEIGHTS else {}
    labels = dict(label_names=CIFAR10_CLASSES) if num_classes == 10 else {}
    return dict(
        url='', num_classes=num_classes, input_size=(3, 32, 32), pool_size=(8, 8), crop_pct=1.0,
        interpolation='bilinear', mean=mean, std=std, first_conv='stem.conv', classifier='head.fc',
        paper_name=PAPER, origin_url=REFERENCE_CODE, **labels, **weights)


def _imagenet_cfg() -> dict:
    return dict(
        url='', num_classes=1000, input_size=(3, 224, 224), pool_size=(7, 7), crop_pct=0.875,
        interpolation='bilinear', mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD,
        first_conv='stem.conv', classifier='head.fc',
        paper_name=PAPER, origin_url=REFERENCE_CODE)


_CIFAR_FAMILIES = {
    'zerosnet_opt': tuple(CIFAR_DEPTHS), 'zerosnet_tra': tuple(CIFAR_DEPTHS),
    'preresnet': (20, 32, 44, 56, 110, 164), 'lmresnet': (20, 32, 44, 56, 110),
}
_IMAGENET_NAMES = (
    [f'zerosnet{d}' for d in IMAGENET_LAYOUTS] + [f'zerosnet_tra{d}' for d in IMAGENET_LAYOUTS]
    + ['preresnet18', 'preresnet34', 'preresnet50'])

default_cfgs = generate_default_cfgs({
    **{f'{family}_{d}.{tag}': _cifar_cfg(f'{family}_{d}.{tag}', n, mean, std)
       for family, depths in _CIFAR_FAMILIES.items() for d in depths
       for tag, n, mean, std in (('cifar10', 10, CIFAR10_MEAN, CIFAR10_STD),
                                 ('cifar100', 100, CIFAR100_MEAN, CIFAR100_STD))},
    **{f'{name}.in1k': _imagenet_cfg() for name in _IMAGENET_NAMES},
})


# ---------------------------------------------------------------------------------------
# Registered models.  CIFAR knobs: lam=, coefficients=(a0, a1, a2, beta) (Opt);
# lam= (initial lambda), keep_zero_stable= (Tra); alpha= (PreResNet); k= (LM-ResNet).

@register_model
def zerosnet_opt_20(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-20 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_20', 20, pretrained, **kwargs)

@register_model
def zerosnet_opt_32(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-32 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_32', 32, pretrained, **kwargs)

@register_model
def zerosnet_opt_44(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-44 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_44', 44, pretrained, **kwargs)

@register_model
def zerosnet_opt_56(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-56 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_56', 56, pretrained, **kwargs)

@register_model
def zerosnet_opt_110(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-110 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_110', 110, pretrained, **kwargs)

@register_model
def zerosnet_opt_164(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-164 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_164', 164, pretrained, **kwargs)

@register_model
def zerosnet_opt_326(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-326 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_326', 326, pretrained, **kwargs)

@register_model
def zerosnet_opt_650(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-650 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_650', 650, pretrained, **kwargs)

@register_model
def zerosnet_opt_1298(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-1298 (CIFAR): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet_opt_1298', 1298, pretrained, **kwargs)

@register_model
def zerosnet_tra_20(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-20 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_20', 20, pretrained, **kwargs)

@register_model
def zerosnet_tra_32(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-32 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_32', 32, pretrained, **kwargs)

@register_model
def zerosnet_tra_44(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-44 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_44', 44, pretrained, **kwargs)

@register_model
def zerosnet_tra_56(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-56 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_56', 56, pretrained, **kwargs)

@register_model
def zerosnet_tra_110(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-110 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_110', 110, pretrained, **kwargs)

@register_model
def zerosnet_tra_164(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-164 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_164', 164, pretrained, **kwargs)

@register_model
def zerosnet_tra_326(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-326 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_326', 326, pretrained, **kwargs)

@register_model
def zerosnet_tra_650(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-650 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_650', 650, pretrained, **kwargs)

@register_model
def zerosnet_tra_1298(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-1298 (CIFAR): a trainable lambda per block, from 1.0; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra_1298', 1298, pretrained, **kwargs)

@register_model
def preresnet_20(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-20 (CIFAR): y[n+1] = alpha y[n] + f(y[n]); knob alpha= (default 1)."""
    return _preresnet('preresnet_20', 20, pretrained, **kwargs)

@register_model
def preresnet_32(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-32 (CIFAR): y[n+1] = alpha y[n] + f(y[n]); knob alpha= (default 1)."""
    return _preresnet('preresnet_32', 32, pretrained, **kwargs)

@register_model
def preresnet_44(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-44 (CIFAR): y[n+1] = alpha y[n] + f(y[n]); knob alpha= (default 1)."""
    return _preresnet('preresnet_44', 44, pretrained, **kwargs)

@register_model
def preresnet_56(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-56 (CIFAR): y[n+1] = alpha y[n] + f(y[n]); knob alpha= (default 1)."""
    return _preresnet('preresnet_56', 56, pretrained, **kwargs)

@register_model
def preresnet_110(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-110 (CIFAR): y[n+1] = alpha y[n] + f(y[n]); knob alpha= (default 1)."""
    return _preresnet('preresnet_110', 110, pretrained, **kwargs)

@register_model
def preresnet_164(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-164 (CIFAR): y[n+1] = alpha y[n] + f(y[n]); knob alpha= (default 1)."""
    return _preresnet('preresnet_164', 164, pretrained, **kwargs)

@register_model
def lmresnet_20(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """LM-ResNet-20 (CIFAR): trainable k (Lu et al.), or k=float for the paper's eq. (8)."""
    return _lmresnet('lmresnet_20', 20, pretrained, **kwargs)

@register_model
def lmresnet_32(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """LM-ResNet-32 (CIFAR): trainable k (Lu et al.), or k=float for the paper's eq. (8)."""
    return _lmresnet('lmresnet_32', 32, pretrained, **kwargs)

@register_model
def lmresnet_44(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """LM-ResNet-44 (CIFAR): trainable k (Lu et al.), or k=float for the paper's eq. (8)."""
    return _lmresnet('lmresnet_44', 44, pretrained, **kwargs)

@register_model
def lmresnet_56(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """LM-ResNet-56 (CIFAR): trainable k (Lu et al.), or k=float for the paper's eq. (8)."""
    return _lmresnet('lmresnet_56', 56, pretrained, **kwargs)

@register_model
def lmresnet_110(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """LM-ResNet-110 (CIFAR): trainable k (Lu et al.), or k=float for the paper's eq. (8)."""
    return _lmresnet('lmresnet_110', 110, pretrained, **kwargs)

# ImageNet family: pre-activated projections of y[n], no final BN-ReLU.

@register_model
def zerosnet18(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-18 (ImageNet): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet18', 18, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet34(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-34 (ImageNet): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet34', 34, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet50(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-50 (ImageNet): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet50', 50, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet101(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-101 (ImageNet): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet101', 101, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet152(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-152 (ImageNet): optimal fixed scheme (lambda = -9/5); knobs lam=, coefficients=."""
    return _zerosnet_opt('zerosnet152', 152, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet_tra18(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-18 (ImageNet): a trainable lambda per block, from -9/5; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra18', 18, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet_tra34(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-34 (ImageNet): a trainable lambda per block, from -9/5; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra34', 34, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet_tra50(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-50 (ImageNet): a trainable lambda per block, from -9/5; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra50', 50, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet_tra101(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-101 (ImageNet): a trainable lambda per block, from -9/5; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra101', 101, pretrained, imagenet=True, **kwargs)

@register_model
def zerosnet_tra152(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-152 (ImageNet): a trainable lambda per block, from -9/5; knobs lam=, keep_zero_stable=."""
    return _zerosnet_tra('zerosnet_tra152', 152, pretrained, imagenet=True, **kwargs)

@register_model
def preresnet18(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-18 (ImageNet), the reference code's pre-activation baseline; knob alpha= (default 1)."""
    return _preresnet('preresnet18', 18, pretrained, imagenet=True, **kwargs)

@register_model
def preresnet34(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-34 (ImageNet), the reference code's pre-activation baseline; knob alpha= (default 1)."""
    return _preresnet('preresnet34', 34, pretrained, imagenet=True, **kwargs)

@register_model
def preresnet50(pretrained: bool = False, **kwargs) -> MultistepResNet:
    """PreResNet-50 (ImageNet), the reference code's pre-activation baseline; knob alpha= (default 1)."""
    return _preresnet('preresnet50', 50, pretrained, imagenet=True, **kwargs)
