"""ZeroSNet and its baselines as one multistep pre-activation residual network.

Every family of the paper is the same network with another scheme (docs/design.md):
block n turns the state (y[n], y[n-1], y[n-2]) into

    y[n+1] = a0 P0(y[n]) + a1 P1(y[n-1]) + a2 P2(y[n-2]) + beta f(y[n])

using as many history terms as the scheme's order d (at most 3), after d - 1 starter blocks
(the order-1 step y[k+1] = P0(y[k]) + f(y[k])).  P_i is the identity, or a 1x1 projection
where a term's shape differs from y[n+1]'s; the state handed on is (y[n+1], P0(y[n]),
P1(y[n-1])), so the history a block receives already has its input's shape.  (The
CIFAR bottleneck nets' block 0 differs: its P0 is a BN-ReLU-1x1 conv of the stem output, and
it hands on the raw stem output, which the following blocks project themselves.)

- PreResNet (order 1): y[n+1] = alpha y[n] + f(y[n]).
- LM-ResNet (order 2): Lu et al. (trainable k) or the paper's eq. (8) (fixed k).
- ZeroSNet (order 3): fixed optimal coefficients (Opt) or a trainable lambda (Tra).
"""

import warnings
from collections import OrderedDict
from typing import Final, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import BatchNormAct2d, ClassifierHead
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint

from .. import stability
from ..stability import Scheme, ZeroStabilityWarning
from . import combination
from .schemes import Coefficients, FixedScheme, LMTrainableScheme, ZeroSLambdaScheme, starter_coefficients

__all__ = ['MultistepResNet', 'MultistepBlock', 'StateSequential', 'BasicBranch', 'BottleneckBranch', 'ScaledConv2d',
           'CIFAR_ARGS', 'IMAGENET_ARGS']

State = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
SchemeSpec = Union[FixedScheme, ZeroSLambdaScheme, LMTrainableScheme]


def _conv1x1(in_chs: int, out_chs: int, stride: int, conv: type = nn.Conv2d) -> nn.Conv2d:
    return conv(in_chs, out_chs, kernel_size=1, stride=stride, bias=False)


def _conv3x3(in_chs: int, out_chs: int, stride: int = 1, conv: type = nn.Conv2d) -> nn.Conv2d:
    return conv(in_chs, out_chs, kernel_size=3, stride=stride, padding=1, bias=False)


def _projection(in_chs: int, out_chs: int, stride: int) -> nn.Module:
    """P_i: identity where the shape already matches, else a bare 1x1 convolution."""
    if in_chs == out_chs and stride == 1:
        return nn.Identity()
    return _conv1x1(in_chs, out_chs, stride)


class ScaledConv2d(nn.Conv2d):
    """A convolution that can scale its output: ``conv(x, beta)`` is beta * conv(x), computed as
    conv with its weight times beta.

    Scaling the small weight instead of the output saves an element-wise pass over the
    activations in the forward and another in the backward, and leaves a fresh tensor that
    the combination can be built on in place.
    """

    def forward(self, x: torch.Tensor, beta: Union[torch.Tensor, float] = 1.0) -> torch.Tensor:
        if isinstance(beta, float):  # checked first: under FX a traced beta is a Proxy, not a Tensor
            weight = self.weight if beta == 1.0 else self.weight * beta
        else:
            weight = self.weight * beta
        return self._conv_forward(x, weight, self.bias)


class BasicBranch(nn.Sequential):
    """f = [BN-ReLU] 3x3 conv (stride) -> BN-ReLU -> 3x3 conv, less its first BN-ReLU, which the
    block applies (the ImageNet projection shares it).  Indexable: ``branch[-1]`` is the last conv."""

    def __init__(self, in_chs: int, width: int, stride: int):
        super().__init__(OrderedDict(
            conv1=_conv3x3(in_chs, width, stride),
            norm2=BatchNormAct2d(width),
            conv2=_conv3x3(width, width, conv=ScaledConv2d),
        ))
        self.out_chs = width

    def forward(self, x: torch.Tensor, beta: Union[torch.Tensor, float] = 1.0) -> torch.Tensor:
        """beta f(y) from the pre-activated input."""
        return self.conv2(self.norm2(self.conv1(x)), beta)


class BottleneckBranch(nn.Sequential):
    """f = [BN-ReLU] 1x1 conv -> BN-ReLU -> 3x3 conv (stride) -> BN-ReLU -> 1x1 conv (x4 channels),
    less its first BN-ReLU (see ``BasicBranch``)."""

    def __init__(self, in_chs: int, width: int, stride: int):
        super().__init__(OrderedDict(
            conv1=_conv1x1(in_chs, width, 1),
            norm2=BatchNormAct2d(width),
            conv2=_conv3x3(width, width, stride),
            norm3=BatchNormAct2d(width),
            conv3=_conv1x1(width, width * 4, 1, conv=ScaledConv2d),
        ))
        self.out_chs = width * 4

    def forward(self, x: torch.Tensor, beta: Union[torch.Tensor, float] = 1.0) -> torch.Tensor:
        """beta f(y) from the pre-activated input."""
        return self.conv3(self.norm3(self.conv2(self.norm2(self.conv1(x)))), beta)


class MultistepBlock(nn.Module):
    """One step y[n+1] = sum_i a_i P_i(y[n-i]) + beta f(y[n]) on the state (y[n], y[n-1], y[n-2]).

    Args:
        in_chs, width, stride, bottleneck: the residual branch f.
        history_chs: channels of y[n-1] and y[n-2] as this block receives them.
        coefficients: the module giving (a_0, ..., a_{order-1}, beta); its ``order`` is the
            number of state terms the step uses (1 for a starter block).
        proj_preact: a projection of y[n] reads the pre-activated BN-ReLU(y[n]) (ImageNet
            family) instead of the raw y[n] (CIFAR family).  An identity skip is always the
            raw y[n].
        stem_skip: the CIFAR bottleneck nets' block 0 (the reference's ``downsample1``): the
            skip term is its own BN-ReLU-1x1 conv of y[0], and the raw y[0] is what is passed
            on as history.

    ``state_chs`` gives the channels of the state the block hands on.
    """
    skip_preact: Final[bool]  # TorchScript constants: only the paths in use are compiled
    stem_skip: Final[bool]
    order: Final[int]

    def __init__(
            self,
            in_chs: int,
            width: int,
            stride: int,
            bottleneck: bool,
            history_chs: Tuple[int, int],
            coefficients: Coefficients,
            proj_preact: bool = False,
            stem_skip: bool = False,
    ):
        super().__init__()
        if not 1 <= coefficients.order <= 3:
            raise ValueError(f'a block mixes at most the three state terms y[n], y[n-1], y[n-2]; '
                             f'got coefficients of order {coefficients.order}: use a scheme of order 1 to 3')
        self.order = coefficients.order
        self.starter = coefficients.starter
        self.stem_skip = stem_skip
        self.norm1 = BatchNormAct2d(in_chs)
        self.branch = (BottleneckBranch if bottleneck else BasicBranch)(in_chs, width, stride)
        out_chs = self.branch.out_chs
        if stem_skip:
            self.proj_x = nn.Sequential(BatchNormAct2d(in_chs), _conv1x1(in_chs, out_chs, stride))
        else:
            self.proj_x = _projection(in_chs, out_chs, stride)
        self.skip_preact = proj_preact and not isinstance(self.proj_x, nn.Identity)
        self.proj_h1 = _projection(history_chs[0], out_chs, stride) if self.order >= 2 else nn.Identity()
        self.proj_h2 = _projection(history_chs[1], out_chs, stride) if self.order >= 3 else nn.Identity()
        self.coefficients = coefficients
        self.state_chs = (
            out_chs,
            in_chs if stem_skip else out_chs,
            out_chs if self.order >= 2 else history_chs[0],
        )

    def scheme(self) -> Scheme:
        """This block's coefficients now (the learned ones for a trainable scheme)."""
        return self.coefficients.scheme()

    def forward(self, state: State) -> State:
        x, h1, h2 = state
        pre = self.norm1(x)
        skip = self.proj_x(pre if self.skip_preact else x)
        h1 = self.proj_h1(h1)  # identities where the step does not read them
        h2 = self.proj_h2(h2)
        c = self.coefficients()  # (a_0, ..., a_{order-1}, beta)
        # y is built in place on beta f, the fresh output of the branch's last convolution
        y = combination.combine(self.branch(pre, c[-1]), [skip, h1, h2][:self.order], c[:-1])
        return y, (x if self.stem_skip else skip), h1


class StateSequential(nn.Sequential):
    """Blocks (a stage) or stages, over the multistep state (typed, so that TorchScript accepts
    the tuple); with ``grad_checkpointing`` set, each member recomputes its activations in backward."""
    grad_checkpointing: bool

    def __init__(self, *blocks: nn.Module):
        super().__init__(*blocks)
        self.grad_checkpointing = False

    def forward(self, state: State) -> State:
        for block in self:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                state = checkpoint(block, state)
            else:
                state = block(state)
        return state


def _stem(kind: str, in_chans: int, chs: int) -> Tuple[nn.Sequential, int, dict, int]:
    """The stem, the index of its layer that is feature 0, that feature's info, the stem's reduction."""
    if kind == '3x3':  # CIFAR: a bare conv (the blocks pre-activate)
        return nn.Sequential(OrderedDict(conv=_conv3x3(in_chans, chs))), 0, dict(
            num_chs=chs, reduction=1, module='stem'), 1
    if kind == '7x7_pool':  # ImageNet: conv 7x7/2, BN-ReLU, max pool 3x3/2
        return nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_chans, chs, kernel_size=7, stride=2, padding=3, bias=False),
            norm=BatchNormAct2d(chs),
            pool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )), 1, dict(num_chs=chs, reduction=2, module='stem.norm'), 4
    raise ValueError(f"stem must be '3x3' or '7x7_pool', got {kind!r}")


# the structural arguments of the reference code's two families (docs/design.md)
CIFAR_ARGS = dict(stem='3x3', channels=(16, 32, 64), proj_preact=False, final_norm=True)
IMAGENET_ARGS = dict(stem='7x7_pool', channels=(64, 128, 256, 512), proj_preact=True, final_norm=False)
_STEM_TYPES = {'cifar': CIFAR_ARGS, 'imagenet': IMAGENET_ARGS}


class MultistepResNet(nn.Module):
    """A pre-activation ResNet whose blocks are steps of a linear multistep scheme.

    Args:
        layers: blocks per stage.
        scheme: a scheme spec from ``zerosnet_zoo.models.schemes`` (its ``order`` and the
            coefficients module it makes for each non-starter block).
        bottleneck: bottleneck (expansion 4) instead of basic blocks.
        stem: '3x3' (a bare 3x3 conv, CIFAR) or '7x7_pool' (7x7/2 conv, BN-ReLU, 3x3/2 max
            pool, ImageNet).
        channels: the width of each stage (the first stage runs at stride 1, the others halve).
        proj_preact: projections of y[n] read the pre-activated input (ImageNet reference);
            with False they read the raw y[n] (CIFAR reference).
        final_norm: BN-ReLU after the last stage (the CIFAR reference has it, ImageNet not).
        stem_type: deprecated: 'cifar' or 'imagenet' for the four arguments above.
        num_classes, in_chans, global_pool, drop_rate: as in every timm model.
        zero_init_last: start every residual branch's last convolution at zero (timm's
            convention: the untrained network is the bare multistep recursion, finite in
            eval mode at any depth). False gives the reference code's initialization
            (Kaiming normal for every convolution), which the paper's experiments used.
    """

    def __init__(
            self,
            layers: Sequence[int],
            scheme: SchemeSpec,
            bottleneck: bool = False,
            stem: str = '3x3',
            channels: Sequence[int] = (16, 32, 64),
            proj_preact: bool = False,
            final_norm: bool = True,
            stem_type: Optional[str] = None,
            num_classes: int = 1000,
            in_chans: int = 3,
            global_pool: str = 'avg',
            drop_rate: float = 0.0,
            zero_init_last: bool = True,
    ):
        super().__init__()
        if stem_type is not None:
            if stem_type not in _STEM_TYPES:
                raise ValueError(f"stem_type must be 'cifar' or 'imagenet', got {stem_type!r}")
            warnings.warn(f'stem_type is deprecated; pass {_STEM_TYPES[stem_type]}', DeprecationWarning, stacklevel=2)
            given = dict(stem=stem, channels=tuple(channels), proj_preact=proj_preact, final_norm=final_norm)
            if given != CIFAR_ARGS:
                raise ValueError(f'stem_type={stem_type!r} sets stem, channels, proj_preact and final_norm; '
                                 f'pass either stem_type or those arguments, got {given}')
            args = _STEM_TYPES[stem_type]
            stem, channels, proj_preact, final_norm = (
                args['stem'], args['channels'], args['proj_preact'], args['final_norm'])
        if len(layers) != len(channels) or min(layers) < 1:
            raise ValueError(f'layers must give {len(channels)} positive block counts, got {tuple(layers)}')
        if layers[0] < scheme.order - 1:
            # a history term from before a stride would reach a step that does not downsample it
            raise ValueError(f'an order-{scheme.order} scheme needs its {scheme.order - 1} starter blocks in the '
                             f'first stage, got layers={tuple(layers)}; give the first stage more blocks')
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False

        self.stem, self._stem_feat_idx, stem_info, reduction = _stem(stem, in_chans, channels[0])
        self.feature_info = [stem_info]

        chs = (channels[0],) * 3  # channels of the state (y[n], y[n-1], y[n-2])
        block_idx = 0
        stages = []
        for stage_idx, (width, depth) in enumerate(zip(channels, layers)):
            stride = 1 if stage_idx == 0 else 2
            blocks = []
            for j in range(depth):
                starter = block_idx < scheme.order - 1
                block = MultistepBlock(
                    chs[0], width, stride if j == 0 else 1, bottleneck,
                    history_chs=(chs[1], chs[2]),
                    coefficients=starter_coefficients() if starter else scheme.make(),
                    proj_preact=proj_preact,
                    # the reference's downsample1: block 0's widening skip on the raw stem output
                    stem_skip=block_idx == 0 and not proj_preact and chs[0] != (width * 4 if bottleneck else width),
                )
                chs = block.state_chs
                blocks.append(block)
                block_idx += 1
            reduction *= stride
            stages.append(StateSequential(*blocks))
            self.feature_info.append(dict(num_chs=chs[0], reduction=reduction, module=f'stages.{stage_idx}'))
        self.stages = StateSequential(*stages)
        self.num_features = self.head_hidden_size = chs[0]
        self.norm = BatchNormAct2d(self.num_features) if final_norm else nn.Identity()
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
        for stage in self.stages:
            stage.grad_checkpointing = enable

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
        return self.norm(self.stages(state)[0])

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
