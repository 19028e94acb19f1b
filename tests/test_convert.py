"""The reference converter, on state dicts shaped exactly like the reference code's, checked
against the independent forward of tests/spec_reference.py rather than against our own blocks."""

import re

import pytest
import timm
import torch
from safetensors.torch import save_file

import zerosnet_zoo
from zerosnet_zoo import convert_reference_state_dict
from zerosnet_zoo.models.convert import is_reference_state_dict

from spec_reference import cifar_forward, imagenet_forward, random_state_dict, reference_sections

OPT = (1 / 3, 5 / 9, 1 / 9, 16 / 9)
CASES = {  # section -> (model name, kwargs, functional forward, input size)
    'CIFAR/ZeroSNet20_Opt': ('zerosnet_opt_20', {}, lambda sd, x: cifar_forward(sd, x, 3), 32),
    'CIFAR/ZeroSNet20_Tra': ('zerosnet_tra_20', {}, lambda sd, x: cifar_forward(sd, x, 3), 32),
    'CIFAR/ZeroSNet164_Opt': ('zerosnet_opt_164', {}, lambda sd, x: cifar_forward(sd, x, 18), 32),
    'ImageNet/zerosnet18_in(given_coe)': ('zerosnet18', {}, lambda sd, x: imagenet_forward(sd, x, (2, 2, 2, 2)), 64),
    'ImageNet/zerosnet50_in(given_coe)': ('zerosnet50', {}, lambda sd, x: imagenet_forward(sd, x, (3, 4, 6, 3)), 64),
    'ImageNet/zerosnet18_in(trainable)': ('zerosnet_tra18', {}, lambda sd, x: imagenet_forward(sd, x, (2, 2, 2, 2)), 64),
    'ImageNet/pre_act_resnet18_in': ('preresnet18', {}, lambda sd, x: imagenet_forward(sd, x, (2, 2, 2, 2), order=1), 64),
    'ImageNet/pre_act_resnet50_in': ('preresnet50', {}, lambda sd, x: imagenet_forward(sd, x, (3, 4, 6, 3), order=1), 64),
}


def unused_reference_keys(keys, cifar_basic: bool) -> set:
    """What the reference builds but never uses: CIFAR bn1, basic nets' downsample1, starters' lambda."""
    unused = {k for k in keys if re.match(r'^(blocks\.[01]\.coe|layer1\.[01]\.k)$', k)}
    if 'blocks.0.bn1.weight' in keys:
        unused |= {k for k in keys if k.startswith('bn1.')}
        if cifar_basic:
            unused |= {k for k in keys if k.startswith('downsample1.')}
    return unused


@pytest.fixture(scope='module')
def sections():
    return reference_sections()


@pytest.mark.parametrize('section', list(CASES))
def test_converted_model_equals_spec_forward(sections, section):
    name, kwargs, forward, size = CASES[section]
    entries = sections[section]
    ref = random_state_dict(entries)
    assert is_reference_state_dict(ref)
    model = timm.create_model(name, num_classes=ref['fc.weight'].shape[0], **kwargs).eval()
    converted = convert_reference_state_dict(ref, model)

    # every entry of ours is filled, nothing else is there, and exactly the unused ones are dropped
    assert list(converted) == list(model.state_dict())
    unused = unused_reference_keys(ref, cifar_basic='blocks.0.conv3.weight' not in ref)
    kept = [v for k, v in ref.items() if k not in unused]
    assert len(converted) == len(kept)
    assert all(any(v.shape == r.shape and torch.equal(v, r) for r in kept) for v in converted.values())

    model.load_state_dict(converted, strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, actual = forward(ref, x), model(x)
    assert (actual - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_given_coefficients(sections):
    ref = random_state_dict(sections['CIFAR/ZeroSNet20_Opt'], seed=3)
    coefficients = (0.5, 0.3, 0.1, 0.1)
    model = timm.create_model('zerosnet_opt_20', coefficients=coefficients).eval()
    model.load_state_dict(convert_reference_state_dict(ref, model), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = cifar_forward(ref, x, 3, coefficients)
        assert torch.allclose(model(x), expected, atol=1e-5 * expected.abs().max().item())


def test_keep_zero_stable_receives_reference_lambda(sections):
    ref = random_state_dict(sections['CIFAR/ZeroSNet20_Tra'])
    model = timm.create_model('zerosnet_tra_20', lam=-1.8, keep_zero_stable=True).eval()
    model.load_state_dict(convert_reference_state_dict(ref, model), strict=True)
    lams = [float(b.coefficients.lam_value().detach()) for s in model.stages for b in s if not b.starter]
    assert lams == pytest.approx([float(ref[f'blocks.{i}.coe']) for i in range(2, 9)], rel=1e-5)


def test_mismatched_model_fails_loudly(sections):
    ref = random_state_dict(sections['CIFAR/ZeroSNet20_Opt'])
    with pytest.raises(ValueError, match='does not fill|no counterpart'):
        convert_reference_state_dict(ref, timm.create_model('zerosnet_opt_32'))
    tra = random_state_dict(sections['CIFAR/ZeroSNet20_Tra'])
    with pytest.raises(ValueError, match='trainable lambda.*Tra variant'):
        convert_reference_state_dict(tra, timm.create_model('zerosnet_opt_20'))
    with pytest.raises(ValueError, match='shape'):
        convert_reference_state_dict(ref, timm.create_model('zerosnet_opt_20', num_classes=100))


@pytest.fixture
def reference_file(sections, tmp_path):
    ref = random_state_dict(sections['CIFAR/ZeroSNet20_Opt'])
    path = tmp_path / 'reference.safetensors'
    save_file({k: v.contiguous() for k, v in ref.items()}, str(path))
    return ref, str(path)


def test_timm_filter_loads_reference_checkpoint(reference_file):
    ref, path = reference_file
    model = timm.create_model('zerosnet_opt_20', pretrained=True, pretrained_cfg_overlay=dict(file=path)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = cifar_forward(ref, x, 3)
        assert torch.allclose(model(x), expected, atol=1e-5 * expected.abs().max().item())


def test_timm_filter_adapts_reference_checkpoint_to_new_head_and_channels(reference_file):
    """Fine-tuning from a reference checkpoint: timm replaces the head and folds the stem to in_chans."""
    _, path = reference_file
    load = lambda **kw: timm.create_model(  # noqa: E731
        'zerosnet_opt_20', pretrained=True, pretrained_cfg_overlay=dict(file=path), **kw).eval()
    full, new_head, no_head, gray = load(), load(num_classes=37), load(num_classes=0), load(in_chans=1)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = full.forward_head(full.forward_features(x), pre_logits=True)
        assert new_head.get_classifier().out_features == 37
        assert torch.equal(new_head.forward_head(new_head.forward_features(x), pre_logits=True), features)
        assert torch.equal(no_head(x), features)
        # a gray image equals its three-channel copy through timm's summed stem weights
        g = x[:, :1]
        assert torch.allclose(gray(g), full(g.expand(-1, 3, -1, -1)), atol=1e-5)
