"""The ``zerosnet-zoo`` command line (also ``python -m zerosnet_zoo``)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from typing import Any, Mapping, Sequence

from . import stability
from .data import SAMPLE_DIR, load_split
from .evaluate import EPS, NOISES, PGD_STEPS, evaluate


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected comma-separated numbers, got {text!r}') from None


def _cmd_roots(args: argparse.Namespace) -> int:
    if (args.alphas is None) == (args.lam is None):
        raise SystemExit('zerosnet-zoo roots: give exactly one of --alphas=A0,A1,... or --lam=L')
    if args.lam is not None:
        if args.beta is not None:
            raise SystemExit('zerosnet-zoo roots: --beta goes with --alphas; --lam fixes beta itself')
        alphas, beta = stability.zerosnet_coefficients(args.lam)
    else:
        alphas, beta = args.alphas, args.beta
    report = stability.analyze(alphas, beta, tol=args.tol)
    if args.plot:
        from .plots import plot_roots
        plot_roots(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(f"alphas: {', '.join(f'{a:.6g}' for a in report.alphas)}" +
          (f'   beta: {report.beta:.6g}' if report.beta is not None else ''))
    print(f"{'root':>24}  {'modulus':>9}")
    for r, m in zip(report.roots, report.moduli):
        print(f'{r.real:>11.6f} {r.imag:+.6f}j  {m:9.6f}')
    print(f"zero-stable: {'yes' if report.zero_stable else 'no'}")
    if report.consistent is not None:
        print(f"consistent:  {'yes' if report.consistent else 'no'}")
    for reason in report.reasons:
        print(f'  - {reason}')
    if args.plot:
        print(f'plot written to {args.plot}')
    return 0


def _cmd_lambdas(args: argparse.Namespace) -> int:
    intervals = stability.zero_stable_lambda_set()
    opt = stability.optimal_lambda()
    opt_scheme = stability.zerosnet_coefficients(opt)
    result = {
        'zero_stable_set': [
            {'low': lo, 'high': hi, 'low_closed': lc, 'high_closed': hc} for lo, hi, lc, hc in intervals],
        'optimal_lambda': opt,
        'optimal_alphas': list(opt_scheme.alphas),
        'optimal_beta': opt_scheme.beta,
        'optimal_max_parasitic_modulus': stability.max_parasitic_modulus(opt_scheme.alphas),
    }
    if args.plot:
        from .plots import plot_lambda_sweep
        plot_lambda_sweep(args.plot)
    if args.json:
        print(json.dumps(result))
        return 0
    text = ' U '.join(f"{'[' if lc else '('}{lo:.6g}, {hi:.6g}{']' if hc else ')'}" for lo, hi, lc, hc in intervals)
    print(f'ZeroSNet is zero-stable for lambda in {text}')
    print(f'optimal lambda: {opt:.6g} -> alphas {", ".join(f"{a:.6g}" for a in opt_scheme.alphas)}, '
          f'beta {opt_scheme.beta:.6g}, parasitic |root| {result["optimal_max_parasitic_modulus"]:.6g}')
    if args.plot:
        print(f'plot written to {args.plot}')
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from .benchmark import model_stats  # (imports the models, which registers them)

    model = create_model(args.model, parse_model_kwargs(args.model_kwargs)).eval()
    cfg = model.pretrained_cfg
    size = cfg['input_size']
    with torch.no_grad():
        out = model(torch.randn(args.batch_size, *size))
    stats = model_stats(model)
    print(f"{args.model}: {stats['params']:,} parameters, {stats['macs'] / 1e6:,.2f} M multiply-accumulates "
          f"per image, input {tuple(size)}, output {tuple(out.shape)}")
    for i, scheme in enumerate(dict.fromkeys(model.schemes())):
        report = stability.analyze(scheme.alphas, scheme.beta)
        print(f"  scheme {i}: alphas {', '.join(f'{a:.4g}' for a in scheme.alphas)}, beta {scheme.beta:.4g}; "
              f"root moduli {', '.join(f'{m:.3f}' for m in report.moduli)}; "
              f"zero-stable: {'yes' if report.zero_stable else 'no'}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if (args.checkpoint is None) == (not args.pretrained):
        raise SystemExit('zerosnet-zoo eval: give exactly one of --checkpoint PATH or --pretrained')
    if args.checkpoint is not None:
        model, name, dataset = checkpoint_model(args.checkpoint, args.model, args.model_kwargs, args.dataset)
    else:
        if args.model is None:
            raise SystemExit('zerosnet-zoo eval: --pretrained needs --model NAME.TAG')
        name, dataset = args.model, args.dataset or 'cifar10'
        model = create_model(name, parse_model_kwargs(args.model_kwargs or []), pretrained=True)
    data_dir = SAMPLE_DIR if args.data_dir is None else args.data_dir
    data = load_split(data_dir, 'test', dataset, args.limit, seed=0, workers=args.workers)
    evaluation = evaluate(model, data, NOISES if args.robustness else (), [args.attack] if args.attack else (),
                          eps=args.eps, steps=args.steps, step_size=args.step_size, batch_size=args.batch_size,
                          device=args.device, flip=args.flip)
    if args.json:
        print(json.dumps({'model': name, 'data_dir': str(data_dir), **evaluation.to_dict()}))
        return 0
    source = 'the CIFAR-10 (JPEG q75) test sample shipped with zerosnet-zoo' if args.data_dir is None else data_dir
    print(f"{name} on {len(data)} test images of {source}")
    print(f"{'setting':<22} {'top-1 %':>8}")
    print(f"{'clean':<22} {evaluation.clean:8.2f}   (top-5 {evaluation.top5:.2f})")
    if evaluation.flip:
        print(f"{'clean, flip TTA':<22} {evaluation.flip['clean']:8.2f}   (top-5 {evaluation.flip['top5']:.2f})")
    for noise, top1 in evaluation.noise.items():
        print(f"{noise:<22} {top1:8.2f}")
    for attack, result in evaluation.attacks.items():
        print(f"{attack + f' eps={result.eps:.4g}':<22} {result.top1:8.2f}")
    return 0


def checkpoint_model(checkpoint: str | os.PathLike, model: str | None = None,
                     model_kwargs: Sequence[str] | None = None, dataset: str | None = None) -> tuple[Any, str, str]:
    """The model of a checkpoint with its weights loaded, its timm name, and the data set to test it on.

    ``checkpoint`` is a .safetensors file or a train/cifar.py run directory; ``model``,
    ``model_kwargs`` (``K=V`` strings) and ``dataset`` are ``eval``'s --model, --model-kwargs and
    --dataset.  train/cifar.py records the model, its --model-kwargs, the data set and the
    normalization in the file's metadata.  They fill in what is left out, so a CIFAR-100 run is
    built as NAME.cifar100 and evaluated with the statistics it was trained with.
    """
    from timm.models import split_model_name_tag

    from .checkpoints import checkpoint_file, describe_mismatch, safetensors_header

    path = checkpoint_file(checkpoint)
    metadata, shapes = safetensors_header(path)
    trained = metadata.get('model')
    name = model or trained
    if name is None:
        raise ValueError(f'{path} does not record its model (no train/cifar.py metadata); pass --model NAME')
    items = model_kwargs
    if items is None:  # the run's own --model-kwargs, when it is the same architecture
        same_arch = trained is not None and split_model_name_tag(trained)[0] == split_model_name_tag(name)[0]
        items = json.loads(metadata.get('model_kwargs', '[]')) if same_arch else []
    kwargs = parse_model_kwargs(items)
    if 'dataset' in metadata:
        name = dataset_model_name(name, metadata['dataset'])
    head = shapes['head.fc.weight'][0] if 'head.fc.weight' in shapes else None
    timm_kwargs = dict(num_classes=head) if head is not None else {}
    try:
        loaded = create_model(name, kwargs, pretrained=True, **timm_kwargs,
                              pretrained_cfg_overlay=dict(file=str(path), **timm_kwargs))
    except RuntimeError as e:
        if not str(e).startswith('Error(s) in loading state_dict'):
            raise
        # torch lists every key over many lines; measure the mismatch and say it in one
        bare = create_model(name, kwargs, **timm_kwargs)
        problem = describe_mismatch({k: tuple(v.shape) for k, v in bare.state_dict().items()}, shapes)
        if problem is None:  # the keys fit, so something else failed: not a mismatch to report
            raise
        origin = f' (it holds {trained})' if trained else ''
        raise ValueError(f'{path}{origin} does not fit {name}: {problem}; pass the --model and --model-kwargs '
                         'it was trained with') from None
    if 'mean' in metadata:
        trained_stats = json.loads(metadata['mean']), json.loads(metadata['std'])
        stats = list(loaded.pretrained_cfg['mean']), list(loaded.pretrained_cfg['std'])
        if trained_stats != stats:
            raise ValueError(f'{path} was trained with mean {trained_stats[0]}, std {trained_stats[1]}, but {name} '
                             f'normalizes with mean {stats[0]}, std {stats[1]}; pass --model without a tag')
    return loaded, name, dataset or metadata.get('dataset', 'cifar10')


def _cmd_export(args: argparse.Namespace) -> int:
    from .hf_hub import export

    out = export(args.name, args.out, args.checkpoint, args.repo_id)
    print(f"Hub repository for {args.name} written to {out}; load it with "
          f"timm.create_model('local-dir:{out}', pretrained=True) after import zerosnet_zoo")
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from .hf_hub import push

    url = push(args.name, args.repo_id, args.checkpoint, args.token, args.private)
    print(f'{args.name} uploaded: {url}')
    return 0


def parse_model_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """``K=V`` strings (``--model-kwargs``) -> keyword arguments for ``timm.create_model``.

    A value is read as ``true``/``false`` -> bool and ``none`` -> None (any case), an integer
    literal -> int, any other number -> float, comma-separated numbers -> a tuple, else a str.
    A tuple holds ints only when every item is an integer literal, otherwise floats, so
    ``coefficients=1,0.5,0,1`` gives four floats.  Raises ValueError for an item without ``=``,
    a key that is not a Python name, or a key given twice.
    """
    kwargs = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key.isidentifier():
            raise ValueError(f'--model-kwargs expects KEY=VALUE with KEY a Python name, got {item!r}')
        if key in kwargs:
            raise ValueError(f'--model-kwargs gives {key} twice; keep one')
        kwargs[key] = _parse_value(value)
    return kwargs


def _parse_value(text: str) -> Any:
    words = {'true': True, 'false': False, 'none': None}
    if text.lower() in words:
        return words[text.lower()]
    numbers = [_number(part) for part in text.split(',')]
    if any(n is None for n in numbers):
        return text
    if len(numbers) == 1:
        return numbers[0]
    return tuple(numbers) if all(isinstance(n, int) for n in numbers) else tuple(float(n) for n in numbers)


def _number(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None


def check_model_name(name: str) -> None:
    """Raise a one-line ValueError unless ``name`` is a registered model, with a pretrained tag it has if any."""
    import timm
    from timm.models import get_arch_pretrained_cfgs, split_model_name_tag

    from . import models  # noqa: F401  (registers the models)

    arch, tag = split_model_name_tag(name)
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = (f'did you mean {" or ".join(close)}?' if close
                else "timm.list_models('*zerosnet*') lists this package's models")
        raise ValueError(f'unknown model {arch!r}; {hint}')
    tags = [cfg_name.partition('.')[2] for cfg_name in get_arch_pretrained_cfgs(arch)]
    if tag and tag not in tags:
        raise ValueError(f'{arch} has no tag {tag!r}; its tags: {", ".join(tags) or "none"}')


def dataset_model_name(name: str, dataset: str) -> str:
    """``name`` with the pretrained tag of ``dataset`` ('zerosnet_opt_20' -> 'zerosnet_opt_20.cifar100').

    The tag's config carries the data set's class count, mean and std.  ``name`` comes back as it
    is when it already has a tag or when its architecture has none for ``dataset``.
    """
    from timm.models import get_arch_pretrained_cfgs, split_model_name_tag

    from . import models  # noqa: F401  (registers the models)

    arch, tag = split_model_name_tag(name)
    tagged = f'{arch}.{dataset}'
    return tagged if not tag and tagged in get_arch_pretrained_cfgs(arch) else name


def create_model(name: str, model_kwargs: Mapping[str, Any], **kwargs: Any) -> Any:
    """``timm.create_model(name, **kwargs, **model_kwargs)``, with the user's mistakes as one-line ValueErrors.

    ``kwargs`` are the calling tool's own arguments, ``model_kwargs`` the user's ``--model-kwargs``.
    An unknown model or tag, a key the model does not take, a key the tool sets itself, or a value
    the constructor rejects with a ValueError becomes a ValueError that names it.  Every other
    exception passes unchanged: it is a bug, not a typing mistake.
    """
    import timm

    check_model_name(name)
    clash = sorted(kwargs.keys() & model_kwargs.keys())
    if clash:
        raise ValueError(f'--model-kwargs {", ".join(clash)}: set by this tool itself; leave it out')
    try:
        return timm.create_model(name, **kwargs, **model_kwargs)
    except TypeError as e:
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if unexpected is None or unexpected.group(1) not in model_kwargs:
            raise
        raise ValueError(f'{name} takes no argument {unexpected.group(1)!r}; drop it from --model-kwargs') from None
    except ValueError as e:
        if not model_kwargs:
            raise
        given = ' '.join(f'{k}={v}' for k, v in model_kwargs.items())
        raise ValueError(f'{name} rejects --model-kwargs {given}: {e}') from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='zerosnet-zoo', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    roots = sub.add_parser('roots', help='roots, root condition and consistency of a multistep scheme')
    roots.add_argument('--alphas', type=_floats, help='alpha_0,...,alpha_{d-1} (comma-separated)')
    roots.add_argument('--beta', type=float, help='beta (enables the consistency check)')
    roots.add_argument('--lam', type=float, help='a ZeroSNet lambda instead of --alphas/--beta')
    roots.add_argument('--tol', type=float, default=stability.DEFAULT_TOL, help='root tolerance (default %(default)g)')
    roots.add_argument('--json', action='store_true', help='print one JSON object')
    roots.add_argument('--plot', metavar='FILE.png', help='draw the roots against the unit circle')
    roots.set_defaults(func=_cmd_roots)

    lambdas = sub.add_parser('lambdas', help='the zero-stable lambda set and the optimal lambda of ZeroSNet')
    lambdas.add_argument('--json', action='store_true', help='print one JSON object')
    lambdas.add_argument('--plot', metavar='FILE.png', help='max parasitic modulus against lambda')
    lambdas.set_defaults(func=_cmd_lambdas)

    info = sub.add_parser('info', help='build a registered model, run it once, report its schemes')
    info.add_argument('model', help='a registered name, e.g. zerosnet_opt_56')
    info.add_argument('--model-kwargs', nargs='*', default=[], metavar='K=V',
                      help='e.g. lam=-1.2 or coefficients=1,1,1,1 or alpha=2')
    info.add_argument('--batch-size', type=int, default=2)
    info.set_defaults(func=_cmd_info)

    ev = sub.add_parser('eval', help='top-1 accuracy, robustness to input noise, FGSM/PGD')
    ev.add_argument('--model', help='a registered name, with a tag for --pretrained, e.g. zerosnet_opt_20.cifar10 '
                    '(default with --checkpoint: the model the train/cifar.py run recorded, tagged with its data set)')
    ev.add_argument('--model-kwargs', nargs='*', metavar='K=V',
                    help="default with --checkpoint: the run's own, when --model is its architecture")
    ev.add_argument('--checkpoint', help='a .safetensors file, or a train/cifar.py output directory')
    ev.add_argument('--pretrained', action='store_true', help='the weights shipped for the NAME.TAG of --model')
    ev.add_argument('--data-dir', help='ImageFolder root with test/, or a torchvision CIFAR root '
                    '(default: the 500 CIFAR-10 test images shipped with the package)')
    ev.add_argument('--dataset', choices=('cifar10', 'cifar100'),
                    help='which torchvision copy --data-dir holds (default: the run\'s data set, else cifar10)')
    ev.add_argument('--limit', type=int, help='a seeded random subset of the test split')
    ev.add_argument('--flip', action='store_true', help='also clean accuracy with flip test-time augmentation')
    ev.add_argument('--robustness', action='store_true', help='every noise of the paper (seed 1)')
    ev.add_argument('--attack', choices=('fgsm', 'pgd'))
    ev.add_argument('--eps', type=float, default=EPS, help='L-inf radius in [0, 1] pixel units')
    ev.add_argument('--steps', type=int, default=PGD_STEPS, help='PGD steps')
    ev.add_argument('--step-size', type=float, help='PGD step (default 2.5 * eps / steps)')
    ev.add_argument('--batch-size', type=int, default=250)
    ev.add_argument('--workers', type=int, default=2)
    ev.add_argument('--device', default='cpu')
    ev.add_argument('--json', action='store_true', help='print one JSON object')
    ev.set_defaults(func=_cmd_eval)

    for name, helptext in (('export', 'write a Hugging Face Hub repository (config.json, model.safetensors, '
                                      'README.md model card) for a pretrained weight'),
                           ('push', 'export a pretrained weight and upload it to the Hugging Face Hub')):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument('name', help='NAME.TAG, e.g. zerosnet_opt_20.cifar10')
        cmd.add_argument('--checkpoint', help='export these weights (a .safetensors file or a train/cifar.py run '
                                              'directory) instead of the packaged ones')
        cmd.add_argument('--repo-id', help="ORG/NAME on the Hub (default: the pretrained cfg's hf_hub_id)")
        if name == 'export':
            cmd.add_argument('--out', required=True, help='a new (or empty) folder')
            cmd.set_defaults(func=_cmd_export)
        else:
            cmd.add_argument('--token', help='a Hub token (default: `hf auth login` or HF_TOKEN)')
            cmd.add_argument('--private', action='store_true', help='create the repository as private')
            cmd.set_defaults(func=_cmd_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, OSError) as e:
        print(f'zerosnet-zoo {args.command}: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
