"""The real data some tests need: CIFAR-10 re-encoded as JPEG quality 75, in ImageFolder layout
(train/ and test/, one folder per class), the copy every shipped weight was trained and measured
on, so that those tests can compare with the recorded numbers.

It is found at $ZEROSNET_ZOO_TEST_DATA, else in the project's shared data folder beside the
checkout; without it those tests skip.
"""

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get('ZEROSNET_ZOO_TEST_DATA',
                           Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'cifar10-jpeg'))
needs_data = pytest.mark.skipif(not (DATA / 'train').is_dir() or not (DATA / 'test').is_dir(),
                                reason=f'CIFAR-10 (JPEG q75) not found at {DATA}; set ZEROSNET_ZOO_TEST_DATA')
