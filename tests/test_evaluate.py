"""Evaluation: noise as the paper applies it, attacks inside their budget, the eval command."""

import json
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from zerosnet_zoo import building, cli
from zerosnet_zoo.data import SAMPLE_DIR, alternating_flips, load_split, normalize, random_crop_flip
from zerosnet_zoo.evaluate import NOISES, accuracy, add_noise, adversarial, evaluate, noise_accuracy, topk_accuracy
from real_data import DATA, needs_data

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def test_noise_is_seeded_and_clipped():
    x = torch.rand(4, 3, 8, 8)
    x[0] = 0.95  # near the top: positive noise must clip at 1
    for name in NOISES:
        a = add_noise(x, name, torch.Generator().manual_seed(1))
        b = add_noise(x, name, torch.Generator().manual_seed(1))
        assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(add_noise(x, 'constant0.3', torch.Generator())[0], torch.ones(3, 8, 8))
    low = add_noise(x, 'uniform[-0.08,0]', torch.Generator().manual_seed(1)) - x
    assert low.max() <= 0 and low.min() >= -0.08 - 1e-7
    g = add_noise(torch.full((1, 3, 64, 64), 0.5), 'gaussian0.04', torch.Generator().manual_seed(1)) - 0.5
    assert g.std().item() == pytest.approx(0.04, rel=0.1)
    with pytest.raises(ValueError, match='unknown noise'):
        add_noise(x, 'salt', torch.Generator())


class Recorder(torch.nn.Module):
    """Predicts class 0 and keeps the inputs it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x)
        return torch.zeros(len(x), 10).index_fill_(1, torch.tensor([0]), 1.0)


def test_noise_applied_in_pixel_space_before_normalization():
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    model = Recorder()
    results = noise_accuracy(model, images, labels, MEAN, STD, batch_size=4)
    assert set(results) == set(NOISES) and all(v == 50.0 for v in results.values())
    for i, name in enumerate(NOISES):
        g = torch.Generator().manual_seed(1)
        x = images.float() / 255
        expected = torch.cat([normalize(add_noise(x[:4], name, g), MEAN, STD), normalize(add_noise(x[4:], name, g), MEAN, STD)])
        assert torch.allclose(torch.cat(model.seen[2 * i:2 * i + 2]), expected)


def test_attacks_stay_in_budget_and_hurt():
    torch.manual_seed(0)
    model = timm.create_model('preresnet_20').eval()
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([1, 2, 3, 4])
    clean_loss = F.cross_entropy(model(normalize(x, MEAN, STD)), y)
    for attack in ('fgsm', 'pgd'):
        adv = adversarial(model, x, y, MEAN, STD, attack, eps=4 / 255, steps=3, generator=torch.Generator().manual_seed(1))
        assert (adv - x).abs().max() <= 4 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
        assert F.cross_entropy(model(normalize(adv, MEAN, STD)), y) > clean_loss
    same = adversarial(model, x, y, MEAN, STD, 'fgsm', eps=0.0)
    assert torch.equal(same, x)
    with pytest.raises(ValueError, match='attack'):
        adversarial(model, x, y, MEAN, STD, 'cw', eps=0.1)


def test_random_crop_flip():
    """Each image independently: one of the 9 x 9 windows of the zero-padded image, all equally
    likely, mirrored with probability 1/2; the same generator draws the same batch."""
    n = 2000
    image = torch.arange(1, 3 * 6 * 6 + 1, dtype=torch.uint8).reshape(3, 6, 6)  # no two windows alike
    x = image.expand(n, -1, -1, -1).contiguous()
    out = random_crop_flip(x, padding=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(out, random_crop_flip(x, padding=4, generator=torch.Generator().manual_seed(0)))
    padded = F.pad(image, (4,) * 4)
    windows = torch.stack([w for i in range(9) for j in range(9)
                           for w in (padded[:, i:i + 6, j:j + 6], padded[:, i:i + 6, j:j + 6].flip(-1))])
    match = (out[:, None] == windows[None]).flatten(2).all(2)  # n x (81 offsets x {plain, mirrored})
    assert (match.sum(1) == 1).all()  # every output is exactly one window
    drawn = match.float().argmax(1)
    offsets, flipped = drawn // 2, drawn % 2 == 1
    counts = torch.bincount(offsets, minlength=81)
    assert counts.min() > 0 and counts.max() < 3 * n / 81  # every offset occurs, none dominates
    assert 0.45 < flipped.float().mean().item() < 0.55


def test_crop_with_given_flips_mirrors_exactly_those_images():
    """A given flip mask replaces the coin: the same crops, mirrored where it says so."""
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    flip = torch.tensor([True, False, True, True, False, False])
    plain = random_crop_flip(x, generator=torch.Generator().manual_seed(1), flip=torch.zeros(6, dtype=torch.bool))
    out = random_crop_flip(x, generator=torch.Generator().manual_seed(1), flip=flip)
    assert torch.equal(out[flip], plain[flip].flip(-1)) and torch.equal(out[~flip], plain[~flip])
    assert torch.equal(random_crop_flip(x, padding=0, flip=~flip)[flip], x[flip])
    with pytest.raises(ValueError, match=r'one bool per image \(6\), got shape \(5,\)'):
        random_crop_flip(x, flip=flip[:5])


def test_alternating_flips_show_every_image_both_ways_every_two_epochs():
    first = alternating_flips(1000, seed=3, epoch=0)
    assert first.dtype == torch.bool and 0.45 < first.float().mean().item() < 0.55
    assert torch.equal(first, alternating_flips(1000, seed=3, epoch=0))  # a function of (seed, epoch) alone
    assert not torch.equal(first, alternating_flips(1000, seed=4, epoch=0))
    for epoch in range(1, 5):
        assert torch.equal(alternating_flips(1000, seed=3, epoch=epoch), first ^ (epoch % 2 == 1))


@pytest.mark.parametrize('name, low, high, std', [
    ('uniform[-0.08,0]', -0.08, 0.0, 0.08 / 12 ** 0.5),
    ('uniform[0,0.08]', 0.0, 0.08, 0.08 / 12 ** 0.5),
    ('gaussian0.01', None, None, 0.01),
    ('gaussian0.02', None, None, 0.02),
    ('gaussian0.04', None, None, 0.04),
    ('constant0.3', 0.3, 0.3, 0.0),
])
def test_each_noise_is_the_papers(name, low, high, std):
    """The paper's Table 6 noises, on grey images (0.5, where no clipping happens)."""
    d = add_noise(torch.full((4, 3, 32, 32), 0.5), name, torch.Generator().manual_seed(1)) - 0.5
    mean = 0.0 if low is None else (low + high) / 2
    assert d.mean().item() == pytest.approx(mean, abs=2e-3)
    assert d.std().item() == pytest.approx(std, rel=0.05, abs=1e-6)
    if low is not None:
        assert d.min().item() >= low - 1e-6 and d.max().item() <= high + 1e-6


def test_bad_images_are_refused():
    model = timm.create_model('zerosnet_opt_20.cifar10').eval()
    data = load_split(SAMPLE_DIR, 'test', limit=8)
    with pytest.raises(ValueError, match='images must be uint8'):  # [0, 1] floats would be divided by 255 again
        accuracy(model, data.images.float() / 255, data.labels, MEAN, STD)
    with pytest.raises(ValueError, match='do not fit the 3-channel mean'):
        normalize(data.images[:, :1], MEAN, STD)
    with pytest.raises(ValueError, match='uint8 or \\[0, 1\\] floats'):
        normalize(data.images.long(), MEAN, STD)
    # class folders named otherwise (plane, car, ...) sort into another order: refused, not scrambled
    renamed = type(data)(data.images, data.labels, ['plane' if c == 'airplane' else 'car' if c == 'automobile' else c
                                                    for c in data.classes])
    with pytest.raises(ValueError, match="are not the model's .* in that order"):
        evaluate(model, sorted_classes(renamed))


def sorted_classes(data):
    """The set as an ImageFolder of those folder names would load it: classes sorted, labels to match."""
    order = sorted(range(len(data.classes)), key=lambda i: data.classes[i])
    relabel = torch.tensor([order.index(i) for i in range(len(order))])
    return type(data)(data.images, relabel[data.labels], [data.classes[i] for i in order])


@needs_data
def test_eval_command_json(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / 'model.safetensors'
    save_file(timm.create_model('zerosnet_opt_20').state_dict(), str(path))
    argv = ['eval', '--model', 'zerosnet_opt_20', '--checkpoint', str(path), '--data-dir', str(DATA),
            '--limit', '40', '--robustness', '--attack', 'pgd', '--steps', '2', '--json']
    assert cli.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first['model'] == 'zerosnet_opt_20' and first['images'] == 40 and 0 <= first['clean'] <= 100
    assert set(first['noise']) == set(NOISES)
    assert set(first['attacks']) == {'pgd'} and 0 <= first['attacks']['pgd']['top1'] <= 100
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first  # seeded: the same numbers again
    assert cli.main(['eval', '--model', 'zerosnet_opt_110', '--pretrained', '--data-dir', str(DATA), '--limit', '4']) == 2
    assert 'no pretrained weights' in capsys.readouterr().err


def test_topk_accuracy_against_a_direct_count():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (37, 3, 4, 4), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (37,), generator=g)
    weight = torch.randn(10, 48, generator=g)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10, bias=False))
    model[1].weight.data = weight
    mean, std = (0.5,) * 3, (0.25,) * 3
    logits = normalize(images, mean, std).flatten(1) @ weight.T
    rank = (logits > logits.gather(1, labels[:, None])).sum(1)  # classes scored above the true one
    result = topk_accuracy(model, images, labels, mean, std, ks=(1, 3, 5), batch_size=8)
    for k in (1, 3, 5):
        assert result[k] == pytest.approx(100.0 * (rank < k).float().mean().item())
    assert accuracy(model, images, labels, mean, std, batch_size=8) == result[1]
    # flip TTA: the mean of the logits of each image and its mirror image
    tta = (logits + normalize(images.flip(3), mean, std).flatten(1) @ weight.T) / 2
    rank = (tta > tta.gather(1, labels[:, None])).sum(1)
    flipped = topk_accuracy(model, images, labels, mean, std, ks=(1, 3, 5), batch_size=8, flip=True)
    for k in (1, 3, 5):
        assert flipped[k] == pytest.approx(100.0 * (rank < k).float().mean().item())
    assert flipped != result  # the mirror images change the scores


def test_evaluate_reports_flip_tta_only_when_asked():
    data = load_split(SAMPLE_DIR, 'test', limit=40, seed=0)
    model = timm.create_model('zerosnet_opt_20', pretrained=True)
    plain, both = evaluate(model, data), evaluate(model, data, flip=True)
    assert (plain.clean, plain.top5) == (both.clean, both.top5) and plain.flip == {} and 'flip' not in plain.to_dict()
    mean, std = model.pretrained_cfg['mean'], model.pretrained_cfg['std']
    expected = topk_accuracy(model, data.images, data.labels, mean, std, ks=(1, 5), flip=True)
    assert both.to_dict()['flip'] == {'clean': expected[1], 'top5': expected[5]}


def _run_checkpoint(path: Path, dataset: str, model_kwargs: list[str]) -> None:
    """A checkpoint with the metadata train/cifar.py writes."""
    cfg = timm.models.get_pretrained_cfg(f'zerosnet_opt_20.{dataset}')
    torch.manual_seed(0)
    model = timm.create_model('zerosnet_opt_20', num_classes=cfg.num_classes, **building.parse_model_kwargs(model_kwargs))
    save_file(model.state_dict(), str(path), metadata={
        'model': 'zerosnet_opt_20', 'model_kwargs': json.dumps(model_kwargs), 'dataset': dataset, 'epochs': '1',
        'init': 'reference', 'mean': json.dumps(list(cfg.mean)), 'std': json.dumps(list(cfg.std))})


def test_eval_takes_model_and_statistics_from_the_run(tmp_path, capsys, monkeypatch):
    built = []
    create_model = building.create_model

    def spy(name, model_kwargs, **kwargs):
        built.append((name, dict(model_kwargs)))
        return create_model(name, model_kwargs, **kwargs)

    monkeypatch.setattr(building, 'create_model', spy)
    path = tmp_path / 'model.safetensors'
    _run_checkpoint(path, 'cifar10', ['lam=-1.2'])
    assert cli.main(['eval', '--checkpoint', str(path), '--limit', '10', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['model'] == 'zerosnet_opt_20.cifar10'
    assert cli.main(['eval', '--model', 'zerosnet_opt_20', '--checkpoint', str(path), '--limit', '10']) == 0
    assert cli.main(['eval', '--model', 'zerosnet_opt_20', '--model-kwargs', 'lam=-2', '--checkpoint', str(path),
                     '--limit', '10']) == 0
    assert built == [('zerosnet_opt_20.cifar10', {'lam': -1.2})] * 2 + [('zerosnet_opt_20.cifar10', {'lam': -2})]

    c100 = tmp_path / 'c100.safetensors'
    _run_checkpoint(c100, 'cifar100', [])
    capsys.readouterr()
    assert cli.main(['eval', '--model', 'zerosnet_opt_20.cifar10', '--checkpoint', str(c100)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert 'was trained with mean [0.5071' in line and 'pass --model without a tag' in line


def test_evaluate_records_each_attack_with_its_settings():
    data = load_split(SAMPLE_DIR, 'test', limit=8)
    torch.manual_seed(0)
    model = timm.create_model('preresnet_20')
    result = evaluate(model, data, ['gaussian0.01'], ['fgsm', 'pgd'], eps=2 / 255, steps=2, batch_size=4)
    assert result.images == 8 and 0 <= result.clean <= result.top5 <= 100 and list(result.noise) == ['gaussian0.01']
    assert result.clean == accuracy(model, data.images, data.labels, model.pretrained_cfg['mean'],
                                    model.pretrained_cfg['std'])
    layout = result.to_dict()
    assert list(layout) == ['images', 'clean', 'top5', 'noise', 'attacks']
    assert layout['attacks'] == {  # FGSM is one step of size eps; PGD's step size is the one used
        'fgsm': {'eps': 2 / 255, 'top1': result.attacks['fgsm'].top1},
        'pgd': {'eps': 2 / 255, 'steps': 2, 'step_size': pytest.approx(2.5 * (2 / 255) / 2),
                'top1': result.attacks['pgd'].top1}}
    assert list(evaluate(model, data, batch_size=4).to_dict()) == ['images', 'clean', 'top5']
    with pytest.raises(ValueError, match="unknown noise or attack 'salt'"):
        evaluate(model, data, ['salt'])
    with pytest.raises(ValueError, match='predicts 100 classes, the data has 10'):
        evaluate(timm.create_model('preresnet_20', num_classes=100), data)
