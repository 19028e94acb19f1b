"""Every registered model against the architecture of docs/design.md and the timm model contract."""

import warnings

import pytest
import timm
import torch
import torch.nn.functional as F

import zerosnet_zoo
from zerosnet_zoo import stability
from zerosnet_zoo.models import MultistepBlock
from zerosnet_zoo.models.schemes import KEEP_MARGIN, FixedScheme

CIFAR = sorted(timm.list_models(['zerosnet_opt_*', 'zerosnet_tra_*', 'preresnet_*', 'lmresnet_*']))
IMAGENET = sorted(timm.list_models(['zerosnet[0-9]*', 'zerosnet_tra[0-9]*', 'preresnet[0-9]*']))
OPT = (1 / 3, 5 / 9, 1 / 9, 16 / 9)

# parameter counts of the reference code without its unused modules (docs/design.md#reference-code-conventions)
OPT_PARAMS = {20: 277_402, 32: 471_834, 44: 666_266, 56: 860_698, 110: 1_735_642,
              164: 1_786_234, 326: 3_455_482, 650: 6_793_978}
IMAGENET_PARAMS = {'zerosnet18': 12_030_888, 'zerosnet34': 22_139_048, 'zerosnet50': 31_050_408,
                   'preresnet18': 11_686_824, 'preresnet34': 21_794_984, 'preresnet50': 25_545_384}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_registry():
    assert len(CIFAR) == 9 + 9 + 6 + 5 and len(IMAGENET) == 13
    assert 'zerosnet_opt_1298' in CIFAR and 'zerosnet_tra152' in IMAGENET
    # only the shipped weights are listed as pretrained (tests/test_pretrained.py)
    assert timm.list_pretrained(['*zerosnet*', 'preresnet*', 'lmresnet*']) == sorted(
        zerosnet_zoo.weights.packaged_weights())


@pytest.mark.parametrize('name', CIFAR)
def test_cifar_forward_backward(name):
    model = timm.create_model(name)
    out = model(torch.randn(2, 3, 16, 16))  # any size the three stages can halve twice
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize('name', IMAGENET)
def test_imagenet_forward_backward(name):
    model = timm.create_model(name)
    out = model(torch.randn(2, 3, 32, 32))  # down to 1x1 in the last stage (two images for BN statistics)
    assert out.shape == (2, 1000)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    if name in IMAGENET_PARAMS:
        assert n_params(model) == IMAGENET_PARAMS[name]


def test_zerosnet18_full_resolution():
    model = timm.create_model('zerosnet18').eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert model.pretrained_cfg['input_size'] == (3, 224, 224) and model.pretrained_cfg['crop_pct'] == 0.875


@pytest.mark.parametrize('depth', sorted(OPT_PARAMS))
def test_cifar_parameter_counts(depth):
    opt = n_params(timm.create_model(f'zerosnet_opt_{depth}'))
    assert opt == OPT_PARAMS[depth]
    blocks = 3 * zerosnet_zoo.models.CIFAR_DEPTHS[depth][1]
    assert n_params(timm.create_model(f'zerosnet_tra_{depth}')) == opt + blocks - 2  # one lambda per 3rd-order block


def test_depth_tables_agree_with_the_registered_models():
    """CIFAR_DEPTHS and IMAGENET_LAYOUTS restate what each register function builds; they must not drift."""
    from zerosnet_zoo.models.multistep import BottleneckBranch
    names = [(f'zerosnet_opt_{d}', b, (n,) * 3) for d, (b, n) in zerosnet_zoo.models.CIFAR_DEPTHS.items()]
    names += [(f'zerosnet{d}', b, layers) for d, (b, layers) in zerosnet_zoo.models.IMAGENET_LAYOUTS.items()]
    with torch.device('meta'):  # the structure without the cost of initializing a 1298-layer network
        for name, bottleneck, layers in names:
            model = timm.create_model(name)
            assert tuple(len(stage) for stage in model.stages) == layers, name
            assert isinstance(model.stages[0][0].branch, BottleneckBranch) == bottleneck, name


def test_baseline_parameter_counts():
    # PreResNet-20 = ZeroSNet-20 without P1/P2 (16->32 and 32->64, twice); LM-ResNet keeps P1 and adds 8 k's
    projections = 16 * 32 + 32 * 64
    assert n_params(timm.create_model('preresnet_20')) == OPT_PARAMS[20] - 2 * projections
    assert n_params(timm.create_model('lmresnet_20')) == OPT_PARAMS[20] - projections + 8
    assert n_params(timm.create_model('zerosnet_tra18')) == IMAGENET_PARAMS['zerosnet18'] + 6


def test_schemes():
    opt = timm.create_model('zerosnet_opt_20')
    schemes = opt.schemes()
    assert len(schemes) == 7 and all(s == schemes[0] for s in schemes)
    assert [*schemes[0].alphas, schemes[0].beta] == pytest.approx(OPT, abs=1e-12)
    assert stability.analyze(*schemes[0]).zero_stable
    assert timm.create_model('preresnet_20', alpha=0.5).schemes()[0] == stability.Scheme((0.5,), 1.0)
    assert timm.create_model('lmresnet_20', k=0.5).schemes()[0] == stability.lm_coefficients(0.5)
    assert timm.create_model('zerosnet_opt_20', lam=2.0).schemes()[0] == stability.zerosnet_coefficients(2.0)

    # a trained Tra net reports what it learned, ready for the root condition
    tra = timm.create_model('zerosnet_tra_20')
    assert all(s == stability.zerosnet_coefficients(1.0) for s in tra.schemes())
    with torch.no_grad():
        tra.stages[1][0].coefficients.lam.fill_(0.25)
    reports = [stability.analyze(*s) for s in tra.schemes()]
    assert [r.zero_stable for r in reports] == [True, False] + [True] * 5
    lm = timm.create_model('lmresnet_20').schemes()
    assert len(lm) == 8 and all(-0.1 <= s.alphas[1] <= 0 and s.beta == 1 for s in lm)


def _block_inputs(model, block, x):
    """The state a block receives, captured with a forward pre-hook."""
    seen = {}

    def hook(module, args):
        seen['state'] = args[0]

    handle = block.register_forward_pre_hook(hook)
    model(x)
    handle.remove()
    return seen['state']


@pytest.mark.parametrize('name, stage, index', [
    ('zerosnet_opt_20', 1, 0),   # transition block: all three projections
    ('zerosnet_tra_20', 0, 2),   # first third-order block, identity projections, trainable lambda
    ('zerosnet_opt_164', 0, 2),  # receives the raw 16-channel y0 as y[n-2]
    ('zerosnet50', 1, 0),        # ImageNet: P0 on the pre-activated input
])
def test_multistep_rule(name, stage, index):
    model = timm.create_model(name, zero_init_last=False).eval()  # every term non-zero
    block = model.stages[stage][index]
    assert isinstance(block, MultistepBlock) and block.order == 3
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y_n, y_n1, y_n2 = _block_inputs(model, block, x)
        if name == 'zerosnet_opt_164':  # the stem output, never widened, which this block projects itself
            assert (y_n2.shape[1], y_n.shape[1]) == (16, 64) and not isinstance(block.proj_h2, torch.nn.Identity)
        out, hist1, hist2 = block((y_n, y_n1, y_n2))
        s = block.scheme()
        if isinstance(block.coefficients, zerosnet_zoo.models.schemes.LambdaCoefficients):
            lam = float(block.coefficients.lam)
            assert [*s.alphas, s.beta] == pytest.approx(
                [3 * (1 + lam) / (4 * lam), -1 / lam, (1 + lam) / (4 * lam), (3 * lam - 1) / (2 * lam)])
        n1 = block.norm1
        pre = F.relu(F.batch_norm(y_n, n1.running_mean, n1.running_var, n1.weight, n1.bias, False, 0.0, n1.eps))
        f = block.branch(pre)
        p0 = block.proj_x(pre if name == 'zerosnet50' and not isinstance(block.proj_x, torch.nn.Identity) else y_n)
        p1, p2 = block.proj_h1(y_n1), block.proj_h2(y_n2)
        expected = s.alphas[0] * p0 + s.alphas[1] * p1 + s.alphas[2] * p2 + s.beta * f
    assert torch.allclose(out, expected, atol=1e-5 * expected.abs().max().item())
    assert torch.equal(hist1, p0) and torch.equal(hist2, p1)  # the projected tensors are handed on


def test_first_blocks_are_starters():
    model = timm.create_model('zerosnet_opt_20')
    blocks = [b for s in model.stages for b in s]
    assert [b.starter for b in blocks] == [True, True] + [False] * 7
    assert sum(b.starter for s in timm.create_model('lmresnet_20').stages for b in s) == 1
    assert not any(b.starter for s in timm.create_model('preresnet_20').stages for b in s)


@pytest.mark.parametrize('name', ['zerosnet_opt_20', 'zerosnet_tra_20', 'preresnet_20', 'lmresnet_20', 'zerosnet_opt_164'])
def test_timm_contract(name):
    model = timm.create_model(name, num_classes=7).eval()
    cfg = model.pretrained_cfg
    assert cfg['input_size'] == (3, 32, 32) and cfg['num_classes'] == 10 and cfg['crop_pct'] == 1.0
    assert cfg['first_conv'] == 'stem.conv' and cfg['classifier'] == 'head.fc' and model.default_cfg == cfg
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (2, model.num_features, 8, 8)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.num_features)
        logits = model(x)
        assert logits.shape == (2, 7) and torch.equal(model.forward_head(feats), logits)
        assert model.get_classifier().out_features == 7
        model.reset_classifier(3)
        assert model(x).shape == (2, 3) and model.num_classes == 3
        model.reset_classifier(0)
        assert model(x).shape == (2, model.num_features)


def test_cifar100_tag():
    model = timm.create_model('zerosnet_opt_56.cifar100')
    assert model.num_classes == 100 and model.pretrained_cfg['tag'] == 'cifar100'
    # the usual per-channel statistics of each training set
    assert (model.pretrained_cfg['mean'], model.pretrained_cfg['std']) == \
        ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
    cifar10 = timm.create_model('zerosnet_opt_56').pretrained_cfg
    assert (cifar10['mean'], cifar10['std']) == ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


@pytest.mark.parametrize('name, lam', [('zerosnet_tra_20', 1.0), ('zerosnet_tra18', -9 / 5)])
def test_tra_starts_where_the_reference_does(name, lam):
    model = timm.create_model(name)
    lams = [b.coefficients.lam_value().item() for s in model.stages for b in s if not b.starter]
    assert lams == pytest.approx([lam] * len(lams))


def test_optimal_builds_silently_and_unstable_warns():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        timm.create_model('zerosnet_opt_20')
        timm.create_model('zerosnet_tra_20')
        timm.create_model('preresnet_20', alpha=0.5)
    with pytest.warns(zerosnet_zoo.ZeroStabilityWarning, match=r'root moduli 1\.84, 0\.737, 0\.737'):
        timm.create_model('zerosnet_opt_20', coefficients=(1, 1, 1, 1))
    with pytest.warns(zerosnet_zoo.ZeroStabilityWarning, match='not zero-stable'):
        timm.create_model('preresnet_20', alpha=2)
    with pytest.warns(zerosnet_zoo.ZeroStabilityWarning, match='multiplicity 3'):
        timm.create_model('zerosnet_opt_20', lam=1 / 3)
    with pytest.warns(zerosnet_zoo.ZeroStabilityWarning, match='1.5'):
        timm.create_model('lmresnet_20', k=-1.5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(lam=0), 'singular'),
    (dict(lam=float('nan')), 'finite'),
    (dict(coefficients=(1, 2, float('inf'), 1)), 'finite'),
    (dict(coefficients=(1, 2, 3)), 'must hold 4 numbers'),
    (dict(coefficients=(0.5, 0.3, 0.1, 0.1), lam=-1.8), 'not both'),
])
def test_bad_scheme_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timm.create_model('zerosnet_opt_20', **kwargs)


def test_other_bad_input():
    with pytest.raises(RuntimeError, match='Unknown model'):
        timm.create_model('zerosnet_opt_57')
    with pytest.raises(ValueError, match='finite'):
        timm.create_model('preresnet_20', alpha=float('inf'))
    for lam in (0.2, -1.0, 1 / 3 + 0.0005):  # within the margin kept from the edge of the branch
        with pytest.raises(ValueError, match='zero-stable set'):
            timm.create_model('zerosnet_tra_20', lam=lam, keep_zero_stable=True)
    # the state holds three terms: a fourth-order scheme would silently lose its a3 y[n-3]
    with pytest.raises(ValueError, match='order 4'):
        zerosnet_zoo.models.MultistepResNet((4, 4, 4), FixedScheme((0.25, 0.25, 0.25, 0.25), 1.0))
    # the starters of an order-3 scheme must share the first stage's resolution
    with pytest.raises(ValueError, match='starter blocks in the first stage'):
        zerosnet_zoo.models.MultistepResNet((1, 2, 2), zerosnet_zoo.models.zerosnet_scheme())
    for name in ('zerosnet_opt_110', 'zerosnet_opt_56.cifar100', 'zerosnet50.in1k'):
        with pytest.raises(RuntimeError, match='no pretrained weights are published'):
            timm.create_model(name, pretrained=True)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('init', [1.0, -1.8])
def test_keep_zero_stable(init, dtype):
    model = timm.create_model('zerosnet_tra_20', lam=init, keep_zero_stable=True).to(dtype)
    lams = lambda: [float(b.coefficients.lam_value().detach()) for s in model.stages for b in s if not b.starter]
    assert lams() == pytest.approx([init] * 7)
    params = [b.coefficients.lam_raw for s in model.stages for b in s if not b.starter]
    opt = torch.optim.SGD(params, lr=1000.0)
    for _ in range(3):  # huge steps towards the edge: lam_raw -> -inf, where softplus underflows to 0
        opt.zero_grad()
        sum(p.sum() for p in params).backward()
        opt.step()
    assert all(p.item() < -1000 for p in params)
    edge = 1 / 3 if init > 0 else -1.0
    # at the margin from the edge, not on it (lambda = 1/3 is a triple root at 1), in either precision
    assert all(abs(lam - edge) >= 0.999 * KEEP_MARGIN for lam in lams())
    assert all(stability.is_zero_stable_lambda(lam) for lam in lams())
    assert all(stability.analyze(*s).zero_stable for s in model.schemes())
    x = torch.randn(2, 3, 32, 32, dtype=dtype)
    assert torch.isfinite(model(x)).all()


def test_initialization():
    # timm's convention by default: the branch's last convolution starts at zero, so an
    # untrained network is the bare recursion and stays finite in eval mode at any depth
    model = timm.create_model('zerosnet_opt_650').eval()
    assert all(not b.branch[-1].weight.any() for s in model.stages for b in s)
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()
    # the reference code's initialization on request: Kaiming normal (fan_out) everywhere
    torch.manual_seed(0)
    reference = timm.create_model('zerosnet_opt_20', zero_init_last=False)
    w = reference.stages[0][2].branch.conv2.weight
    assert w.std().item() == pytest.approx((2 / (9 * 16)) ** 0.5, rel=0.15)


def test_structural_arguments_and_deprecated_stem_type():
    from zerosnet_zoo.models.multistep import IMAGENET_ARGS
    scheme = zerosnet_zoo.models.zerosnet_scheme()
    explicit = zerosnet_zoo.models.MultistepResNet((2, 1, 1, 1), scheme, **IMAGENET_ARGS)
    with pytest.warns(DeprecationWarning, match='stem_type is deprecated'):
        legacy = zerosnet_zoo.models.MultistepResNet((2, 1, 1, 1), scheme, stem_type='imagenet')
    shapes = [{k: v.shape for k, v in m.state_dict().items()} for m in (legacy, explicit)]
    assert shapes[0] == shapes[1]
    assert legacy.feature_info == explicit.feature_info
    with pytest.raises(ValueError, match="stem must be '3x3' or '7x7_pool'"):
        zerosnet_zoo.models.MultistepResNet((2, 2, 2), scheme, stem='5x5')
    with pytest.raises(ValueError, match='either stem_type or those arguments'), pytest.warns(DeprecationWarning):
        zerosnet_zoo.models.MultistepResNet((2, 1, 1), scheme, stem_type='cifar', channels=(8, 16, 32))
