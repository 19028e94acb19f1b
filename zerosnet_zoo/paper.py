"""The paper this package implements, and the numbers it reports.

Chen, Jin and Shang, *Zero Stability Well Predicts Performance of Convolutional Neural
Networks*, AAAI 2022.  Every accuracy the package compares itself with comes from here, so
that the training scripts, the model cards and the Hub cards quote the same numbers under
the same labels.  Accuracies are top-1 (top-5 for ImageNet) in percent; the CIFAR numbers
of Tables 1-4 and 6 are, unless a row says otherwise, the mean of ``RUNS`` runs of the
authors' recipe (``CIFAR_RECIPE``, ``CIFAR_EPOCHS``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ['TITLE', 'AUTHORS', 'VENUE', 'YEAR', 'REFERENCE_CODE', 'CITATION', 'CIFAR_RECIPE', 'CIFAR_EPOCHS', 'RUNS',
           'Reported', 'TABLE_1', 'TABLE_1_ALPHAS', 'TABLE_2', 'TABLE_2_KS', 'TABLE_10', 'TABLE_3', 'TABLE_4',
           'TABLE_4_DEPTHS', 'TABLE_4_FAMILIES', 'TABLE_5', 'TABLE_6_DEPTH', 'TABLE_6_OPTIMAL', 'TABLE_6_MEAN_DROP',
           'table_4']

TITLE = 'Zero Stability Well Predicts Performance of Convolutional Neural Networks'
AUTHORS = ('Liangming Chen', 'Long Jin', 'Mingsheng Shang')
VENUE = 'AAAI 2022'
YEAR = 2022
REFERENCE_CODE = 'https://github.com/LongJin-lab/ZeroSNet'  # the authors' PyTorch code; no weights were published
CITATION = """@inproceedings{chen2022zero,
  title={Zero Stability Well Predicts Performance of Convolutional Neural Networks},
  author={Chen, Liangming and Jin, Long and Shang, Mingsheng},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence},
  volume={36}, number={6}, pages={6268--6277}, year={2022}
}"""

# The authors' CIFAR recipe: SGD, the lr divided by 10 at 1/2 and 3/4 of training, random crop
# and flip; epochs by data set.  Each CIFAR number of theirs is the mean of RUNS runs.
CIFAR_RECIPE = {'lr': 0.1, 'momentum': 0.9, 'weight_decay': 1e-4, 'batch_size': 128}
CIFAR_EPOCHS = {'cifar10': 160, 'cifar100': 300}
RUNS = 3

# Table 1 (CIFAR-10, PreResNet-32 with y[n+1] = alpha y[n] + f): {depth: {alpha: top-1}}.
TABLE_1_ALPHAS = (2, 1.5, 0.5, 0.7, 1)
TABLE_1 = {32: dict(zip(TABLE_1_ALPHAS, (79.13, 87.07, 92.52, 93.16, 93.19)))}

# Table 2 (CIFAR-10, LM-ResNet-44 as the paper's eq. (8) with a fixed k): {depth: {k: top-1}}.
TABLE_2_KS = (-1.5, 1.5, -0.5, 0.5)
TABLE_2 = {44: dict(zip(TABLE_2_KS, (81.43, 89.46, 92.95, 93.69)))}

# Table 10: the ten third-order schemes (alpha_0, alpha_1, alpha_2, beta) of Tables 3 and 6, in the
# paper's order; the first four violate the root condition, the last is the optimal ZeroSNet.
TABLE_10 = ((1, 1, 1, 1), (3.75, -4, 1.25, -0.5), (-3, 5, -1, 4), (-0.75, 2, -0.25, 2.5), (2.25, -2, 0.75, 0.5),
            (0.1, 0.2, 0.3, 0.4), (0.5, 0.3, 0.1, 0.1), (0.825, -0.1, 0.275, 1.45), (1, 0.3, -0.4, 1),
            (1 / 3, 5 / 9, 1 / 9, 16 / 9))

# Table 3 (CIFAR-10, ZeroSNet built on each scheme of Table 10): {depth: top-1 per Table 10 row}.
# The paper lists depths 32 and 44 by the root moduli of each scheme; they are in Table 10's row
# order here (the tests match every listed set of moduli to its row).
TABLE_3 = {
    32: (78.44, 77.55, 79.67, 88.77, 89.44, 92.84, 92.59, 93.14, 93.27, 93.28),
    44: (78.70, 77.91, 79.95, 83.08, 92.70, 93.10, 93.06, 93.72, 93.68, 93.68),
    56: (78.29, 78.34, 79.39, 83.11, 92.42, 93.08, 93.15, 93.71, 93.99, 94.04),
}


@dataclass(frozen=True)
class Reported:
    """One number of the paper's Table 4 and what it measures.

    ``row`` is the network with the paper's mark (``†`` quoted from Lu et al. 2018, ``*`` the
    authors' own PreResNet runs); ``source`` says whose number it is; ``note`` what a reader
    comparing with it should know.
    """

    top1: float
    row: str
    source: str
    note: str = ''

    @property
    def label(self) -> str:
        return f'{self.row} ({self.source})'


_OWN = "the authors' runs, mean of 3"
_RESNET_C10 = ('ResNet†', 'He et al. 2016, quoted by the paper from Lu et al. 2018',
               "the original post-activation ResNet: one published number, neither the authors' run nor a PreResNet")
_PRERESNET_C100 = 'PreResNet*', "the authors' PreResNet runs, mean of 3"
_BASELINE_110 = 'ResNet*†', "marked both * (the authors' PreResNet runs) and † (quoted from Lu et al. 2018)"
_LM_C10 = 'LM-ResNet†', 'Lu et al. 2018, quoted by the paper', "a published number, not the authors' run"
_LM_C100 = 'LM-ResNet', 'the paper, unmarked'

TABLE_4_DEPTHS = (20, 32, 44, 56, 110)
TABLE_4_FAMILIES = ('preresnet', 'lmresnet', 'zerosnet_opt', 'zerosnet_tra')


def _column(labels, values) -> dict[int, Reported]:
    return {d: Reported(v, *label) for d, label, v in zip(TABLE_4_DEPTHS, labels, values)}


# Table 4: {dataset: {family: {depth: Reported}}}.  The paper's baseline row is named "ResNet".
# On CIFAR-10 at depths 20-56 it is He et al.'s original post-activation ResNet, a single
# number quoted from Lu et al. 2018, neither the authors' run nor a PreResNet; on CIFAR-100 it
# is the authors' PreResNet.  The family keys are this package's: 'preresnet' holds that
# baseline row, whatever network each of its numbers belongs to.
TABLE_4 = {
    'cifar10': {
        'preresnet': _column([_RESNET_C10] * 4 + [_BASELINE_110], (91.25, 92.49, 92.83, 93.03, 93.63)),
        'lmresnet': _column([_LM_C10] * 5, (91.67, 92.82, 93.34, 93.69, 93.84)),
        'zerosnet_opt': _column([('ZeroSNet-Opt', _OWN)] * 5, (92.01, 93.28, 93.68, 94.04, 94.35)),
        'zerosnet_tra': _column([('ZeroSNet-Tra', _OWN)] * 5, (92.32, 93.07, 93.69, 93.80, 94.30)),
    },
    'cifar100': {
        'preresnet': _column([_PRERESNET_C100] * 4 + [_BASELINE_110], (69.46, 71.30, 72.36, 72.56, 72.24)),
        'lmresnet': _column([_LM_C100] * 5, (69.32, 71.32, 72.05, 72.94, 74.13)),
        'zerosnet_opt': _column([('ZeroSNet-Opt', _OWN)] * 5, (69.88, 71.25, 72.49, 73.11, 74.50)),
        'zerosnet_tra': _column([('ZeroSNet-Tra', _OWN)] * 5, (69.90, 71.09, 72.18, 72.72, 74.56)),
    },
}


def table_4(model: str, dataset: str = 'cifar10') -> Reported | None:
    """The paper's Table 4 entry for a CIFAR model name such as ``zerosnet_opt_56``, or None."""
    family, _, depth = model.rpartition('_')
    if not depth.isdigit():
        return None
    return TABLE_4.get(dataset, {}).get(family, {}).get(int(depth))


# Table 5 (ImageNet, 150 epochs): {model: (top-1, top-5)}.
TABLE_5 = {
    'preresnet18': (69.66, 88.94), 'zerosnet18': (69.84, 88.97),
    'preresnet34': (72.21, 90.68), 'zerosnet34': (72.69, 90.83),
    'preresnet50': (74.51, 91.91), 'zerosnet50': (74.88, 92.03),
}

# Table 6 (CIFAR-10, at depth TABLE_6_DEPTH): the optimal scheme clean and under each input noise (named as in
# zerosnet_zoo.evaluate.NOISES), and the mean drop from clean to U[-0.08, 0] of the Table 10
# schemes that are zero-stable and of those that are not.
TABLE_6_DEPTH = 56
TABLE_6_OPTIMAL = {'clean': 94.04, 'uniform[-0.08,0]': 88.31, 'uniform[0,0.08]': 87.64, 'gaussian0.01': 92.96,
                   'gaussian0.02': 89.67, 'gaussian0.04': 74.49, 'constant0.3': 88.78}
TABLE_6_MEAN_DROP = {'zero_stable': 6.40, 'not_zero_stable': 12.38}
