"""Config mistakes found before anything is built or read (by
``tools/train.py`` and ``tools/test.py``, through :mod:`mmaction_tool`).

* A top-level variable set by ``--cfg-options`` (``num_segments=0``):
  the config file already used it when it was read, so the new value
  reaches no other key. Refused, naming the keys that hold the value
  (``model.backbone.num_segments``).
* A hook argument that neither the hook nor, for a checkpoint hook,
  ``Runner.save_checkpoint`` accepts (``default_hooks.checkpoint.
  intervall=1``): MMEngine fails only at the first save, after an epoch.
  Refused, naming the key and the closest accepted argument.
* ``lr=0``: a warning (the weights would not change).
"""
import difflib
import inspect
import logging
from typing import Dict, Iterator, List, Optional, Set, Tuple

from mmaction.registry import HOOKS
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

# The arguments of Runner.save_checkpoint that CheckpointHook passes
# itself: its other keyword arguments go to save_checkpoint too, so none
# is left for them.
SAVE_ARGS_PASSED = {
    'out_dir', 'filename', 'file_client_args', 'save_optimizer',
    'save_param_scheduler', 'meta', 'by_epoch', 'backend_args'
}


def _leaves(node, prefix: str = '') -> Iterator[Tuple[str, object]]:
    """``(dotted key, value)`` of every entry below ``node`` (list items
    as ``key[i]``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f'{prefix}.{key}' if prefix else key)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _leaves(value, f'{prefix}[{index}]')
    if prefix:
        yield prefix, node


def _stale_variable(key: str, value, loaded: Config) -> Optional[str]:
    """Why setting the top-level ``key`` to ``value`` changes nothing."""
    if key not in loaded:
        return None
    old = loaded[key]
    holders = [path for path, held in _leaves(loaded.to_dict())
               if '.' in path and path.rsplit('.', 1)[-1] == key
               and held == old]
    if not holders or value == old:
        return None
    return (f'--cfg-options {key}={value!r} sets the top-level variable '
            f'{key}, which the config already used when it was read: '
            f'{", ".join(holders)} stay {old!r}; set '
            f'{" and ".join(f"{path}={value!r}" for path in holders)} '
            'instead (and any other key the variable fed)')


def _accepted_arguments(hook_type) -> Optional[Set[str]]:
    """The keyword arguments a hook class accepts; None when unknown (a
    ``**kwargs`` going somewhere this check does not know)."""
    names: Set[str] = set()
    for klass in hook_type.__mro__:
        if '__init__' not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(vars(klass)['__init__']).parameters
        names |= {name for name, parameter in parameters.items()
                  if name != 'self' and parameter.kind not in (
                      parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)}
        if not any(parameter.kind == parameter.VAR_KEYWORD
                   for parameter in parameters.values()):
            return names
        if klass is CheckpointHook:  # **kwargs: Runner.save_checkpoint's
            from mmengine.runner import Runner
            saved = set(inspect.signature(
                Runner.save_checkpoint).parameters) - {'self'}
            return names | (saved - SAVE_ARGS_PASSED)
    return None


def _hook_configs(cfg: Config) -> Iterator[Tuple[str, dict]]:
    for name, hook in (cfg.get('default_hooks') or {}).items():
        if isinstance(hook, dict):
            yield f'default_hooks.{name}', hook
    for index, hook in enumerate(cfg.get('custom_hooks') or []):
        if isinstance(hook, dict):
            yield f'custom_hooks[{index}]', hook


def _hook_argument_errors(cfg: Config) -> List[str]:
    errors = []
    for key, hook in _hook_configs(cfg):
        hook_type = hook.get('type')
        if isinstance(hook_type, str):
            hook_type = HOOKS.get(hook_type)
        if not inspect.isclass(hook_type):
            continue  # an unknown type: the registry names it when built
        accepted = _accepted_arguments(hook_type)
        if accepted is None:
            continue
        for argument in sorted(set(hook) - accepted - {'type', '_scope_'}):
            close = difflib.get_close_matches(argument, accepted, n=1)
            hint = f'; did you mean {close[0]!r}?' if close else ''
            where = (' (nor does Runner.save_checkpoint, which gets its '
                     'other arguments)' if issubclass(
                         hook_type, CheckpointHook) else '')
            errors.append(f'{key}.{argument}: {hook_type.__name__} takes '
                          f'no argument {argument!r}{where}{hint}')
    return errors


def _warn_zero_lr(cfg: Config) -> None:
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
    if optimizer.get('lr', None) == 0:
        print_log(
            'optim_wrapper.optimizer.lr=0: the weights will not change '
            '(unless a param_scheduler raises the rate)', logger='current',
            level=logging.WARNING)


def check_config(cfg: Config, loaded: Config,
                 cfg_options: Optional[Dict[str, object]],
                 training: bool) -> None:
    """Refuse the mistakes of the module docstring.

    Args:
        cfg (Config): The config with the tool's arguments merged.
        loaded (Config): The config file as read, before the options.
        cfg_options (dict, optional): The ``--cfg-options``.
        training (bool): Whether the tool trains (then ``lr=0`` warns).

    Raises:
        ValueError: Naming every stale variable or unknown hook argument.
    """
    errors = []
    for key, value in (cfg_options or {}).items():
        reason = None if '.' in key else _stale_variable(key, value, loaded)
        if reason:
            errors.append(reason)
    errors += _hook_argument_errors(cfg)
    if errors:
        raise ValueError('; '.join(errors))
    if training:
        _warn_zero_lr(cfg)
