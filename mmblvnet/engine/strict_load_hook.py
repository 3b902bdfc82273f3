"""Refuse checkpoints that do not fit the model instead of half-loading.

MMEngine's runner loads ``load_from`` (training, ``tools/test.py``, ``mim
test``) with ``strict=False``: missing, unexpected and misshapen keys are
only logged and the model silently keeps its random weights there. This
hook checks the checkpoint against the model first and raises
``CheckpointKeyError`` listing the keys.

Tools that swap in a part without weights keep working: MMAction2's
``clip_feature_extraction`` replaces the classifier with ``FeatureHead``,
which holds no weights, so the checkpoint's ``cls_head.*`` keys have
nothing to load into. Keys under a part of the model that holds no
weights at all are left out (and logged) rather than refused.
"""
import logging
import os.path as osp
import re
from typing import List, Optional, Sequence

import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn

from ..converters.key_rules import (
    CheckpointKeyError,
    StateDict,
    model_mismatches,
    strip_prefix,
)
from .check_hooks import runner_model

# Keys of a released IBM bLVNet-TAM file: the backbone under
# ``baseline_model.``, the classifier under ``new_fc.``, sometimes behind
# DataParallel's ``module.``.
_IBM_PREFIXES = ('baseline_model.', 'new_fc.', 'module.baseline_model.')
_SHOWN = 30


def _checkpoint_name(runner) -> str:
    load_from = runner.cfg.get('load_from')
    if load_from:
        return str(load_from)
    pointer = osp.join(runner.work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            return f.read().strip()
    return 'the checkpoint'


def _head_classes(state_dict: dict, expected: dict) -> Optional[tuple]:
    """``(checkpoint classes, model classes)`` if the classifier differs."""
    for key, value in expected.items():
        theirs = state_dict.get(key)
        if (key.startswith('cls_head.') and value.dim() == 2
                and theirs is not None and theirs.dim() == 2
                and theirs.shape[0] != value.shape[0]):
            return theirs.shape[0], value.shape[0]
    return None


def _hints(state_dict: dict, expected: dict) -> List[str]:
    hints = []
    classes = _head_classes(state_dict, expected)
    if classes is not None:
        hints.append(
            f'The checkpoint was trained for {classes[0]} classes and the '
            f'model has {classes[1]}: to test it, add --cfg-options '
            f'model.cls_head.num_classes={classes[0]}; to fine-tune from it, '
            "give StrictLoadHook ignore_keys=[r'^cls_head\\.'] in "
            'custom_hooks')
    if any(key.startswith(_IBM_PREFIXES) for key in state_dict):
        hints.append('This is a released IBM bLVNet-TAM file: convert it '
                     'with tools/convert_ibm_checkpoint.py first')
    if not hints:
        hints.append('It may come from another model or depth: compare '
                     "its config (checkpoint['meta']['cfg']) with this one")
    return hints


def _without_weightless_parts(model: nn.Module, state_dict: dict) -> dict:
    """``state_dict`` less the keys under the model's direct children that
    hold no tensors (e.g. a ``FeatureHead`` swapped in for the
    classifier)."""
    for part, child in model.named_children():
        prefix = part + '.'
        unused = [key for key in state_dict if key.startswith(prefix)]
        if unused and not child.state_dict():
            print_log(
                f'{len(unused)} checkpoint key(s) under {prefix}* are '
                f'not loaded: model.{part} ({type(child).__name__}) holds '
                'no weights', logger='current', level=logging.INFO)
            state_dict = {key: value for key, value in state_dict.items()
                          if not key.startswith(prefix)}
    return state_dict


def fitting_state_dict(model: nn.Module,
                       checkpoint: dict,
                       name: str,
                       ignore_keys: Sequence[re.Pattern] = ()) -> StateDict:
    """The tensors of ``checkpoint`` to load, if they fit ``model``.

    Args:
        model (nn.Module): The (unwrapped) model to load into.
        checkpoint (dict): A loaded MMEngine checkpoint or state dict.
        name (str): The checkpoint, for the message.
        ignore_keys (Sequence[re.Pattern]): Model keys allowed not to match.

    Returns:
        dict: The checkpoint's tensors without DataParallel's ``module.``
        prefix and without keys under parts holding no weights.

    Raises:
        CheckpointKeyError: Listing missing, unexpected and misshapen keys,
            with hints to fix them.
    """
    state_dict = strip_prefix({
        key: value
        for key, value in checkpoint.get('state_dict', checkpoint).items()
        if torch.is_tensor(value)
    }, 'module.')
    state_dict = _without_weightless_parts(model, state_dict)
    expected = model.state_dict()
    problems = [
        str(problem) for problem in model_mismatches(state_dict, expected)
        if not any(pattern.search(problem.key) for pattern in ignore_keys)
    ]
    if not problems:
        return state_dict
    shown = problems[:_SHOWN]
    if len(problems) > _SHOWN:
        shown.append(f'... and {len(problems) - _SHOWN} more')
    raise CheckpointKeyError(
        f'{name} does not fit the model ({len(problems)} key(s)); nothing '
        'was loaded. ' + '. '.join(_hints(state_dict, expected)) + '. Keys:',
        shown)


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Raise, listing the keys, when a loaded checkpoint does not fit.

    Runs in ``after_load_checkpoint``, i.e. for ``load_from`` and
    ``--resume`` in any runner (our tools, MMAction2's, ``mim``), before
    MMEngine copies the weights.

    Args:
        ignore_keys (Sequence[str]): Regular expressions of model keys
            allowed not to match (e.g. ``[r'^cls_head\\.']`` to fine-tune
            a checkpoint of another data set; those keys keep their
            initial weights). Defaults to none.
    """
    priority = 'LOW'  # after hooks that revise the checkpoint

    def __init__(self, ignore_keys: Sequence[str] = ()) -> None:
        self.ignore_keys = [re.compile(pattern) for pattern in ignore_keys]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Compare the checkpoint's keys and shapes with the model's."""
        fitting_state_dict(runner_model(runner), checkpoint,
                           _checkpoint_name(runner), self.ignore_keys)
