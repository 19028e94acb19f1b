"""Shared test set-up: with several pytest-xdist workers, each takes its share of the cores."""

import os

import torch

_workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if _workers > 1:  # without this every worker runs torch on every core, and they slow each other down
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // _workers))
