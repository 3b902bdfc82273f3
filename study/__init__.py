"""The temporal study: the paper's four questions on data with known answers.

Trains, with one shared recipe and an equal CPU-time budget per run,
MMAction2's own TSN-R50 and TSM-R50 (their configs, through
``mmengine.hub``), bLVNet-50 without TAM and bLVNet-TAM-50 with k = 1, 3,
5, max blending and a causal k = 3 TAM on the synthetic order-only videos
of :mod:`mmblvnet.datasets.synthetic`, records a learning curve for each run,
and writes ``docs/study.md`` with its plots::

    python -m study               # full study, < 3 h on 2 cores
    python -m study --quick       # smoke run, < 5 min

Finished runs are kept in ``results.json``; running the command again
resumes where an interrupted study stopped. The study lives beside the
plugin, not in it: run it from the root of a clone (nothing in
:mod:`mmblvnet` imports it).
"""
from .experiment import HEAD_TO_HEAD, MODELS, Run, model_config, plan

__all__ = ['HEAD_TO_HEAD', 'MODELS', 'Run', 'model_config', 'plan']
