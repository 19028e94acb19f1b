"""train/release.py: a finished run becomes a packaged weight with its provenance and log."""

import json
from pathlib import Path

import pytest

from safetensors.torch import load_file

from train import cifar, release
from zerosnet_zoo import paper
from zerosnet_zoo.data import SAMPLE_DIR
from zerosnet_zoo.weights import packaged_weights
from zerosnet_zoo.weights import WEIGHTS_DIR, sha256_of

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(tmp_path) -> Path:
    """A CIFAR-10 root whose train/ and test/ are both the shipped test images."""
    root = tmp_path / 'data'
    root.mkdir()
    for split in ('train', 'test'):
        (root / split).symlink_to(SAMPLE_DIR / 'test', target_is_directory=True)
    return root


def test_release_packages_a_finished_run(data, tmp_path, capsys):
    run = tmp_path / 'run'
    assert cifar.main(['--model', 'preresnet_20', '--data-dir', str(data), '--epochs', '1', '--batch-size', '100',
                       '--schedule', 'cosine', '--output', str(run)]) == 0
    weights = tmp_path / 'weights'
    assert release.main(['--run', str(run), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '20', '--weights-dir', str(weights)]) == 0
    sha = sha256_of(run / 'model.safetensors')
    printed = capsys.readouterr().out
    assert '"name": "preresnet_20.cifar10"' in printed
    assert 'PACKAGED_WEIGHTS' not in printed  # the package finds a released weight by its files
    packaged = weights / f'preresnet_20.cifar10-{sha}.safetensors'
    assert load_file(str(packaged)).keys() == load_file(str(run / 'model.safetensors')).keys()
    log = [json.loads(line) for line in (run / 'log.jsonl').read_text().splitlines()]
    shipped_log = (weights / 'preresnet_20.cifar10.log.jsonl').read_text().splitlines()
    assert [json.loads(line) for line in shipped_log] == [{**line, 'stage': 1} for line in log]
    record = json.loads((weights / 'preresnet_20.cifar10.json').read_text())
    assert record['sha256'] == sha and record['epochs'] == 1 and record['hardware'] == 'test machine'
    assert [s['epochs'] for s in record['stages']] == [1] and record['stages'][0]['recipe']['lr'] == 0.1
    assert record['test']['images'] == 500 and 0 <= record['test']['top1'] <= record['test']['top5'] <= 100
    assert 0 <= record['test_flip']['top1'] <= record['test_flip']['top5'] <= 100
    assert record['eval_command'].endswith('--flip --robustness')
    assert len(record['noise']) == 6 and set(record['attacks']) == {'fgsm', 'pgd'}
    assert set(record['attacks']['fgsm']) == {'eps', 'top1', 'images'}  # one step: no step count
    assert record['attacks']['pgd']['images'] == 20 and record['attacks']['pgd']['steps'] == 10
    # the paper's CIFAR-10 baseline at depth 20 is He et al.'s ResNet quoted from Lu et al., not a PreResNet run
    assert record['paper'] == {'top1': 91.25, 'table': 'Table 4, CIFAR-10', 'row': 'ResNet†',
                               'source': 'He et al. 2016, quoted by the paper from Lu et al. 2018',
                               'note': paper.table_4('preresnet_20').note}
    assert record['command'].startswith('python train/cifar.py --model preresnet_20 --data-dir DATA ')
    assert '--epochs 1 ' in record['command'] and '--schedule cosine' in record['command']
    assert str(data) not in json.dumps(record) and record['stages'][0]['recipe']['data_dir'] == 'DATA'
    # --remeasure: a record from before flip TTA was measured gets its metrics back, its training story untouched
    older = {k: v for k, v in record.items() if k != 'test_flip'}
    (weights / 'preresnet_20.cifar10.json').write_text(json.dumps({**older, 'noise': {}}))
    remeasure = ['--remeasure', '--name', 'preresnet_20.cifar10', '--data-dir', str(data), '--attack-images', '20',
                 '--weights-dir', str(weights)]
    assert release.main(remeasure) == 0
    assert json.loads((weights / 'preresnet_20.cifar10.json').read_text()) == record
    with pytest.raises(SystemExit, match='zerosnet_opt_20.cifar10 is not released'):
        release.main([*remeasure[:2], 'zerosnet_opt_20.cifar10', *remeasure[3:]])
    packaged.write_bytes(packaged.read_bytes()[:100])
    with pytest.raises(SystemExit, match='does not match the sha256'):
        release.main(remeasure)
    card = tmp_path / 'MODEL_CARD.md'
    card.write_text(f'# card\n{release.BEGIN}\nSTALE SECTION\n{release.END}\n## Limitations\n')
    release.update_model_card(card, weights)
    text = card.read_text()
    assert 'STALE SECTION' not in text and text.endswith(f'{release.END}\n## Limitations\n')
    flip = f"{record['test_flip']['top1']:.2f} / {record['test_flip']['top5']:.2f}"
    assert (f"| `preresnet_20.cifar10` | {record['test']['top1']:.2f} | {record['test']['top5']:.2f} | {flip} | 1 | "
            f"one run, seed 0 | ") in text
    # the curves drawn from the released log, shown in the card
    assert (weights / 'cifar10-depth20-curves.png').read_bytes().startswith(b'\x89PNG')
    assert '![CIFAR-10 (JPEG q75), depth 20: test top-1 per epoch](zerosnet_zoo/weights/cifar10-depth20-curves.png)' in text
    assert '| 91.25: ResNet† (He et al. 2016, quoted by the paper from Lu et al. 2018) |' in text
    assert '- ResNet†: He et al. 2016, quoted by the paper from Lu et al. 2018; the original post-activation' in text
    assert f"| gaussian0.04 | {record['noise']['gaussian0.04']:.2f} | 74.49 |" in text
    assert '| FGSM eps=0.03137, one step (20 images) |' in text


def test_model_card_and_curves_match_the_shipped_records(tmp_path):
    records = [json.loads(p.read_text()) for p in sorted(WEIGHTS_DIR.glob('*.json'))]
    assert sorted(r['name'] for r in records) == sorted(packaged_weights())
    for name in [r['name'] for r in records]:  # the curves, redrawn from copies of the shipped logs
        (tmp_path / f'{name}.log.jsonl').write_bytes((WEIGHTS_DIR / f'{name}.log.jsonl').read_bytes())
    drawn = release.curve_plots(records, tmp_path)
    assert sorted(p.name for p in drawn.values()) == sorted(p.name for p in WEIGHTS_DIR.glob('*-curves.png'))
    assert all(path.read_bytes().startswith(b'\x89PNG') for path in drawn.values())
    assert release.render_shipped_weights(records, drawn) in (REPO / 'MODEL_CARD.md').read_text()


@pytest.mark.parametrize('name_tag', sorted(packaged_weights()))
def test_shipped_records_say_what_happened(name_tag):
    record = json.loads((WEIGHTS_DIR / f'{name_tag}.json').read_text())
    assert 'steps' not in record['attacks']['fgsm'] and 'step_size' not in record['attacks']['fgsm']
    stages = record['stages']
    # every warm restart names the earlier stage's weight as released, by NAME.TAG and sha256
    for i, stage in enumerate(stages[1:], start=1):
        assert stage['recipe']['init_from'] == {'stage': i, 'weight': name_tag,
                                                'sha256': stage['recipe']['init_from']['sha256']}
    assert len({s['recipe']['init_from']['sha256'] for s in stages[1:]} | {record['sha256']}) == len(stages)
    assert [s['command'] for s in stages] == release.train_commands(stages)
    assert record['command'] == ' && '.join(release.train_commands(stages))
    assert record['paper'] == release.paper_reference(record['model'])
    card = (REPO / 'MODEL_CARD.md').read_text()
    seeds = ', '.join(str(s['recipe']['seed']) for s in stages)
    assert f"| one run in {len(stages)} stages, seeds {seeds} |" in card


def test_fast_recipe_command_spells_out_every_value():
    recipe = {'model': 'zerosnet_opt_20', 'recipe': 'fast', **cifar.RECIPES['fast'], 'seed': 0, 'output': 'runs/z20',
              'channels_last': True, 'init': 'reference'}  # in args.json's order
    command = release.train_commands([{'recipe': recipe}])[0]
    assert command == ('python train/cifar.py --model zerosnet_opt_20 --data-dir DATA --recipe fast --epochs 36 '
                       '--batch-size 128 --lr 0.4 --momentum 0.9 --weight-decay 0.0005 --schedule onecycle '
                       '--warmup-fraction 0.25 --label-smoothing 0.1 --flip random --seed 0 --nesterov '
                       '--channels-last --output runs/z20')
    args = cifar.parse_args(command.split()[2:])  # the command rebuilds the recipe
    assert {k: getattr(args, k) for k in cifar.RECIPES['fast']} == cifar.RECIPES['fast']
    summary = release.training_summary({'epochs': 36, 'stages': [{'recipe': recipe, 'epochs': 36}]})
    assert summary == ("from the reference code's random initialization (Kaiming normal): SGD (Nesterov momentum 0.9), "
                       'peak lr 0.4 on one cycle (warm-up over 25% of the steps, then annealing to about 0: '
                       "torch's OneCycleLR), weight decay 0.0005, batch 128, 36 epochs, seed 0, label smoothing 0.1; "
                       'random crop 32 (padding 4) and horizontal flip')
    amp = release.training_summary({'epochs': 36, 'stages': [{'recipe': {**recipe, 'amp': True, 'device': 'cpu'},
                                                               'epochs': 36}]})
    assert amp == summary.replace('label smoothing 0.1;', 'label smoothing 0.1, mixed precision (bfloat16 autocast);')
    on_gpu = release.training_summary({'epochs': 36, 'stages': [{'recipe': {**recipe, 'amp': True, 'device': 'cuda:0'},
                                                                  'epochs': 36}]})
    assert on_gpu == amp.replace('bfloat16', 'float16')
    alternating = release.training_summary({'epochs': 36, 'stages': [{'recipe': {**recipe, 'flip': 'alternating'},
                                                                       'epochs': 36}]})
    assert alternating == summary.replace('label smoothing 0.1;', 'label smoothing 0.1, the horizontal flip alternating '
                                          '(each image mirrored in every other epoch);')


@pytest.mark.parametrize('flags', [
    ['--recipe', 'fast', '--no-nesterov', '--label-smoothing', '0', '--train-subset', '100', '--amp'],
    ['--recipe', 'fast', '--ema-decay', '0.99', '--test-subset', '50'],
    ['--nesterov', '--label-smoothing', '0.2', '--schedule', 'onecycle', '--warmup-fraction', '0.3'],
    ['--epochs', '4', '--swa-epochs', '2', '--swa-lr', '0.01'],
])
def test_command_rebuilds_every_value_of_the_run(flags):
    """Overrides of a preset's values, in either direction, survive into the recorded command."""
    base = ['--model', 'preresnet_20', '--data-dir', 'DATA', '--output', 'runs/p20']
    recipe = {**vars(cifar.parse_args([*base, *flags])), 'init': 'reference'}  # as args.json holds it
    command = release.train_commands([{'recipe': recipe}])[0].split()
    assert command[:2] == ['python', 'train/cifar.py']
    rebuilt = vars(cifar.parse_args(command[2:]))
    for key in (*cifar.RUN_FLAGS, 'amp', 'channels_last'):
        assert rebuilt[key] == recipe[key], key


def test_release_refuses_a_run_of_another_fixed_scheme(data, tmp_path):
    """A published weight loads without --model-kwargs, so it must be its name's default network."""
    run = tmp_path / 'run'
    assert cifar.main(['--model', 'preresnet_20', '--model-kwargs', 'alpha=0.5', '--data-dir', str(data),
                       '--epochs', '1', '--batch-size', '100', '--output', str(run)]) == 0
    weights = tmp_path / 'weights'
    with pytest.raises(SystemExit, match='with --model-kwargs alpha=0.5, but preresnet_20.cifar10 is loaded without'):
        release.main(['--run', str(run), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                      '--hardware', 'test machine', '--weights-dir', str(weights)])
    assert not weights.exists()


@pytest.mark.parametrize('name, recorded, message', [
    ('zerosnet_opt_20.cifar10', 'cifar10', 'trained preresnet_20, not zerosnet_opt_20.cifar10'),
    ('preresnet_20', 'cifar10', 'as preresnet_20.cifar10, .* and --name is preresnet_20$'),
    ('preresnet_20.cifar100', 'cifar10', 'and --name is preresnet_20.cifar100$'),
    ('preresnet_20.cifar10', 'cifar100', 'trained on cifar100 and --name'),
])
def test_release_publishes_only_cifar10_runs_under_their_own_name(data, tmp_path, name, recorded, message):
    """The card measures on CIFAR-10 and quotes the paper's CIFAR-10 column: nothing else is released,
    and no file is written that the package could not load."""
    run = tmp_path / 'run'
    assert cifar.main(['--model', 'preresnet_20', '--data-dir', str(data), '--train-subset', '100', '--epochs', '1',
                       '--batch-size', '100', '--output', str(run)]) == 0
    args = json.loads((run / 'args.json').read_text())
    (run / 'args.json').write_text(json.dumps({**args, 'dataset': recorded}))
    weights = tmp_path / 'weights'
    with pytest.raises(SystemExit, match=message):
        release.main(['--run', str(run), '--name', name, '--data-dir', str(data), '--hardware', 'test machine',
                      '--weights-dir', str(weights)])
    assert not weights.exists()


def test_start_record_names_a_released_weight_or_the_command(tmp_path):
    start = tmp_path / 'run' / 'model.safetensors'
    start.parent.mkdir()
    start.write_bytes(b'weights of stage 1')
    weights = tmp_path / 'weights'
    weights.mkdir()
    sha = sha256_of(start)
    assert release.start_record(start, 1, 'python train/cifar.py ...', weights) == \
        {'stage': 1, 'command': 'python train/cifar.py ...', 'sha256': sha}
    (weights / 'preresnet_20.cifar10.json').write_text(json.dumps({'name': 'preresnet_20.cifar10', 'sha256': sha}))
    assert release.start_record(start, 1, 'python train/cifar.py ...', weights) == \
        {'stage': 1, 'weight': 'preresnet_20.cifar10', 'sha256': sha}


def test_release_of_a_warm_restart_records_every_stage(data, tmp_path, capsys):
    first, second = tmp_path / 'first', tmp_path / 'second'
    common = ['--model', 'preresnet_20', '--data-dir', str(data), '--batch-size', '250', '--schedule', 'cosine']
    assert cifar.main([*common, '--epochs', '1', '--output', str(first)]) == 0
    assert cifar.main([*common, '--epochs', '2', '--lr', '0.05', '--seed', '1',
                       '--init-from', str(first / 'model.safetensors'), '--output', str(second)]) == 0
    weights = tmp_path / 'weights'
    assert release.main(['--run', str(second), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '10', '--weights-dir', str(weights)]) == 0
    record = json.loads((weights / 'preresnet_20.cifar10.json').read_text())
    assert record['epochs'] == 3 and [s['epochs'] for s in record['stages']] == [1, 2]
    assert [s['recipe']['lr'] for s in record['stages']] == [0.1, 0.05]
    first_command, second_command = record['command'].split(' && ')
    # the commands name the run folders runs/NAME, not the paths of the machine that trained them
    assert first_command.endswith(' --output runs/first') and '--init-from' not in first_command
    assert second_command.endswith(' --init-from runs/first/model.safetensors --output runs/second')
    assert str(tmp_path) not in json.dumps(record)
    # the first run was never released: the second names it by the command that made it
    assert record['stages'][1]['recipe']['init_from'] == {'stage': 1, 'command': first_command,
                                                          'sha256': sha256_of(first / 'model.safetensors')}
    logs = [json.loads(line) for line in (weights / 'preresnet_20.cifar10.log.jsonl').read_text().splitlines()]
    assert [(line['stage'], line['epoch']) for line in logs] == [(1, 1), (2, 1), (2, 2)]
    assert record['final_epoch'] == logs[-1]
    summary = release.training_summary(record)
    assert summary.startswith("3 epochs in all; stage 1, from the reference code's random initialization")
    assert 'stage 2, a warm restart from the weights of stage 1: SGD (momentum 0.9), lr 0.05' in summary

    # A third stage, with weight averaging, continued from the released file takes the first two over
    # from its record.
    released = next(weights.glob('preresnet_20.cifar10-*.safetensors'))
    third, weights3 = tmp_path / 'third', tmp_path / 'weights3'
    assert cifar.main([*common, '--epochs', '2', '--lr', '0.02', '--seed', '2', '--swa-epochs', '1',
                       '--swa-lr', '0.01', '--init-from', str(released), '--output', str(third)]) == 0
    assert release.main(['--run', str(third), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '10', '--weights-dir', str(weights3)]) == 0
    record3 = json.loads((weights3 / 'preresnet_20.cifar10.json').read_text())
    assert record3['stages'][:2] == record['stages'] and record3['stages'][2]['recipe']['lr'] == 0.02
    assert record3['stages'][2]['recipe']['init_from'] == {'stage': 2, 'weight': 'preresnet_20.cifar10',
                                                           'sha256': record['sha256']}
    assert 'stage 3, a warm restart from the weights of stage 2, released as `preresnet_20.cifar10`' in \
        release.training_summary(record3)
    assert record3['command'].startswith(record['command'] + ' && ') \
        and record3['command'].endswith(' --init-from runs/second/model.safetensors --output runs/third')
    # the command given for the third stage parses back into its recipe
    command = record3['command'].split(' && ')[-1].split()
    assert command[:2] == ['python', 'train/cifar.py']
    parsed, recipe = vars(cifar.parse_args(command[2:])), record3['stages'][2]['recipe']
    for key in ('epochs', 'batch_size', 'lr', 'momentum', 'weight_decay', 'schedule', 'seed', 'swa_epochs', 'swa_lr'):
        assert parsed[key] == recipe[key], key
    assert 'the last 1 epochs at lr 0.01 with their weights averaged' in release.training_summary(record3)
    logs3 = [json.loads(line) for line in (weights3 / 'preresnet_20.cifar10.log.jsonl').read_text().splitlines()]
    assert logs3[:3] == logs and [(line['stage'], line['epoch']) for line in logs3[3:]] == [(3, 1), (3, 2)]
    with pytest.raises(SystemExit, match='neither in a train/cifar.py run'):
        release.released_stages(first / 'model.safetensors')

    # Released over the weight it continued from: the old file goes, once the new one is in place.
    assert release.main(['--run', str(third), '--name', 'preresnet_20.cifar10', '--data-dir', str(data),
                         '--hardware', 'test machine', '--attack-images', '10', '--weights-dir', str(weights)]) == 0
    assert [p.name for p in weights.glob('preresnet_20.cifar10-*.safetensors')] == \
        [f"preresnet_20.cifar10-{record3['sha256']}.safetensors"]
    assert json.loads((weights / 'preresnet_20.cifar10.json').read_text())['sha256'] == record3['sha256']


def test_init_from_must_fit_the_model(data, tmp_path):
    common = ['--data-dir', str(data), '--epochs', '1', '--train-subset', '50', '--test-subset', '50']
    with pytest.raises(SystemExit, match=r'--init-from: .*missing\.safetensors not found'):
        cifar.main(['--model', 'preresnet_20', *common, '--init-from', str(tmp_path / 'missing.safetensors'),
                    '--output', str(tmp_path / 'a')])
    assert cifar.main(['--model', 'preresnet_20', *common, '--output', str(tmp_path / 'b')]) == 0
    with pytest.raises(SystemExit, match='does not fit'):
        cifar.main(['--model', 'zerosnet_opt_20', *common, '--init-from', str(tmp_path / 'b' / 'model.safetensors'),
                    '--output', str(tmp_path / 'c')])
