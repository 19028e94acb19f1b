"""Shipped weights: offline loading, the sha256 check, accuracy on the shipped test images,
Hub export -> local-dir round trip, the model card, and push up to the upload call."""

import json
from pathlib import Path

import huggingface_hub
import pytest
import timm
import torch
from safetensors.torch import load as load_bytes, load_file, save_file

import zerosnet_zoo  # noqa: F401
from zerosnet_zoo import cli
from zerosnet_zoo.data import SAMPLE_DIR, load_split
from zerosnet_zoo.hf_hub import export
from zerosnet_zoo.models.zerosnet import CIFAR10_CLASSES
from zerosnet_zoo.weights import (HF_ORGANIZATION, WEIGHTS_DIR, WeightIntegrityError, curves_file, packaged_weights, provenance,
                                  sha256_of)
from real_data import DATA, needs_data

# The full-split figures are in MODEL_CARD.md; the 500-image ones in the README weights table.
FULL_SPLIT_FLOOR = 89.0  # the floor this project set for zerosnet_opt_20.cifar10 on the whole test split
REPO = Path(__file__).resolve().parents[1]
PACKAGED_WEIGHTS = packaged_weights()  # NAME.TAG -> sha256, read from zerosnet_zoo/weights
SHIPPED = sorted(PACKAGED_WEIGHTS)


def _packaged_file(name_tag: str) -> Path:
    return WEIGHTS_DIR / f'{name_tag}-{PACKAGED_WEIGHTS[name_tag]}.safetensors'


def test_list_pretrained_is_exactly_the_shipped_weights():
    ours = set(timm.list_models(module='zerosnet'))
    listed = [n for n in timm.list_pretrained() if n.split('.')[0] in ours]
    assert sorted(listed) == SHIPPED
    assert {'zerosnet_opt_20.cifar10', 'preresnet_20.cifar10'} <= set(SHIPPED)
    assert timm.list_pretrained('zerosnet*') == [n for n in SHIPPED if n.startswith('zerosnet')]


@pytest.mark.parametrize('name_tag', SHIPPED)
def test_shipped_files_and_provenance(name_tag):
    path = _packaged_file(name_tag)
    assert sha256_of(path) == PACKAGED_WEIGHTS[name_tag]
    record = provenance(name_tag)
    assert record['sha256'] == PACKAGED_WEIGHTS[name_tag] and record['name'] == name_tag
    assert record['dataset'] == 'CIFAR-10 (JPEG q75)' and record['test']['images'] == 10_000
    log = [json.loads(line) for line in (WEIGHTS_DIR / f'{name_tag}.log.jsonl').read_text().splitlines()]
    assert len(log) == record['epochs'] == sum(s['epochs'] for s in record['stages'])
    assert log[-1] == record['final_epoch']
    # the record ships in the package: it names the data as the commands do, no path of the training machine
    assert [s['recipe']['data_dir'] for s in record['stages']] == ['DATA'] * len(record['stages'])
    cfg = timm.create_model(name_tag).pretrained_cfg
    assert cfg['file'] == str(path) and cfg['hf_hub_id'] == f'{HF_ORGANIZATION}/{name_tag}'


@pytest.mark.parametrize('name_tag', SHIPPED)
def test_pretrained_loads_offline(name_tag, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError('pretrained loading reached for the network')

    for fetch in ('download_cached_file', 'load_state_dict_from_url', 'load_state_dict_from_hf'):
        monkeypatch.setattr(timm.models._builder, fetch, no_network)
    model = timm.create_model(name_tag, pretrained=True)
    expected = load_file(str(_packaged_file(name_tag)))
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    # the architecture's default tag is the shipped one, as for torch.hub.load(..., pretrained=True)
    default = timm.create_model(name_tag.split('.')[0], pretrained=True)
    assert torch.equal(default.head.fc.weight, model.head.fc.weight)


# zerosnet_opt_20.cifar10 logits on torch.randn(2, 3, 32, 32) from seed 0, as float.hex(), computed
# (CPU, float32) before the model code was restructured: refactors must keep them. Not bit for bit:
# the CPU's convolution kernels (AVX-512 or AVX2) sum in different orders, which moved them by up to
# 1e-6 on a second machine; a refactoring error moves them by orders of magnitude more.
PINNED_LOGITS = [
    '-0x1.96dfc8p+0', '-0x1.3c903ep+1', '0x1.83ddf8p+1', '0x1.c63588p-1', '0x1.a2e39ap+0',
    '-0x1.74278cp+0', '0x1.42dd7ep+2', '-0x1.4d12e8p+1', '-0x1.62b7fap+1', '0x1.2bae58p-2',
    '-0x1.292f22p+1', '-0x1.1d1e36p+1', '0x1.962746p+1', '0x1.161feap+0', '0x1.4825c4p+1',
    '-0x1.6dff3ap+0', '0x1.2f46a2p+2', '-0x1.9a3cfap+1', '-0x1.498dfcp+1', '0x1.970f72p-3',
]


def test_shipped_weights_give_the_pinned_logits():
    model = timm.create_model('zerosnet_opt_20.cifar10', pretrained=True).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x).flatten().tolist()
    torch.testing.assert_close(torch.tensor(logits), torch.tensor([float.fromhex(v) for v in PINNED_LOGITS]),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('damage', ['flip', 'truncate', 'missing'])
def test_damaged_weight_fails_and_names_the_file(tmp_path, damage):
    name_tag = 'zerosnet_opt_20.cifar10'
    copy = tmp_path / _packaged_file(name_tag).name
    if damage != 'missing':
        data = bytearray(_packaged_file(name_tag).read_bytes())
        if damage == 'flip':
            data[len(data) // 2] ^= 0xFF
        else:
            data = data[:len(data) // 3]
        copy.write_bytes(bytes(data))
    with pytest.raises(WeightIntegrityError, match=str(copy)):
        timm.create_model(name_tag, pretrained=True, pretrained_cfg_overlay=dict(file=str(copy)))


def test_shipped_sample_images():
    data = load_split(SAMPLE_DIR, 'test')
    assert data.images.shape == (500, 3, 32, 32) and data.images.dtype == torch.uint8
    assert tuple(data.classes) == CIFAR10_CLASSES
    assert torch.bincount(data.labels).tolist() == [50] * 10


@pytest.mark.parametrize('name_tag', SHIPPED)
def test_shipped_weights_accuracy_on_shipped_images(name_tag, capsys):
    assert cli.main(['eval', '--model', name_tag, '--pretrained', '--json']) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['images'] == 500 and result['data_dir'] == str(SAMPLE_DIR)
    assert result['top5'] >= result['clean']
    # the README's weights table states this figure; one image is 0.2 points, the room left for
    # another CPU's convolution kernels to flip a borderline prediction
    row = next(line for line in (REPO / 'README.md').read_text().splitlines() if line.startswith(f'| `{name_tag}`'))
    assert result['clean'] == pytest.approx(float(row.rstrip(' |').rpartition('| ')[2]), abs=0.2), (row, result)


@needs_data
@pytest.mark.parametrize('name_tag', SHIPPED)
def test_shipped_weights_on_the_full_test_split(name_tag, capsys):
    record = provenance(name_tag)  # what the model card states
    assert cli.main(['eval', '--model', name_tag, '--pretrained', '--data-dir', str(DATA), '--json', '--flip']) == 0
    result = json.loads(capsys.readouterr().out)
    recorded = record['test']
    assert result['images'] == 10_000 and (result['clean'], result['top5']) == (recorded['top1'], recorded['top5'])
    assert result['flip'] == {'clean': record['test_flip']['top1'], 'top5': record['test_flip']['top5']}
    if name_tag == 'zerosnet_opt_20.cifar10':
        assert result['clean'] >= FULL_SPLIT_FLOOR


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp('hub') / 'zerosnet_opt_20.cifar10'
    return export('zerosnet_opt_20.cifar10', out)


def test_export_round_trips_through_local_dir(exported):
    assert sorted(p.name for p in exported.iterdir()) == ['README.md', 'config.json', 'model.safetensors',
                                                          'training_curves.png']
    assert (exported / 'training_curves.png').read_bytes() == curves_file('zerosnet_opt_20.cifar10').read_bytes()
    packaged = timm.create_model('zerosnet_opt_20.cifar10', pretrained=True).eval()
    loaded = timm.create_model(f'local-dir:{exported}', pretrained=True).eval()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), packaged(x))
    assert loaded.pretrained_cfg['mean'] == list(packaged.pretrained_cfg['mean'])


def test_exported_repository_loads_as_hf_hub(exported, monkeypatch):
    """timm's own hf-hub: path, with the download served from the exported folder (no network here)."""
    import timm.models._hub as timm_hub

    asked = []

    def download(repo_id: str, filename: str, **_) -> str:
        asked.append(filename)
        if repo_id != f'{HF_ORGANIZATION}/zerosnet_opt_20.cifar10' or not (exported / filename).is_file():
            raise huggingface_hub.errors.EntryNotFoundError(f'{repo_id}/{filename}')
        return str(exported / filename)

    monkeypatch.setattr(timm_hub, 'hf_hub_download', download)
    loaded = timm.create_model(f'hf-hub:{HF_ORGANIZATION}/zerosnet_opt_20.cifar10', pretrained=True).eval()
    assert {'config.json', 'model.safetensors'} <= set(asked)
    packaged = timm.create_model('zerosnet_opt_20.cifar10', pretrained=True).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), packaged(x))


def test_exported_config_and_model_card(exported):
    config = json.loads((exported / 'config.json').read_text())
    assert config['architecture'] == 'zerosnet_opt_20' and config['num_classes'] == 10
    assert config['pretrained_cfg']['label_names'] == list(CIFAR10_CLASSES)
    assert config['pretrained_cfg']['input_size'] == [3, 32, 32]
    assert 'file' not in config['pretrained_cfg']  # no path of this machine leaks into the Hub repo
    card = (exported / 'README.md').read_text()
    record = provenance('zerosnet_opt_20.cifar10')
    assert card.startswith('---\n') and 'library_name: timm' in card and 'license: mit' in card
    assert f"| clean top-1 | {record['test']['top1']:.2f} | 92.01 |" in card
    assert f"| clean top-5 | {record['test']['top5']:.2f} |" in card
    assert f"noise gaussian0.04 | {record['noise']['gaussian0.04']:.2f}" in card
    assert record['sha256'] in card and 'CIFAR-10 (JPEG q75)' in card
    assert f"timm.create_model('hf-hub:{HF_ORGANIZATION}/zerosnet_opt_20.cifar10', pretrained=True)" in card
    assert 'root moduli 1.000, 0.333, 0.333' in card
    assert '![test top-1 per epoch](training_curves.png)' in card


def test_export_a_checkpoint_without_provenance(tmp_path):
    source = timm.create_model('zerosnet_opt_20', num_classes=100).eval()
    save_file(source.state_dict(), str(tmp_path / 'model.safetensors'))
    out = export('zerosnet_opt_20.cifar100', tmp_path / 'repo', checkpoint=tmp_path, repo_id='me/z20')
    assert 'No metrics were recorded' in (out / 'README.md').read_text()
    loaded = timm.create_model(f'local-dir:{out}', pretrained=True).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), source(x))


def test_export_of_a_run_keeps_its_scheme(tmp_path):
    """A run's lam=-1.2 is in no tensor: the export builds the model as the run's metadata records it,
    and its config.json rebuilds that scheme."""
    cfg = timm.models.get_pretrained_cfg('zerosnet_opt_20.cifar10')
    source = timm.create_model('zerosnet_opt_20', lam=-1.2).eval()
    save_file(source.state_dict(), str(tmp_path / 'model.safetensors'), metadata={  # as train/cifar.py writes it
        'model': 'zerosnet_opt_20', 'model_kwargs': json.dumps(['lam=-1.2']), 'dataset': 'cifar10', 'epochs': '1',
        'init': 'reference', 'mean': json.dumps(list(cfg.mean)), 'std': json.dumps(list(cfg.std))})
    out = export('zerosnet_opt_20.cifar10', tmp_path / 'repo', checkpoint=tmp_path, repo_id='me/z20')
    assert json.loads((out / 'config.json').read_text())['model_args']['lam'] == -1.2
    loaded = timm.create_model(f'local-dir:{out}', pretrained=True).eval()
    assert loaded.schemes()[0] == source.schemes()[0] != timm.create_model('zerosnet_opt_20').schemes()[0]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), source(x))


@pytest.mark.parametrize('name_tag, kwargs', [
    ('zerosnet_opt_20.cifar10', dict(lam=-1.2)),
    ('zerosnet_opt_20.cifar10', dict(coefficients=(1.0, 0.0, 0.0, 1.0))),
    ('preresnet_20.cifar10', dict(alpha=0.5)),
])
def test_published_weights_refuse_another_fixed_scheme(name_tag, kwargs):
    """The coefficients are in no tensor: loading would run the weights as a network they were not trained as."""
    with pytest.raises(ValueError, match=r'published \w+ weights are trained with .* drop lam=/coefficients=/alpha='):
        timm.create_model(name_tag, pretrained=True, **kwargs)


def test_published_weights_accept_their_own_scheme_spelled_out():
    x = torch.randn(2, 3, 32, 32)
    default = timm.create_model('zerosnet_opt_20.cifar10', pretrained=True).eval()
    spelled = timm.create_model('zerosnet_opt_20.cifar10', pretrained=True, lam=-1.8).eval()
    with torch.no_grad():
        assert torch.equal(default(x), spelled(x))


def test_export_refuses_a_non_empty_folder_and_leaves_nothing(tmp_path):
    (tmp_path / 'repo').mkdir()
    (tmp_path / 'repo' / 'keep.txt').write_text('mine')
    assert cli.main(['export', 'zerosnet_opt_20.cifar10', '--out', str(tmp_path / 'repo')]) == 2
    assert [p.name for p in (tmp_path / 'repo').iterdir()] == ['keep.txt']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['repo']


class _FakeApi:
    calls = []

    def __init__(self, token=None, **kwargs):
        self.token = token

    def create_repo(self, repo_id, private=False, exist_ok=False):
        self.calls.append(('create_repo', repo_id, self.token))

    def upload_folder(self, repo_id, folder_path, commit_message):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        self.calls.append(('upload_folder', repo_id, files))
        return f'https://huggingface.co/{repo_id}/commit/0'


def test_push_uploads_the_exported_repository(monkeypatch, capsys):
    _FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, 'HfApi', _FakeApi)
    monkeypatch.setenv('HF_TOKEN', 'hf_test_token')
    assert cli.main(['push', 'zerosnet_opt_20.cifar10']) == 0
    (_, repo, token), (_, repo2, files) = _FakeApi.calls
    assert repo == repo2 == f'{HF_ORGANIZATION}/zerosnet_opt_20.cifar10' and token == 'hf_test_token'
    assert sorted(files) == ['README.md', 'config.json', 'model.safetensors', 'training_curves.png']
    tensors = load_bytes(files['model.safetensors'])
    expected = load_file(str(_packaged_file('zerosnet_opt_20.cifar10')))
    assert all(torch.equal(tensors[k], v) for k, v in expected.items())
    assert 'uploaded' in capsys.readouterr().out


def test_push_without_token_fails_clearly(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv('HF_TOKEN', raising=False)
    monkeypatch.setenv('HF_HOME', str(tmp_path))  # no stored login either
    monkeypatch.setattr(huggingface_hub, 'HfApi', _FakeApi)
    _FakeApi.calls = []
    assert cli.main(['push', 'zerosnet_opt_20.cifar10', '--repo-id', 'me/z20']) == 2
    assert 'no Hugging Face token' in capsys.readouterr().err and _FakeApi.calls == []


def test_push_network_failure_is_named(monkeypatch, capsys):
    class Offline(_FakeApi):
        def create_repo(self, *args, **kwargs):
            raise ConnectionError('Name or service not known')

    monkeypatch.setattr(huggingface_hub, 'HfApi', Offline)
    monkeypatch.setenv('HF_TOKEN', 'hf_test_token')
    assert cli.main(['push', 'zerosnet_opt_20.cifar10', '--repo-id', 'me/z20']) == 2
    err = capsys.readouterr().err
    assert 'could not upload to the Hugging Face Hub repository me/z20' in err and 'ConnectionError' in err
