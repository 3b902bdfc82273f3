"""``tools/train.py`` and ``tools/test.py``: MMAction2's own tools, run
with the plugin imported.

The tools run MMAction2's ``tools/train.py`` / ``tools/test.py`` from the
installed package (``mmaction/.mim/tools``), so their arguments are
exactly MMAction2's (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ``--dump``, ``--show``, ``--show-dir``,
``--interval``, ``--wait-time`` ...). Importing :mod:`mmblvnet` first
applies the stack workarounds (the DRN stub, the ``weights_only``
allow-list of runner checkpoints). The runner they build is
:class:`ToolRunner`, which adds:

* a distributed launch without CUDA: ``gloo`` and a device-less DDP
  wrapper (MMAction2's configs ask for ``nccl``);
* ``--amp`` without CUDA refused with the reason;
* any failure to load or resume a checkpoint as one error naming the file
  (:func:`~mmblvnet.utils.cli.checkpoint_errors`).

Training takes the work dir's lock (:mod:`.work_dir_lock`): a second run
into the same work dir is refused.

MMAction2's argument checks (``assert``) are reported as user errors too,
and the merged config is checked before anything is built
(:func:`~mmblvnet.utils.config_check.check_config`).
"""
import copy
import functools
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import List, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner

from .cli import checkpoint_errors, run_main
from .config_check import check_config
from .work_dir_lock import LOCK_NAME, lock_work_dir

TOOLS = ('train', 'test')


def _use_gloo_without_cuda(cfg: Config) -> None:
    """Use gloo and a device-less DDP wrapper when CUDA is absent."""
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False)


def _check_amp(cfg: Config) -> None:
    wrapper = (cfg.get('optim_wrapper') or {}).get('type')
    if wrapper == 'AmpOptimWrapper' and not torch.cuda.is_available():
        raise ValueError(
            '--amp needs CUDA (MMEngine\'s AmpOptimWrapper is CUDA-only) and '
            'this machine has none; train without --amp on CPU')


def fit_to_machine(cfg: Config) -> Config:
    """Adapt a merged config to a machine without CUDA (in place).

    Args:
        cfg (Config): The config with the tool's arguments merged.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: If it asks for AMP and CUDA is absent.
    """
    _check_amp(cfg)
    _use_gloo_without_cuda(cfg)
    return cfg


class ToolRunner(Runner):
    """MMEngine's runner as the tools use it (see the module docstring)."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'ToolRunner':
        return super().from_cfg(fit_to_machine(cfg))

    def load_checkpoint(self, filename: str, *args, **kwargs):
        with checkpoint_errors(filename):
            return super().load_checkpoint(filename, *args, **kwargs)

    def resume(self, filename: str, *args, **kwargs):
        with checkpoint_errors(filename):
            return super().resume(filename, *args, **kwargs)


class TrainToolRunner(ToolRunner):
    """:class:`ToolRunner` holding its work dir's lock from before it
    writes there until the process ends."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'TrainToolRunner':
        stale = lock_work_dir(cfg.work_dir)
        runner = super().from_cfg(cfg)
        if stale:
            runner.logger.warning(
                f'{osp.join(cfg.work_dir, LOCK_NAME)}: the run that held '
                f'this work dir ({stale}) did not end cleanly (killed?); '
                'its lock is taken over')
        return runner


def build_runner(cfg: Config) -> Runner:
    """Build the runner the config asks for (``runner_type``) or a
    :class:`ToolRunner`."""
    if 'runner_type' not in cfg:
        return ToolRunner.from_cfg(cfg)
    from mmaction.registry import RUNNERS
    return RUNNERS.build(fit_to_machine(cfg))


def mmaction_tool_path(name: str) -> str:
    """Path of MMAction2's ``tools/{name}.py`` in the installed package."""
    spec = importlib.util.find_spec('mmaction')
    path = osp.join(osp.dirname(spec.origin), '.mim', 'tools', f'{name}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: MMAction2\'s {name} tool is missing from the installed '
            'mmaction2; reinstall it with `pip install mmaction2==1.2.0`')
    return path


def _checked_merge(merge_args, training: bool):
    """MMAction2's ``merge_args`` whose ``assert`` failures (``--dump``
    not a .pkl, no visualization hook ...) are ValueErrors, followed by
    :func:`check_config`."""

    @functools.wraps(merge_args)
    def checked(cfg, args):
        loaded = copy.deepcopy(cfg)
        try:
            merged = merge_args(cfg, args)
        except AssertionError as error:
            raise ValueError(f'{args.config}: {error}') from error
        check_config(merged, loaded, args.cfg_options, training)
        return merged

    return checked


def load_mmaction_tool(name: str) -> ModuleType:
    """MMAction2's tool as a module that builds :class:`ToolRunner`."""
    import mmblvnet  # noqa: F401  (workarounds and registration first)
    path = mmaction_tool_path(name)
    spec = importlib.util.spec_from_file_location(f'mmaction_tools_{name}',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.Runner = TrainToolRunner if name == 'train' else ToolRunner
    module.merge_args = _checked_merge(module.merge_args, name == 'train')
    return module


def _run_tool(name: str, argv: List[str]) -> None:
    tool = load_mmaction_tool(name)
    saved = sys.argv
    sys.argv = [tool.__file__, *argv]
    try:
        tool.main()
    finally:
        sys.argv = saved


def train(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/train.py``; returns the exit status."""
    return run_main(functools.partial(_run_tool, 'train'), argv)


def test(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/test.py``; returns the exit status."""
    return run_main(functools.partial(_run_tool, 'test'), argv)
