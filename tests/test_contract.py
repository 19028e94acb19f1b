"""The timm / PyTorch contract for one shallow model of every family, in every mode a user
compiles or exports with: TorchScript, FX, FX then TorchScript, timm's and torchvision's FX
feature extraction, torch.compile (forward; gradients too where the coefficients train),
torch.export, and ONNX (torch.onnx.export(dynamo=True), run by onnxruntime).  Every mode must
give the eager outputs."""

import copy

import onnxruntime
import pytest
import timm
import torch
from timm.models import create_feature_extractor as timm_feature_extractor
from torchvision.models.feature_extraction import create_feature_extractor as tv_feature_extractor

import zerosnet_zoo  # noqa: F401
from zerosnet_zoo.models import MultistepResNet, zerosnet_scheme
from zerosnet_zoo.models.multistep import IMAGENET_ARGS

# family -> (a model factory, input size). The bottleneck nets are built with two blocks per
# stage (CIFAR) or (2, 1, 1, 1) (ImageNet): the modules of the registered depths in a fraction
# of the time.
FAMILIES = {
    'opt': (lambda: timm.create_model('zerosnet_opt_20'), 32),
    'tra': (lambda: timm.create_model('zerosnet_tra_20', lam=-1.5), 32),
    'tra_keep_zero_stable': (lambda: timm.create_model('zerosnet_tra_20', lam=0.8, keep_zero_stable=True), 32),
    'preresnet': (lambda: timm.create_model('preresnet_20', alpha=0.7), 32),
    'lmresnet_trainable': (lambda: timm.create_model('lmresnet_20'), 32),
    'lmresnet_fixed': (lambda: timm.create_model('lmresnet_20', k=0.5), 32),
    'cifar_bottleneck': (lambda: MultistepResNet((2, 2, 2), zerosnet_scheme(), bottleneck=True, num_classes=10), 32),
    'imagenet_basic': (lambda: timm.create_model('zerosnet_tra18'), 64),
    'imagenet_bottleneck': (lambda: MultistepResNet((2, 1, 1, 1), zerosnet_scheme(), bottleneck=True,
                                                    **IMAGENET_ARGS), 64),
}
TRAINABLE = ('tra', 'tra_keep_zero_stable', 'lmresnet_trainable')  # their compiled path differs from eager


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to float32 rounding, relative to the outputs' scale."""
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


def _model_and_input(family: str):
    factory, size = FAMILIES[family]
    torch.manual_seed(0)
    model = factory().eval()
    with torch.no_grad():  # non-trivial BN statistics and branch outputs (zero_init_last zeroes them)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, torch.nn.Conv2d) and not m.weight.abs().sum():
                m.weight.normal_(0, 0.05)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    return model, x


families = pytest.mark.parametrize('family', list(FAMILIES))


@families
def test_torchscript(family):
    model, x = _model_and_input(family)
    with torch.no_grad():
        assert _close(torch.jit.script(model)(x), model(x))


@families
def test_fx_then_torchscript(family):
    model, x = _model_and_input(family)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        assert _close(traced(x), model(x))
        assert _close(torch.jit.script(traced)(x), model(x))


@families
def test_fx_feature_extraction(family):
    model, x = _model_and_input(family)
    nodes = [f'stages.{i}' for i in range(len(model.stages))]
    with torch.no_grad():
        expected = model.forward_intermediates(x, indices=list(range(1, len(nodes) + 1)), intermediates_only=True)
        for extractor in (timm_feature_extractor, tv_feature_extractor):
            feats = extractor(model, return_nodes=nodes)(x)
            # a stage's output node is the multistep state; its first tensor is the feature map
            got = [f[0] if isinstance(f, tuple) else f for f in feats.values()]
            assert len(got) == len(expected)
            for a, b in zip(got, expected):
                assert _close(a, b)


@families
def test_torch_compile(family):
    model, x = _model_and_input(family)
    compiled_model = copy.deepcopy(model)
    torch._dynamo.reset()
    compiled = torch.compile(compiled_model, backend='aot_eager')  # no C++ toolchain needed
    with torch.no_grad():
        assert _close(compiled(x), model(x))
    if family not in TRAINABLE:
        return
    model.train()
    compiled_model.train()
    model(x).square().mean().backward()
    compiled(x).square().mean().backward()
    for (name, p), q in zip(model.named_parameters(), compiled_model.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5, rtol=1e-3), name


@families
def test_torch_export(family):
    model, x = _model_and_input(family)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        assert _close(program.module()(x), model(x))


@families
def test_onnx_export_runs_in_onnxruntime(family, tmp_path):
    model, x = _model_and_input(family)
    path = tmp_path / f'{family}.onnx'
    torch.onnx.export(model, (x,), dynamo=True).save(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert _close(torch.from_numpy(out), model(x))
