"""torch.hub on a fresh clone of the repository, fine-tuning from a local checkpoint, and the Hub model card."""

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

import zerosnet_zoo  # noqa: F401
from zerosnet_zoo import paper
from zerosnet_zoo.hf_hub import export
from zerosnet_zoo.weights import packaged_weights, provenance

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def clone(tmp_path_factory):
    if shutil.which('git') is None or not (REPO / '.git').exists():
        pytest.skip('needs git and a git checkout of the repository')
    target = tmp_path_factory.mktemp('hub') / 'zerosnet-zoo'
    subprocess.run(['git', 'clone', '-q', str(REPO), str(target)], check=True)
    # the test runs on the working tree as it is, committed or not
    shutil.copy2(REPO / 'hubconf.py', target / 'hubconf.py')
    shutil.copytree(REPO / 'zerosnet_zoo', target / 'zerosnet_zoo', dirs_exist_ok=True)
    return target


def test_hub_lists_every_model(clone, monkeypatch):
    # torch.hub.list/help only take 'owner/repo'; point its download step at the clone instead
    monkeypatch.setattr(torch.hub, '_get_cache_or_reload', lambda *args, **kwargs: str(clone))
    entries = torch.hub.list('org/zerosnet-zoo')
    assert sorted(entries) == sorted(timm.list_models(module='zerosnet'))
    assert 'ZeroSNet-Opt-56' in torch.hub.help('org/zerosnet-zoo', 'zerosnet_opt_56')


def test_hub_load_passes_kwargs(clone):
    model = torch.hub.load(str(clone), 'zerosnet_opt_20', source='local', num_classes=100, lam=-1.2)
    assert model.num_classes == 100
    assert model.schemes()[0].alphas[1] == pytest.approx(1 / 1.2)
    # ImageNet weights are not published: asking for them must fail, not hand back random weights
    with pytest.raises(RuntimeError, match='no pretrained weights are published for zerosnet50'):
        torch.hub.load(str(clone), 'zerosnet50', source='local', pretrained=True)


HUB_LOAD = """
import json, sys, torch
clone, names = sys.argv[1], sys.argv[2:]
out = {}
for name_tag in names:
    name, tag = name_tag.split('.')
    model = torch.hub.load(clone, name, source='local', pretrained=True).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out[name_tag] = {'tag': model.pretrained_cfg['tag'], 'logits': model(torch.randn(2, 3, 32, 32)).tolist()}
out['package'] = sys.modules['zerosnet_zoo'].__file__
print(json.dumps(out))
"""


def test_hub_load_shipped_weights(clone, tmp_path):
    """In a fresh interpreter outside the repository, so that the clone's own package is what loads."""
    names = sorted(packaged_weights())
    run = subprocess.run([sys.executable, '-c', HUB_LOAD, str(clone), *names], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.splitlines()[-1])
    assert Path(loaded['package']).resolve().is_relative_to(clone.resolve())
    for name_tag in names:
        shipped = timm.create_model(name_tag, pretrained=True).eval()
        torch.manual_seed(0)
        with torch.no_grad():
            expected = shipped(torch.randn(2, 3, 32, 32))
        assert loaded[name_tag]['tag'] == name_tag.split('.')[1]
        assert torch.allclose(torch.tensor(loaded[name_tag]['logits']), expected, atol=1e-5)


def test_finetune_from_local_checkpoint(tmp_path):
    source = timm.create_model('zerosnet_opt_20').eval()  # a "CIFAR-10" checkpoint
    path = tmp_path / 'model.safetensors'
    save_file(source.state_dict(), str(path))
    model = timm.create_model('zerosnet_opt_20', pretrained=True, num_classes=37,
                              pretrained_cfg_overlay=dict(file=str(path))).eval()
    assert model.get_classifier().out_features == 37
    target, loaded = source.state_dict(), model.state_dict()
    for key, value in loaded.items():
        if key.startswith('head.fc.'):
            assert value.shape[0] == 37  # only the head is re-initialized
        else:
            assert torch.equal(value, target[key]), key
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), source.forward_features(x))
    # same class count: everything loads, head included
    same = timm.create_model('zerosnet_opt_20', pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()
    with torch.no_grad():
        assert torch.equal(same(x), source(x))


@pytest.mark.parametrize('name_tag', ['preresnet_20.cifar10', 'zerosnet_opt_20.cifar10'])
def test_hub_card_quotes_the_paper_under_its_own_label(tmp_path, name_tag):
    card = (export(name_tag, tmp_path / 'repo') / 'README.md').read_text()
    record = provenance(name_tag)
    seeds = ', '.join(str(stage['recipe']['seed']) for stage in record['stages'])
    assert f"one run in {len(record['stages'])} stages, seeds {seeds}" in card
    reported = paper.table_4(name_tag.split('.')[0])
    assert f"| clean top-1 | {record['test']['top1']:.2f} | {reported.top1:.2f} |" in card
    assert f'{reported.row} ({reported.source})' in card
    if name_tag.startswith('preresnet'):  # the CIFAR-10 baseline the paper quotes is not a PreResNet run
        assert 'ResNet† (He et al. 2016, quoted by the paper from Lu et al. 2018)' in card
        assert 'neither the authors\' run nor a PreResNet' in card and 'mean of 3' not in card
    assert '| FGSM eps=0.03137, one step (2000 images) |' in card
    assert paper.CITATION in card and paper.REFERENCE_CODE in card
    # the card stands alone: data named by what it is, commands with a DATA placeholder
    assert '--data-dir DATA' in card and 'SPEC' not in card and 'shared/' not in card



def test_old_module_names_still_work_with_a_warning(monkeypatch):
    from zerosnet_zoo import benchmark, checkpoints, files, hf_hub, provenance

    renamed = {'zerosnet_zoo.hub': (hf_hub, provenance, benchmark), 'zerosnet_zoo.io': (files, checkpoints)}
    for old, homes in renamed.items():
        monkeypatch.delitem(sys.modules, old, raising=False)  # import it afresh, so that it warns again
        with pytest.warns(DeprecationWarning, match=f'{old} is deprecated'):
            module = importlib.import_module(old)
        for name in module.__all__:
            assert any(getattr(home, name, None) is getattr(module, name) for home in homes), name
