"""zerosnet_zoo.paper against the paper's tables, restated here as the paper prints them: these
numbers label model cards, reports and comparisons, so a typo in them is a wrong claim."""

import pytest

from train import cifar
from zerosnet_zoo import paper

# Table 4 as printed: depth -> CIFAR-10 / CIFAR-100 for ResNet (the baseline row), LM-ResNet,
# ZeroSNet-Opt, ZeroSNet-Tra.
TABLE_4 = """
20: 91.25 / 69.46; 91.67 / 69.32; 92.01 / 69.88; 92.32 / 69.90
32: 92.49 / 71.30; 92.82 / 71.32; 93.28 / 71.25; 93.07 / 71.09
44: 92.83 / 72.36; 93.34 / 72.05; 93.68 / 72.49; 93.69 / 72.18
56: 93.03 / 72.56; 93.69 / 72.94; 94.04 / 73.11; 93.80 / 72.72
110: 93.63 / 72.24; 93.84 / 74.13; 94.35 / 74.50; 94.30 / 74.56
"""


@pytest.mark.parametrize('line', TABLE_4.strip().splitlines())
def test_table_4(line):
    depth, cells = line.split(': ')
    for family, cell in zip(paper.TABLE_4_FAMILIES, cells.split('; ')):
        c10, c100 = (float(v) for v in cell.split(' / '))
        assert paper.table_4(f'{family}_{depth}', 'cifar10').top1 == c10
        assert paper.table_4(f'{family}_{depth}', 'cifar100').top1 == c100


def test_table_4_labels_whose_number_each_is():
    assert paper.table_4('preresnet_20').row == 'ResNet†'  # quoted from Lu et al., not a PreResNet run
    assert paper.table_4('preresnet_20', 'cifar100').row == 'PreResNet*'
    assert paper.table_4('preresnet_110').row == paper.table_4('preresnet_110', 'cifar100').row == 'ResNet*†'
    assert paper.table_4('lmresnet_56').row == 'LM-ResNet†'
    assert paper.table_4('zerosnet_opt_164') is None and paper.table_4('zerosnet50') is None


def test_tables_1_2_3_5_6():
    assert paper.TABLE_1 == {32: {2: 79.13, 1.5: 87.07, 0.5: 92.52, 0.7: 93.16, 1: 93.19}}
    assert paper.TABLE_2 == {44: {-1.5: 81.43, 1.5: 89.46, -0.5: 92.95, 0.5: 93.69}}
    assert paper.TABLE_3[56] == (78.29, 78.34, 79.39, 83.11, 92.42, 93.08, 93.15, 93.71, 93.99, 94.04)
    assert paper.TABLE_5 == {'preresnet18': (69.66, 88.94), 'zerosnet18': (69.84, 88.97),
                             'preresnet34': (72.21, 90.68), 'zerosnet34': (72.69, 90.83),
                             'preresnet50': (74.51, 91.91), 'zerosnet50': (74.88, 92.03)}
    assert paper.TABLE_6_DEPTH == 56
    assert paper.TABLE_6_OPTIMAL == {'clean': 94.04, 'uniform[-0.08,0]': 88.31, 'uniform[0,0.08]': 87.64,
                                     'gaussian0.01': 92.96, 'gaussian0.02': 89.67, 'gaussian0.04': 74.49,
                                     'constant0.3': 88.78}
    assert paper.TABLE_6_MEAN_DROP == {'zero_stable': 6.40, 'not_zero_stable': 12.38}


def test_cifar_recipe_and_its_epochs_per_data_set():
    assert paper.CIFAR_RECIPE == {'lr': 0.1, 'momentum': 0.9, 'weight_decay': 1e-4, 'batch_size': 128}
    base = ['--model', 'preresnet_20', '--data-dir', 'x', '--output', 'y']
    assert cifar.parse_args(base).epochs == 160
    assert cifar.parse_args([*base, '--dataset', 'cifar100']).epochs == 300
