"""ZeroSNet and its baselines in timm: pretrained cfgs, the builder and every registered name.

The network itself is ``multistep.MultistepResNet`` (docs/design.md); this module only says
which layout and scheme each name builds, in timm's style: one ``@register_model`` function
per name, showing its layout, around one ``_create_zerosnet``.  Importing it registers every
model with timm.

Imports go one way, so that no module of the package needs another lazily:
``multistep`` (the network) <- ``convert`` (reference checkpoints onto it) <- this module
(which hands ``convert`` to timm as the pretrained filter).
"""

import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model, resolve_pretrained_cfg

from .. import paper, stability
from ..weights import HF_ORGANIZATION, WEIGHTS_DIR, packaged_cfg, packaged_weights, verify_file
from .convert import convert_reference_state_dict, is_reference_state_dict
from .multistep import CIFAR_ARGS, IMAGENET_ARGS, MultistepBlock, MultistepResNet
from .schemes import FixedScheme, LMTrainableScheme, ZeroSLambdaScheme

__all__ = ['MultistepResNet', 'MultistepBlock', 'CIFAR_DEPTHS', 'IMAGENET_LAYOUTS', 'zerosnet_scheme',
           'preresnet_scheme', 'lmresnet_scheme', 'published_scheme', 'fits_published_weights', 'checkpoint_filter_fn']

# depth -> (bottleneck, blocks per stage) of the CIFAR family, as the functions below build them
CIFAR_DEPTHS = {
    20: (False, 3), 32: (False, 5), 44: (False, 7), 56: (False, 9), 110: (False, 18),
    164: (True, 18), 326: (True, 36), 650: (True, 72), 1298: (True, 144),
}
# name suffix -> (bottleneck, blocks per stage) of the ImageNet family
IMAGENET_LAYOUTS = {
    18: (False, (2, 2, 2, 2)), 34: (False, (3, 4, 6, 3)), 50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)), 152: (True, (3, 8, 36, 3)),
}
OPTIMAL_LAMBDA = stability.optimal_lambda()


def zerosnet_scheme(lam: Optional[float] = None, coefficients: Optional[Sequence[float]] = None) -> FixedScheme:
    """The fixed ZeroSNet scheme: optimal by default, else from ``lam`` or any ``coefficients``."""
    if lam is not None and coefficients is not None:
        raise ValueError('give either lam= (a ZeroSNet lambda) or coefficients=(a0, a1, a2, beta), not both')
    if coefficients is not None:
        return FixedScheme.from_sequence(coefficients, order=3)
    s = stability.zerosnet_coefficients(OPTIMAL_LAMBDA if lam is None else lam)
    return FixedScheme(s.alphas, s.beta)


def preresnet_scheme(alpha: float = 1.0) -> FixedScheme:
    """PreResNet's first-order step y[n+1] = alpha y[n] + f(y[n])."""
    return FixedScheme(*stability.preresnet_coefficients(float(alpha)))


def lmresnet_scheme(k: Optional[float] = None) -> Union[FixedScheme, LMTrainableScheme]:
    """LM-ResNet: a trainable k per block (Lu et al.) for k=None, else the paper's eq. (8) with a fixed k."""
    return LMTrainableScheme() if k is None else FixedScheme(*stability.lm_coefficients(float(k)))


def published_scheme(variant: str) -> Optional[FixedScheme]:
    """The fixed scheme every published weight of ``variant`` is trained with: its name's default.

    None where the scheme is learned and loads with the weights (ZeroSNet-Tra, LM-ResNet).
    """
    if variant.startswith('preresnet'):
        return preresnet_scheme()
    if variant.startswith('zerosnet') and not variant.startswith('zerosnet_tra'):
        return zerosnet_scheme()
    return None


def fits_published_weights(variant: str, scheme: Any) -> bool:
    """Whether ``scheme`` (a FixedScheme, or a ``stability.Scheme`` of ``model.schemes()``) is the
    one published weights of ``variant`` are trained with; always true for learned schemes."""
    expected = published_scheme(variant)
    if expected is None:
        return True
    if not (hasattr(scheme, 'alphas') and hasattr(scheme, 'beta')) or len(scheme.alphas) != expected.order:
        return False
    # lam=-1.8 computes the optimal coefficients to within rounding, so compare with a tolerance
    return all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
               for x, y in zip((*scheme.alphas, scheme.beta), (*expected.alphas, expected.beta)))


def _check_published_scheme(variant: str, cfg: Any, scheme: Any) -> None:
    """Fixed coefficients are in no tensor, so weights load under any of them without a word, and then
    compute a network they were not trained as: refuse that for the published weights."""
    published = Path(cfg.file).parent == WEIGHTS_DIR if cfg.file else (
        cfg.state_dict is None and (cfg.hf_hub_id or '').startswith(f'{HF_ORGANIZATION}/'))
    if published and not fits_published_weights(variant, scheme):
        raise ValueError(
            f'the published {variant} weights are trained with {published_scheme(variant)}, not with the '
            f'requested {scheme}; drop lam=/coefficients=/alpha= to use them, or create the model with '
            f'pretrained=False and load_state_dict() them yourself to start another scheme from them')


def checkpoint_filter_fn(state_dict: Dict[str, Any], model: MultistepResNet) -> Dict[str, Any]:
    """timm's hook for pretrained loading: converts reference checkpoints, passes ours through."""
    state_dict = state_dict.get('state_dict', state_dict)
    if is_reference_state_dict(state_dict):
        cfg = model.pretrained_cfg  # timm adapts these after the filter, for in_chans / num_classes
        return convert_reference_state_dict(state_dict, model, adaptable=(cfg['first_conv'], cfg['classifier']))
    return state_dict


def _create_zerosnet(variant: str, pretrained: bool = False, **kwargs) -> MultistepResNet:
    if pretrained:
        cfg = resolve_pretrained_cfg(
            variant, pretrained_cfg=kwargs.get('pretrained_cfg'),
            pretrained_cfg_overlay=kwargs.get('pretrained_cfg_overlay'))
        if not (cfg.has_weights or cfg.state_dict):
            raise RuntimeError(
                f'no pretrained weights are published for {variant} (tag {cfg.tag or "default"}); '
                f'use pretrained=False, or point at a checkpoint with '
                f'pretrained_cfg_overlay=dict(file="model.safetensors")')
        _check_published_scheme(variant, cfg, kwargs['scheme'])
        if cfg.file:
            verify_file(cfg.file)
    return build_model_with_cfg(
        MultistepResNet, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        # the multistep state is no one-tensor sequence: timm's getter wrapper calls forward_intermediates
        feature_cfg=dict(feature_cls='getter', out_indices=tuple(range(len(kwargs['layers']) + 1))),
        **kwargs)


# ---------------------------------------------------------------------------------------
# Pretrained cfgs.  Every tag exists so that timm.create_model('zerosnet_opt_56.cifar100')
# picks the right head and preprocessing; a tag whose weight ships in zerosnet_zoo/weights
# also carries that file (and its Hugging Face Hub copy), and only those tags are listed by
# timm.list_pretrained().

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


def _cfg(**kwargs) -> Dict[str, Any]:
    return dict(
        url='', interpolation='bilinear', first_conv='stem.conv', classifier='head.fc',
        paper_name=f'{paper.TITLE} ({paper.VENUE})', origin_url=paper.REFERENCE_CODE, **kwargs)


def _cifar10_cfg() -> Dict[str, Any]:
    return _cfg(num_classes=10, input_size=(3, 32, 32), pool_size=(8, 8), crop_pct=1.0,
                mean=CIFAR10_MEAN, std=CIFAR10_STD, label_names=CIFAR10_CLASSES)


def _cifar100_cfg() -> Dict[str, Any]:
    return _cfg(num_classes=100, input_size=(3, 32, 32), pool_size=(8, 8), crop_pct=1.0,
                mean=CIFAR100_MEAN, std=CIFAR100_STD)


def _imagenet_cfg() -> Dict[str, Any]:
    return _cfg(num_classes=1000, input_size=(3, 224, 224), pool_size=(7, 7), crop_pct=0.875,
                mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD)


def _with_packaged_weights(cfgs: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Attach each shipped weight (found by its file, as train/release.py writes it) to its tag;
    a weight for an unknown tag fails the import."""
    for name_tag, sha256 in packaged_weights().items():
        cfgs[name_tag] = {**cfgs[name_tag], **packaged_cfg(name_tag, sha256)}
    return cfgs


default_cfgs = generate_default_cfgs(_with_packaged_weights({
    'zerosnet_opt_20.cifar10': _cifar10_cfg(),
    'zerosnet_opt_20.cifar100': _cifar100_cfg(),
    'zerosnet_opt_32.cifar10': _cifar10_cfg(),
    'zerosnet_opt_32.cifar100': _cifar100_cfg(),
    'zerosnet_opt_44.cifar10': _cifar10_cfg(),
    'zerosnet_opt_44.cifar100': _cifar100_cfg(),
    'zerosnet_opt_56.cifar10': _cifar10_cfg(),
    'zerosnet_opt_56.cifar100': _cifar100_cfg(),
    'zerosnet_opt_110.cifar10': _cifar10_cfg(),
    'zerosnet_opt_110.cifar100': _cifar100_cfg(),
    'zerosnet_opt_164.cifar10': _cifar10_cfg(),
    'zerosnet_opt_164.cifar100': _cifar100_cfg(),
    'zerosnet_opt_326.cifar10': _cifar10_cfg(),
    'zerosnet_opt_326.cifar100': _cifar100_cfg(),
    'zerosnet_opt_650.cifar10': _cifar10_cfg(),
    'zerosnet_opt_650.cifar100': _cifar100_cfg(),
    'zerosnet_opt_1298.cifar10': _cifar10_cfg(),
    'zerosnet_opt_1298.cifar100': _cifar100_cfg(),
    'zerosnet_tra_20.cifar10': _cifar10_cfg(),
    'zerosnet_tra_20.cifar100': _cifar100_cfg(),
    'zerosnet_tra_32.cifar10': _cifar10_cfg(),
    'zerosnet_tra_32.cifar100': _cifar100_cfg(),
    'zerosnet_tra_44.cifar10': _cifar10_cfg(),
    'zerosnet_tra_44.cifar100': _cifar100_cfg(),
    'zerosnet_tra_56.cifar10': _cifar10_cfg(),
    'zerosnet_tra_56.cifar100': _cifar100_cfg(),
    'zerosnet_tra_110.cifar10': _cifar10_cfg(),
    'zerosnet_tra_110.cifar100': _cifar100_cfg(),
    'zerosnet_tra_164.cifar10': _cifar10_cfg(),
    'zerosnet_tra_164.cifar100': _cifar100_cfg(),
    'zerosnet_tra_326.cifar10': _cifar10_cfg(),
    'zerosnet_tra_326.cifar100': _cifar100_cfg(),
    'zerosnet_tra_650.cifar10': _cifar10_cfg(),
    'zerosnet_tra_650.cifar100': _cifar100_cfg(),
    'zerosnet_tra_1298.cifar10': _cifar10_cfg(),
    'zerosnet_tra_1298.cifar100': _cifar100_cfg(),
    'preresnet_20.cifar10': _cifar10_cfg(),
    'preresnet_20.cifar100': _cifar100_cfg(),
    'preresnet_32.cifar10': _cifar10_cfg(),
    'preresnet_32.cifar100': _cifar100_cfg(),
    'preresnet_44.cifar10': _cifar10_cfg(),
    'preresnet_44.cifar100': _cifar100_cfg(),
    'preresnet_56.cifar10': _cifar10_cfg(),
    'preresnet_56.cifar100': _cifar100_cfg(),
    'preresnet_110.cifar10': _cifar10_cfg(),
    'preresnet_110.cifar100': _cifar100_cfg(),
    'preresnet_164.cifar10': _cifar10_cfg(),
    'preresnet_164.cifar100': _cifar100_cfg(),
    'lmresnet_20.cifar10': _cifar10_cfg(),
    'lmresnet_20.cifar100': _cifar100_cfg(),
    'lmresnet_32.cifar10': _cifar10_cfg(),
    'lmresnet_32.cifar100': _cifar100_cfg(),
    'lmresnet_44.cifar10': _cifar10_cfg(),
    'lmresnet_44.cifar100': _cifar100_cfg(),
    'lmresnet_56.cifar10': _cifar10_cfg(),
    'lmresnet_56.cifar100': _cifar100_cfg(),
    'lmresnet_110.cifar10': _cifar10_cfg(),
    'lmresnet_110.cifar100': _cifar100_cfg(),
    'zerosnet18.in1k': _imagenet_cfg(),
    'zerosnet34.in1k': _imagenet_cfg(),
    'zerosnet50.in1k': _imagenet_cfg(),
    'zerosnet101.in1k': _imagenet_cfg(),
    'zerosnet152.in1k': _imagenet_cfg(),
    'zerosnet_tra18.in1k': _imagenet_cfg(),
    'zerosnet_tra34.in1k': _imagenet_cfg(),
    'zerosnet_tra50.in1k': _imagenet_cfg(),
    'zerosnet_tra101.in1k': _imagenet_cfg(),
    'zerosnet_tra152.in1k': _imagenet_cfg(),
    'preresnet18.in1k': _imagenet_cfg(),
    'preresnet34.in1k': _imagenet_cfg(),
    'preresnet50.in1k': _imagenet_cfg(),
}))


# ---------------------------------------------------------------------------------------
# Registered models.  Each family's knobs are its functions' keyword arguments.
#
# CIFAR ZeroSNet-Opt: the optimal fixed scheme (lambda = -9/5); lam= gives another lambda,
# coefficients=(a0, a1, a2, beta) any third-order scheme.


@register_model
def zerosnet_opt_20(pretrained: bool = False, lam: Optional[float] = None,
                    coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-20, CIFAR."""
    model_args = dict(layers=(3, 3, 3), bottleneck=False, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_20', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_32(pretrained: bool = False, lam: Optional[float] = None,
                    coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-32, CIFAR."""
    model_args = dict(layers=(5, 5, 5), bottleneck=False, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_32', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_44(pretrained: bool = False, lam: Optional[float] = None,
                    coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-44, CIFAR."""
    model_args = dict(layers=(7, 7, 7), bottleneck=False, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_44', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_56(pretrained: bool = False, lam: Optional[float] = None,
                    coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-56, CIFAR."""
    model_args = dict(layers=(9, 9, 9), bottleneck=False, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_56', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_110(pretrained: bool = False, lam: Optional[float] = None,
                     coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-110, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=False, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_110', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_164(pretrained: bool = False, lam: Optional[float] = None,
                     coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-164, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=True, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_164', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_326(pretrained: bool = False, lam: Optional[float] = None,
                     coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-326, CIFAR."""
    model_args = dict(layers=(36, 36, 36), bottleneck=True, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_326', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_650(pretrained: bool = False, lam: Optional[float] = None,
                     coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-650, CIFAR."""
    model_args = dict(layers=(72, 72, 72), bottleneck=True, scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_650', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_opt_1298(pretrained: bool = False, lam: Optional[float] = None,
                      coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-1298, CIFAR."""
    model_args = dict(layers=(144, 144, 144), bottleneck=True,
                      scheme=zerosnet_scheme(lam, coefficients), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_opt_1298', pretrained, **dict(model_args, **kwargs))


# CIFAR ZeroSNet-Tra: a trainable lambda per third-order block, from lam= (1.0, as the
# reference); keep_zero_stable=True keeps every lambda inside the zero-stable set.


@register_model
def zerosnet_tra_20(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                    **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-20, CIFAR."""
    model_args = dict(layers=(3, 3, 3), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_20', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_32(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                    **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-32, CIFAR."""
    model_args = dict(layers=(5, 5, 5), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_32', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_44(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                    **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-44, CIFAR."""
    model_args = dict(layers=(7, 7, 7), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_44', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_56(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                    **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-56, CIFAR."""
    model_args = dict(layers=(9, 9, 9), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_56', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_110(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                     **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-110, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_110', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_164(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                     **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-164, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_164', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_326(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                     **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-326, CIFAR."""
    model_args = dict(layers=(36, 36, 36), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_326', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_650(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                     **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-650, CIFAR."""
    model_args = dict(layers=(72, 72, 72), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_650', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra_1298(pretrained: bool = False, lam: float = 1.0, keep_zero_stable: bool = False,
                      **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-1298, CIFAR."""
    model_args = dict(layers=(144, 144, 144), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **CIFAR_ARGS)
    return _create_zerosnet('zerosnet_tra_1298', pretrained, **dict(model_args, **kwargs))


# CIFAR PreResNet: y[n+1] = alpha y[n] + f(y[n]) (the paper's Table 1 varies alpha=).


@register_model
def preresnet_20(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-20, CIFAR."""
    model_args = dict(layers=(3, 3, 3), bottleneck=False, scheme=preresnet_scheme(alpha), **CIFAR_ARGS)
    return _create_zerosnet('preresnet_20', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet_32(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-32, CIFAR."""
    model_args = dict(layers=(5, 5, 5), bottleneck=False, scheme=preresnet_scheme(alpha), **CIFAR_ARGS)
    return _create_zerosnet('preresnet_32', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet_44(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-44, CIFAR."""
    model_args = dict(layers=(7, 7, 7), bottleneck=False, scheme=preresnet_scheme(alpha), **CIFAR_ARGS)
    return _create_zerosnet('preresnet_44', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet_56(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-56, CIFAR."""
    model_args = dict(layers=(9, 9, 9), bottleneck=False, scheme=preresnet_scheme(alpha), **CIFAR_ARGS)
    return _create_zerosnet('preresnet_56', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet_110(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-110, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=False, scheme=preresnet_scheme(alpha), **CIFAR_ARGS)
    return _create_zerosnet('preresnet_110', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet_164(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-164, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=True, scheme=preresnet_scheme(alpha), **CIFAR_ARGS)
    return _create_zerosnet('preresnet_164', pretrained, **dict(model_args, **kwargs))


# CIFAR LM-ResNet: k=None trains a k per block with beta = 1 (Lu et al. 2018); k=float is the
# paper's eq. (8) with a shared fixed k (Table 2).


@register_model
def lmresnet_20(pretrained: bool = False, k: Optional[float] = None, **kwargs) -> MultistepResNet:
    """LM-ResNet-20, CIFAR."""
    model_args = dict(layers=(3, 3, 3), bottleneck=False, scheme=lmresnet_scheme(k), **CIFAR_ARGS)
    return _create_zerosnet('lmresnet_20', pretrained, **dict(model_args, **kwargs))


@register_model
def lmresnet_32(pretrained: bool = False, k: Optional[float] = None, **kwargs) -> MultistepResNet:
    """LM-ResNet-32, CIFAR."""
    model_args = dict(layers=(5, 5, 5), bottleneck=False, scheme=lmresnet_scheme(k), **CIFAR_ARGS)
    return _create_zerosnet('lmresnet_32', pretrained, **dict(model_args, **kwargs))


@register_model
def lmresnet_44(pretrained: bool = False, k: Optional[float] = None, **kwargs) -> MultistepResNet:
    """LM-ResNet-44, CIFAR."""
    model_args = dict(layers=(7, 7, 7), bottleneck=False, scheme=lmresnet_scheme(k), **CIFAR_ARGS)
    return _create_zerosnet('lmresnet_44', pretrained, **dict(model_args, **kwargs))


@register_model
def lmresnet_56(pretrained: bool = False, k: Optional[float] = None, **kwargs) -> MultistepResNet:
    """LM-ResNet-56, CIFAR."""
    model_args = dict(layers=(9, 9, 9), bottleneck=False, scheme=lmresnet_scheme(k), **CIFAR_ARGS)
    return _create_zerosnet('lmresnet_56', pretrained, **dict(model_args, **kwargs))


@register_model
def lmresnet_110(pretrained: bool = False, k: Optional[float] = None, **kwargs) -> MultistepResNet:
    """LM-ResNet-110, CIFAR."""
    model_args = dict(layers=(18, 18, 18), bottleneck=False, scheme=lmresnet_scheme(k), **CIFAR_ARGS)
    return _create_zerosnet('lmresnet_110', pretrained, **dict(model_args, **kwargs))


# ImageNet ZeroSNet-Opt (knobs as on CIFAR).


@register_model
def zerosnet18(pretrained: bool = False, lam: Optional[float] = None,
               coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-18, ImageNet."""
    model_args = dict(layers=(2, 2, 2, 2), bottleneck=False,
                      scheme=zerosnet_scheme(lam, coefficients), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet18', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet34(pretrained: bool = False, lam: Optional[float] = None,
               coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-34, ImageNet."""
    model_args = dict(layers=(3, 4, 6, 3), bottleneck=False,
                      scheme=zerosnet_scheme(lam, coefficients), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet34', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet50(pretrained: bool = False, lam: Optional[float] = None,
               coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-50, ImageNet."""
    model_args = dict(layers=(3, 4, 6, 3), bottleneck=True,
                      scheme=zerosnet_scheme(lam, coefficients), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet50', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet101(pretrained: bool = False, lam: Optional[float] = None,
                coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-101, ImageNet."""
    model_args = dict(layers=(3, 4, 23, 3), bottleneck=True,
                      scheme=zerosnet_scheme(lam, coefficients), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet101', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet152(pretrained: bool = False, lam: Optional[float] = None,
                coefficients: Optional[Sequence[float]] = None, **kwargs) -> MultistepResNet:
    """ZeroSNet-Opt-152, ImageNet."""
    model_args = dict(layers=(3, 8, 36, 3), bottleneck=True,
                      scheme=zerosnet_scheme(lam, coefficients), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet152', pretrained, **dict(model_args, **kwargs))


# ImageNet ZeroSNet-Tra: as on CIFAR, but every lambda starts at -9/5 (as the reference).


@register_model
def zerosnet_tra18(pretrained: bool = False, lam: float = OPTIMAL_LAMBDA, keep_zero_stable: bool = False,
                   **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-18, ImageNet."""
    model_args = dict(layers=(2, 2, 2, 2), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet_tra18', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra34(pretrained: bool = False, lam: float = OPTIMAL_LAMBDA, keep_zero_stable: bool = False,
                   **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-34, ImageNet."""
    model_args = dict(layers=(3, 4, 6, 3), bottleneck=False,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet_tra34', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra50(pretrained: bool = False, lam: float = OPTIMAL_LAMBDA, keep_zero_stable: bool = False,
                   **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-50, ImageNet."""
    model_args = dict(layers=(3, 4, 6, 3), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet_tra50', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra101(pretrained: bool = False, lam: float = OPTIMAL_LAMBDA, keep_zero_stable: bool = False,
                    **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-101, ImageNet."""
    model_args = dict(layers=(3, 4, 23, 3), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet_tra101', pretrained, **dict(model_args, **kwargs))


@register_model
def zerosnet_tra152(pretrained: bool = False, lam: float = OPTIMAL_LAMBDA, keep_zero_stable: bool = False,
                    **kwargs) -> MultistepResNet:
    """ZeroSNet-Tra-152, ImageNet."""
    model_args = dict(layers=(3, 8, 36, 3), bottleneck=True,
                      scheme=ZeroSLambdaScheme(float(lam), keep_zero_stable), **IMAGENET_ARGS)
    return _create_zerosnet('zerosnet_tra152', pretrained, **dict(model_args, **kwargs))


# ImageNet PreResNet: the reference code's pre-activation baselines.


@register_model
def preresnet18(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-18, ImageNet."""
    model_args = dict(layers=(2, 2, 2, 2), bottleneck=False, scheme=preresnet_scheme(alpha), **IMAGENET_ARGS)
    return _create_zerosnet('preresnet18', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet34(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-34, ImageNet."""
    model_args = dict(layers=(3, 4, 6, 3), bottleneck=False, scheme=preresnet_scheme(alpha), **IMAGENET_ARGS)
    return _create_zerosnet('preresnet34', pretrained, **dict(model_args, **kwargs))


@register_model
def preresnet50(pretrained: bool = False, alpha: float = 1.0, **kwargs) -> MultistepResNet:
    """PreResNet-50, ImageNet."""
    model_args = dict(layers=(3, 4, 6, 3), bottleneck=True, scheme=preresnet_scheme(alpha), **IMAGENET_ARGS)
    return _create_zerosnet('preresnet50', pretrained, **dict(model_args, **kwargs))
