"""The rest of the timm contract, for one model of each kind: features, intermediates,
gradient checkpointing, pooling and heads, channels_last (compiling and exporting: test_contract.py)."""

import pytest
import timm
import torch
from timm.models import create_feature_extractor

import zerosnet_zoo  # noqa: F401
from zerosnet_zoo.benchmark import model_stats

KINDS = [  # CIFAR basic, CIFAR bottleneck, ImageNet basic, ImageNet bottleneck, trainable
    ('zerosnet_opt_20', 32), ('zerosnet_opt_164', 32), ('zerosnet18', 64), ('zerosnet50', 64), ('zerosnet_tra_20', 32),
]


def _input(size, batch=2):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize('name, size', KINDS)
def test_features_only_and_intermediates(name, size):
    model = timm.create_model(name).eval()
    feats_model = timm.create_model(name, features_only=True).eval()
    missing, unexpected = feats_model.model.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(k.startswith(('head.', 'norm.')) for k in unexpected)
    x = _input(size)
    with torch.no_grad():
        feats = feats_model(x)
        final, inter = model.forward_intermediates(x)
        assert torch.equal(final, model.forward_features(x))
    info = feats_model.feature_info
    assert len(feats) == len(info.channels()) == len(model.stages) + 1
    for f, chs, red, ref in zip(feats, info.channels(), info.reduction(), inter):
        assert f.shape == (2, chs, size // red, size // red)
        assert torch.equal(f, ref)
    # a subset, stopping early
    with torch.no_grad():
        some = model.forward_intermediates(x, indices=[1, 2], stop_early=True, intermediates_only=True)
    assert [t.shape for t in some] == [feats[1].shape, feats[2].shape]
    # timm's FX feature extraction by the feature_info module names
    nodes = [d['module'] for d in model.feature_info[1:]]
    fx_feats = create_feature_extractor(model, return_nodes=nodes)
    with torch.no_grad():
        for out, ref in zip(fx_feats(x).values(), feats[1:]):
            assert torch.equal(out, ref)


def test_out_indices_and_pruning():
    feats_model = timm.create_model('zerosnet_opt_20', features_only=True, out_indices=(1, 2))
    assert len(feats_model.model.stages) == 2  # the last stage is pruned away
    assert feats_model.feature_info.channels() == [16, 32]
    out = feats_model(_input(32))
    assert [t.shape[1] for t in out] == [16, 32]


@pytest.mark.parametrize('name, size', KINDS)
def test_grad_checkpointing_same_gradients(name, size):
    torch.manual_seed(0)
    model = timm.create_model(name, zero_init_last=False)  # live branches: every parameter gets a gradient
    x = _input(size)
    grads = []
    for enable in (False, True):
        model.zero_grad()
        model.set_grad_checkpointing(enable)
        model.train()
        # identical BN batch statistics in both runs; running stats are not compared
        model(x).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n, g in grads[0].items():
        assert torch.allclose(g, grads[1][n], atol=1e-6, rtol=1e-4), n


def test_group_matcher():
    model = timm.create_model('zerosnet_opt_20')
    groups = timm.models.group_parameters(model, model.group_matcher())
    assert len(groups) == 1 + 9 + 1  # stem, nine blocks, head and final norm
    assert model.group_matcher(coarse=True)['blocks'] == r'^stages\.(\d+)'


@pytest.mark.parametrize('name, size', [('zerosnet_opt_20', 32), ('zerosnet18', 64)])
def test_heads_pooling_channels(name, size):
    x = _input(size)
    model = timm.create_model(name, num_classes=0).eval()
    assert model(x).shape == (2, model.num_features)
    model = timm.create_model(name, global_pool='max', num_classes=5).eval()
    feats = model.forward_features(x)
    assert torch.allclose(model.forward_head(feats, pre_logits=True), feats.amax((2, 3)))
    model = timm.create_model(name, global_pool='', num_classes=0).eval()
    assert model(x).dim() == 4
    model = timm.create_model(name, in_chans=1).eval()
    assert model.stem.conv.in_channels == 1 and model(x[:, :1]).shape == (2, model.num_classes)
    stats = model_stats(model)  # built from the stem, not the cfg's 3-channel input_size
    assert stats['input_size'][0] == 1 and stats['macs'] < model_stats(timm.create_model(name))['macs']
    model = timm.create_model(name, drop_rate=0.5, num_classes=4)
    assert model.head.drop.p == 0.5
    model.train()
    feats = model.forward_features(x).detach()
    a, b = model.forward_head(feats), model.forward_head(feats)
    assert not torch.equal(a, b)  # dropout active in training
    model.eval()
    assert torch.equal(model.forward_head(feats), model.forward_head(feats))


def test_channels_last():
    model = timm.create_model('zerosnet_opt_20', zero_init_last=False).eval()  # branches that compute
    x = _input(32)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        assert torch.allclose(model(x.to(memory_format=torch.channels_last)), expected, atol=1e-4)
