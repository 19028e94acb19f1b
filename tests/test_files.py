"""What is written to disk is complete or absent, and the weights folder is unambiguous."""

import os
import stat

import pytest

from zerosnet_zoo.files import atomic_dir, atomic_path
from zerosnet_zoo.weights import WeightIntegrityError, packaged_weights

SHA_A, SHA_B = 'a' * 64, 'b' * 64


def test_atomic_path_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / 'record.json'
    target.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('half')
            raise RuntimeError('killed mid-write')
    assert target.read_text() == 'old' and sorted(p.name for p in tmp_path.iterdir()) == ['record.json']
    with atomic_path(target) as tmp:
        tmp.write_text('new')
    assert target.read_text() == 'new' and sorted(p.name for p in tmp_path.iterdir()) == ['record.json']


def test_atomic_dir_is_complete_or_absent_and_leaves_link_targets_alone(tmp_path):
    secret = tmp_path / 'secret'
    secret.write_text('mine')
    secret.chmod(0o600)
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / 'repo') as tmp:
            (tmp / 'a.txt').write_text('a')
            raise RuntimeError('killed mid-export')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['secret']
    with atomic_dir(tmp_path / 'repo') as tmp:
        (tmp / 'a.txt').write_text('a')
        (tmp / 'link').symlink_to(secret)
    assert (tmp_path / 'repo' / 'a.txt').read_text() == 'a'
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600  # the link's target kept its mode


@pytest.mark.parametrize('names, message', [
    ([f'zerosnet_opt_20.cifar10-{SHA_A}.safetensors', f'zerosnet_opt_20.cifar10-{SHA_B}.safetensors'],
     f'2 weights for zerosnet_opt_20.cifar10 \\({SHA_A}, {SHA_B}\\)'),
    (['zerosnet_opt_20.cifar10.safetensors'], 'is not named NAME.TAG-SHA256.safetensors'),
])
def test_an_ambiguous_weights_folder_is_refused(tmp_path, names, message):
    for name in names:
        (tmp_path / name).write_bytes(b'')
    with pytest.raises(WeightIntegrityError, match=message):
        packaged_weights(tmp_path)


def test_packaged_weights_reads_the_file_names(tmp_path):
    for name in (f'preresnet_20.cifar10-{SHA_B}.safetensors', f'zerosnet_opt_20.cifar10-{SHA_A}.safetensors',
                 'zerosnet_opt_20.cifar10.json'):
        (tmp_path / name).write_bytes(b'')
    assert packaged_weights(tmp_path) == {'preresnet_20.cifar10': SHA_B, 'zerosnet_opt_20.cifar10': SHA_A}
