"""The ``zerosnet-zoo`` command line (also ``python -m zerosnet_zoo``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from timm.models import split_model_name_tag

from . import stability
from .building import checkpoint_model, create_model, parse_model_kwargs
from .data import SAMPLE_DIR, load_split
from .evaluate import EPS, NOISES, PGD_STEPS, evaluate


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected comma-separated numbers, got {text!r}') from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def _pixels(text: str) -> float:
    """A perturbation radius in [0, 1] pixel units."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number in [0, 1] pixel units, got {text!r}') from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f'expected a number in [0, 1] pixel units (8/255 = 0.0314), got {value}')
    return value


def _pixel_step(text: str) -> float:
    value = _pixels(text)
    if value == 0:
        raise argparse.ArgumentTypeError('expected a positive step in pixel units, got 0')
    return value


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
        print(f'  scheme {i}: {stability.analyze(*scheme).summary()}')
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    if (args.checkpoint is None) == (not args.pretrained):
        raise SystemExit('zerosnet-zoo eval: give exactly one of --checkpoint PATH or --pretrained')
    if args.checkpoint is not None:
        model, name, dataset, _ = checkpoint_model(args.checkpoint, args.model, args.model_kwargs, args.dataset)
    else:
        if args.model is None:
            raise SystemExit('zerosnet-zoo eval: --pretrained needs --model NAME.TAG')
        tag = split_model_name_tag(args.model)[1]  # a .cifar100 weight is tested on CIFAR-100
        name, dataset = args.model, args.dataset or (tag if tag in ('cifar10', 'cifar100') else 'cifar10')
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
    info.add_argument('--batch-size', type=_positive_int, default=2)
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
                    help="which torchvision copy --data-dir holds (default: the run's data set, or the --pretrained "
                         "tag's, else cifar10)")
    ev.add_argument('--limit', type=_positive_int, help='a seeded random subset of the test split')
    ev.add_argument('--flip', action='store_true', help='also clean accuracy with flip test-time augmentation')
    ev.add_argument('--robustness', action='store_true', help='every noise of the paper (seed 1)')
    ev.add_argument('--attack', choices=('fgsm', 'pgd'))
    ev.add_argument('--eps', type=_pixels, default=EPS, help='L-inf radius in [0, 1] pixel units')
    ev.add_argument('--steps', type=_positive_int, default=PGD_STEPS, help='PGD steps')
    ev.add_argument('--step-size', type=_pixel_step, help='PGD step, > 0 (default 2.5 * eps / steps)')
    ev.add_argument('--batch-size', type=_positive_int, default=250)
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
