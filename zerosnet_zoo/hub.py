"""Deprecated alias: ``zerosnet_zoo.hf_hub`` (Hub export, model card, push), ``zerosnet_zoo.provenance``
(a weight's record in words) and ``zerosnet_zoo.benchmark`` (``model_stats``)."""

import warnings

from .benchmark import model_stats
from .hf_hub import export, model_card, push
from .provenance import INITIALIZATIONS, initialization, seeds_summary, training_summary

__all__ = ['INITIALIZATIONS', 'export', 'initialization', 'model_card', 'model_stats', 'push', 'seeds_summary',
           'training_summary']

warnings.warn('zerosnet_zoo.hub is deprecated: import export, model_card and push from zerosnet_zoo.hf_hub, '
              'training_summary, seeds_summary, initialization and INITIALIZATIONS from zerosnet_zoo.provenance, '
              'and model_stats from zerosnet_zoo.benchmark', DeprecationWarning, stacklevel=2)
