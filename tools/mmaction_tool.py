"""``tools/train.py`` and ``tools/test.py``: MMAction2's own tools, run
with the plugin imported.

The tools run MMAction2's ``tools/train.py`` / ``tools/test.py`` from the
installed package (``mmaction/.mim/tools``), so their arguments are
exactly MMAction2's (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ``--dump``, ``--show``, ``--show-dir``,
``--interval``, ``--wait-time`` ...), and they build the runner the
config names (``runner_type``: the shipped configs name
:class:`~mmblvnet.engine.RobustRunner`, as under ``mim train``; without
it MMEngine's ``Runner``). What the tools add to MMAction2's:

* MMAction2's argument checks (``assert``) reported as user errors, and
  the merged config checked before anything is built
  (:func:`config_check.check_config`);
* any failure to load or resume a checkpoint as one error naming the file
  (:func:`~mmblvnet.utils.cli.build_runner`), and every user error as one
  ``error:`` line (:func:`~mmblvnet.utils.cli.run_main`).

This module sits beside the tools (in the clone and in the installed
``mmblvnet/.mim/tools``): Python puts a script's folder first on
``sys.path``, so the tools import it by name.
"""
import copy
import functools
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import List, Optional, Sequence

from config_check import check_config

from mmblvnet.utils.cli import build_runner, run_main

TOOLS = ('train', 'test')


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


class _Runners:
    """What MMAction2's tools call as ``Runner.from_cfg(cfg)`` and
    ``RUNNERS.build(cfg)``: :func:`~mmblvnet.utils.cli.build_runner`."""

    from_cfg = build = staticmethod(build_runner)


def load_mmaction_tool(name: str) -> ModuleType:
    """MMAction2's tool as a module that builds its runner with
    :func:`~mmblvnet.utils.cli.build_runner`."""
    import mmblvnet  # noqa: F401  (workarounds and registration first)
    path = mmaction_tool_path(name)
    spec = importlib.util.spec_from_file_location(f'mmaction_tools_{name}',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.Runner = module.RUNNERS = _Runners
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
