"""``RobustRunner``: MMEngine's runner with the robustness features on.

A config selects it with ``runner_type = 'RobustRunner'``, the line of
``configs/_base_/robust_runtime.py``; MMAction2's ``tools/train.py`` and
``tools/test.py`` (so ``mim train``/``mim test`` and the launch scripts)
build the runner ``runner_type`` names. It keeps the config's stock types
and, when it builds the run, checks each annotation list, wraps each data
set in :class:`~mmblvnet.datasets.CheckedDataset`, substitutes
:data:`ROBUST_TYPES`, adds :data:`CHECK_HOOKS`, verifies local checkpoint
files, checks a bLResNet's neck or head width, holds the work dir's lock
while it trains and, without CUDA, runs a distributed launch with gloo
(docs/robustness.md lists each case with its test).
"""
import copy
import os.path as osp
from typing import Mapping

import torch
from mmaction.registry import RUNNERS
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from ..datasets.annotation import dataset_configs, read_dataset_list
from ..models.backbones.blresnet import bLResNet
from .checkpoint_integrity import load_checked
from .work_dir_lock import LOCK_NAME, WorkDirLockedError, lock_work_dir

# The hooks added unless custom_hooks names them (docs/robustness.md).
CHECK_HOOKS = ('NumSegmentsCheckHook', 'LabelRangeCheckHook',
               'StrictLoadHook', 'NonFiniteLossHook')
# Stock types replaced by their robust subclasses (same arguments).
ROBUST_TYPES = {
    'EpochBasedTrainLoop': 'ResumableEpochBasedTrainLoop',
    'CheckpointHook': 'AtomicCheckpointHook',
}
ROBUST_CFG = dict(on_bad_sample='error', max_bad_in_a_row=20)


def fit_to_machine(cfg: Config) -> Config:
    """Adapt a merged config to a machine without CUDA (in place).

    A distributed launch gets ``gloo`` and, unless the config has its own,
    a device-less ``MMDistributedDataParallel`` wrapper (MMAction2's
    configs ask for ``nccl``).

    Args:
        cfg (Config): The config with the tool's arguments merged.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: If it asks for AMP and CUDA is absent.
    """
    if torch.cuda.is_available():
        return cfg
    if (cfg.get('optim_wrapper') or {}).get('type') == 'AmpOptimWrapper':
        raise ValueError(
            '--amp needs CUDA (MMEngine\'s AmpOptimWrapper is CUDA-only) and '
            'this machine has none; train without --amp on CPU')
    if cfg.get('launcher', 'none') != 'none':
        env_cfg = cfg.setdefault('env_cfg', ConfigDict())
        env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(
                type='MMDistributedDataParallel', device_ids=None,
                broadcast_buffers=False)
    return cfg


def check_head_channels(model) -> None:
    """Raise if the first part reading a bLResNet's maps (the neck, else
    the head) declares other ``in_channels`` than the backbone's width."""
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, bLResNet):
        return
    name = 'neck' if getattr(model, 'neck', None) is not None else 'cls_head'
    in_channels = getattr(getattr(model, name, None), 'in_channels', None)
    if isinstance(in_channels, int) and in_channels != backbone.feat_dim:
        raise ValueError(
            f'model.{name}.in_channels={in_channels} but the backbone '
            f'bLResNet outputs {backbone.feat_dim} channels; set '
            f'model.{name}.in_channels={backbone.feat_dim}')


def _robust_type(cfg):
    """A hook or loop config with its stock type replaced (a copy)."""
    if isinstance(cfg, Mapping) and cfg.get('type') in ROBUST_TYPES:
        cfg = copy.copy(cfg)
        cfg['type'] = ROBUST_TYPES[cfg['type']]
    return cfg


@RUNNERS.register_module()
class RobustRunner(Runner):
    """MMEngine's ``Runner`` with the features of the module docstring;
    the config's ``robust_cfg`` (default :data:`ROBUST_CFG`) gives the
    arguments of :class:`~mmblvnet.datasets.CheckedDataset`."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'RobustRunner':
        """Fit the config to the machine, then build."""
        return super().from_cfg(fit_to_machine(copy.deepcopy(cfg)))

    def __init__(self, *args, **kwargs) -> None:
        cfg = kwargs.get('cfg') or {}
        self.robust_cfg = {**ROBUST_CFG, **(cfg.get('robust_cfg') or {})}
        super().__init__(*args, **kwargs)
        model = self.model
        check_head_channels(getattr(model, 'module', model))

    def build_dataloader(self, dataloader, seed=None, diff_rank_seed=False):
        """Check the lists of the loader's data sets, then build MMEngine's
        loader of the data set wrapped in ``CheckedDataset``.

        Replaces the static method of ``Runner`` for this runner's loops.
        """
        dataset = (dataloader.get('dataset')
                   if isinstance(dataloader, Mapping) else None)
        if isinstance(dataset, Mapping):
            for inner in dataset_configs(dataset):
                read_dataset_list(inner)
            if dataset.get('type') != 'CheckedDataset':
                dataloader = dict(dataloader, dataset=dict(
                    type='CheckedDataset', dataset=dataset,
                    **self.robust_cfg))
        return Runner.build_dataloader(dataloader, seed, diff_rank_seed)

    def build_train_loop(self, loop):
        """The configured loop, ``ResumableEpochBasedTrainLoop`` for
        ``EpochBasedTrainLoop``."""
        return super().build_train_loop(_robust_type(loop))

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """Register the hooks with the robust checkpoint hook and the
        :data:`CHECK_HOOKS` that ``custom_hooks`` lacks."""
        default_hooks = dict(default_hooks or {})
        default_hooks['checkpoint'] = _robust_type(
            default_hooks.get('checkpoint',
                              dict(type='CheckpointHook', interval=1)))
        custom_hooks = list(custom_hooks or [])
        named = {hook['type'] if isinstance(hook, Mapping) else
                 type(hook).__name__ for hook in custom_hooks}
        custom_hooks += [dict(type=name) for name in CHECK_HOOKS
                         if name not in named]
        super().register_hooks(default_hooks, custom_hooks)

    def load_checkpoint(self, filename: str, *args, **kwargs):
        """Verify a local file (:func:`load_checked`), then load it as
        MMEngine does."""
        if '://' not in str(filename):
            load_checked(filename, map_location='cpu')
        return super().load_checkpoint(filename, *args, **kwargs)

    def train(self):
        """Take the work dir's lock, then train."""
        try:
            stale = lock_work_dir(self.work_dir)
        except WorkDirLockedError as error:
            raise SystemExit(f'error: {error}') from None
        if stale:
            self.logger.warning(
                f'{osp.join(self.work_dir, LOCK_NAME)}: the run that held '
                f'this work dir ({stale}) did not end cleanly (killed?); '
                'its lock is taken over')
        return super().train()
