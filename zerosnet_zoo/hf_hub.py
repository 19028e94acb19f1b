"""Hugging Face Hub repositories for pretrained weights: export, model card, push.

A repository is what timm's ``save_for_hf`` writes (``config.json``, ``model.safetensors``)
plus ``training_curves.png`` (when the package has the weight's curves) and a ``README.md`` model card rendered by timm's ``generate_readme`` from the weight's
provenance record (``zerosnet_zoo.weights.provenance``).  It loads back with
``timm.create_model('local-dir:DIR', pretrained=True)`` or ``'hf-hub:ORG/NAME.TAG'``
(after ``import zerosnet_zoo``, which registers the architecture).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import timm
from timm.models import resolve_pretrained_cfg, split_model_name_tag
from timm.models._hub import generate_readme, save_for_hf

from . import paper, stability
from .benchmark import model_stats
from .building import checkpoint_model
from .files import atomic_dir
from .models import MultistepResNet
from .provenance import seeds_summary, training_summary
from .weights import HF_ORGANIZATION, curves_file, provenance

__all__ = ['export', 'model_card', 'push']

CURVES = 'training_curves.png'  # the picture's name in a Hub repository


def model_card(name_tag: str, model: MultistepResNet, record: dict | None, repo_id: str) -> dict:
    """timm's ``generate_readme`` fields for a weight; ``record`` is its provenance (or None)."""
    stats = model_stats(model)
    details = {
        'Model Type': 'Image classification',
        'Model Stats': {'Params (M)': f"{stats['params'] / 1e6:.3f}", 'GMACs': f"{stats['macs'] / 1e9:.4f}",
                        'Image size': f"{stats['input_size'][1]} x {stats['input_size'][2]}"},
        'Multistep scheme': [stability.analyze(*s).summary() for s in dict.fromkeys(model.schemes())],
        'Papers': [f'{paper.TITLE} ({paper.VENUE})'],
        'Original': f'{paper.REFERENCE_CODE} (architecture; no weights were published)',
    }
    authors = ', '.join(a.split()[-1] for a in paper.AUTHORS)
    description = (f'{name_tag}: a multistep ResNet from the ZeroSNet paper ({authors}, {paper.VENUE}), '
                   f'packaged by zerosnet-zoo for timm.')
    comparison = 'No metrics were recorded for these weights.\n'
    if record is not None:
        details['Dataset'] = 'cifar10'  # the Hub's dataset id; the copy used is named under 'Data'
        details['Data'] = (f"{record['dataset']}: CIFAR-10 re-encoded as JPEG quality 75 in ImageFolder layout "
                           '(`train/`, `test/`), not the lossless original')
        details['Training'] = {
            'Recipe': training_summary(record),
            'Command': f"`{record['command']}` (DATA: the CIFAR-10 ImageFolder root, `train/` and `test/`)",
            'Hardware': record['hardware'],
            'Wall time': f"{record['train_seconds'] / 3600:.2f} h",
        }
        details['Weights sha256'] = record['sha256']
        description += f" Trained from scratch on {record['dataset']} with zerosnet-zoo's `train/cifar.py`."
        comparison = _metrics_table(record)
    usage = (
        '```python\n'
        'import timm, torch\n'
        'import zerosnet_zoo  # registers the ZeroSNet architectures with timm\n\n'
        f"model = timm.create_model('hf-hub:{repo_id}', pretrained=True).eval()\n"
        f"# the same weights ship inside the package: timm.create_model('{name_tag}', pretrained=True)\n"
        'cfg = timm.data.resolve_data_config({}, model=model)\n'
        'transform = timm.data.create_transform(**cfg)\n'
        'with torch.no_grad():\n'
        '    probabilities = model(transform(image).unsqueeze(0)).softmax(-1)  # image: a 32x32 PIL image\n'
        '```\n')
    return {'description': description, 'details': details, 'usage': usage, 'comparison': comparison,
            'citation': paper.CITATION, 'license': 'mit', 'tags': ['image-classification', 'timm', 'zerosnet']}


def _metrics_table(record: dict) -> str:
    test, reported = record['test'], record.get('paper') or {}
    rows = [('clean top-1', test['top1'], reported.get('top1')), ('clean top-5', test['top5'], None)]
    if 'test_flip' in record:
        rows += [('clean top-1, flip TTA', record['test_flip']['top1'], None),
                 ('clean top-5, flip TTA', record['test_flip']['top5'], None)]
    rows += [(f'noise {name}', value, None) for name, value in record.get('noise', {}).items()]
    rows += [(f"{name.upper()} eps={a['eps']:.4g}" + (f", {a['steps']} steps" if 'steps' in a else ', one step')
              + f" ({a['images']} images)", a['top1'], None)
             for name, a in record.get('attacks', {}).items()]
    text = (f"Measured on the {test['images']:,} test images of {record['dataset']} (`{record['eval_command']}`, "
            f'DATA being that folder). Trained as {seeds_summary(record)}: a single sample, not a mean over '
            'independent runs.')
    if reported:
        text += (f" The paper column quotes the paper's {reported['table']} (on the original lossless images): "
                 f"{reported['row']} ({reported['source']})" + (f"; {reported['note']}" if reported['note'] else '')
                 + '.')
    text += '\n\n| metric | this weight (%) | paper (%) |\n|---|---|---|\n'
    text += ''.join(f"| {n} | {v:.2f} | {'' if p is None else f'{p:.2f}'} |\n" for n, v, p in rows)
    if curves_file(record['name']).is_file():
        text += (f'\nTest top-1 after every epoch of training, beside the other weights of depth '
                 f"{record['model'].rpartition('_')[2]} (a dashed line or a star: the weight average the run "
                 f'outputs):\n\n![test top-1 per epoch]({CURVES})\n')
    return text


def _load(name_tag: str, checkpoint: str | os.PathLike | None) -> tuple[MultistepResNet, dict, dict | None]:
    """The model, the keyword arguments it is built with beyond its name, and the weight's provenance."""
    name, tag = split_model_name_tag(name_tag)
    if not tag:
        raise ValueError(f'name a pretrained tag, e.g. {name}.cifar10, not {name_tag!r}')
    if checkpoint is None:
        return timm.create_model(name_tag, pretrained=True).eval(), {}, provenance(name_tag)
    # built as the run recorded it (a scheme such as lam=-1.2 lives in no tensor), checked against the tag's statistics
    model, _, _, kwargs = checkpoint_model(checkpoint, name_tag)
    return model.eval(), kwargs, None


def _repo_id(name_tag: str, repo_id: str | None) -> str:
    """The given id, else the cfg's Hub copy, else where this project would publish the weight."""
    name, tag = split_model_name_tag(name_tag)
    return repo_id or resolve_pretrained_cfg(name, pretrained_cfg=tag).hf_hub_id or f'{HF_ORGANIZATION}/{name_tag}'


def export(name_tag: str, out_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
           repo_id: str | None = None) -> Path:
    """Write a Hub repository for ``name_tag`` (its packaged weight, or ``checkpoint``) to ``out_dir``.

    ``out_dir`` must be new or empty; it is assembled beside and renamed into place (complete or absent).
    """
    model, model_args, record = _load(name_tag, checkpoint)
    card = model_card(name_tag, model, record, _repo_id(name_tag, repo_id))
    with atomic_dir(out_dir) as tmp:
        save_for_hf(model, tmp, model_args=model_args or None, safe_serialization=True)
        (tmp / 'README.md').write_text(generate_readme(card, name_tag), encoding='utf-8')
        if record is not None and curves_file(name_tag).is_file():
            shutil.copyfile(curves_file(name_tag), tmp / CURVES)
    return Path(out_dir)


def push(name_tag: str, repo_id: str | None = None, checkpoint: str | os.PathLike | None = None,
         token: str | None = None, private: bool = False) -> str:
    """Export ``name_tag`` and upload it to the Hub repository ``repo_id``; returns the commit URL."""
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise RuntimeError('no Hugging Face token: log in with `hf auth login`, or set HF_TOKEN')
    with tempfile.TemporaryDirectory() as tmp:
        repo_id = _repo_id(name_tag, repo_id)
        folder = export(name_tag, Path(tmp) / 'repo', checkpoint, repo_id)
        api = HfApi(token=token, library_name='zerosnet-zoo')
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            commit = api.upload_folder(repo_id=repo_id, folder_path=folder,
                                       commit_message=f'Add {name_tag} weights from zerosnet-zoo')
        except Exception as e:  # the HTTP library under huggingface_hub varies by version; name the failure
            raise RuntimeError(f'could not upload to the Hugging Face Hub repository {repo_id} '
                               f'({type(e).__name__}: {e}); check the network and the token') from e
    return str(getattr(commit, 'commit_url', commit))
