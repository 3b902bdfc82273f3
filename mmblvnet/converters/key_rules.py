"""Checkpoint key mapping driven by tables of rules.

A rule is ``(pattern, replacement)``: a regular expression matched against
the whole source key and the target key it becomes (``re`` group syntax).
A replacement ending in ``#<slot>`` stacks several source tensors into one
target: the depthwise TAM kernels ``prev``/``curr``/``next`` (each of shape
(C, 1, 1, 1)) become rows 0/1/2 of one (k, C) ``weight``. A replacement of
``None`` drops the key on purpose (e.g. an ImageNet classifier).
"""
import re
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

Rule = Tuple[str, Optional[str]]
StateDict = Dict[str, torch.Tensor]


class CheckpointKeyError(KeyError):
    """A checkpoint whose keys do not fit the model, listing the keys."""

    def __init__(self, message: str, keys: Sequence[str] = ()) -> None:
        self.keys = list(keys)
        listing = ''.join(f'\n  {key}' for key in self.keys)
        super().__init__(message + listing)

    def __str__(self) -> str:
        return self.args[0]


def strip_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Remove ``prefix`` from every key that starts with it."""
    return OrderedDict(
        (key[len(prefix):] if key.startswith(prefix) else key, value)
        for key, value in state_dict.items())


def _stack_slots(slotted: Dict[str, Dict[int, torch.Tensor]],
                 problems: List[str]) -> StateDict:
    stacked = OrderedDict()
    for target, rows in slotted.items():
        if sorted(rows) != list(range(len(rows))):
            problems.append(f'{target}: rows {sorted(rows)} are not '
                            f'0..{len(rows) - 1}')
            continue
        stacked[target] = torch.stack(
            [rows[index].reshape(-1) for index in range(len(rows))])
    return stacked


def apply_rules(state_dict: StateDict,
                rules: Sequence[Rule]) -> Tuple[StateDict, List[str]]:
    """Map every key through the first rule whose pattern matches it.

    Args:
        state_dict (dict): Source tensors.
        rules (Sequence[tuple]): ``(pattern, replacement)`` pairs.

    Returns:
        tuple: The mapped state dict and the source keys no rule matched
        (plus any malformed stacked target).
    """
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    mapped = OrderedDict()
    slotted: Dict[str, Dict[int, torch.Tensor]] = OrderedDict()
    unmapped = []
    for key, value in state_dict.items():
        for pattern, replacement in compiled:
            match = pattern.fullmatch(key)
            if match is None:
                continue
            if replacement is not None:
                target = match.expand(replacement)
                if '#' in target:
                    target, slot = target.split('#')
                    slotted.setdefault(target, {})[int(slot)] = value
                else:
                    mapped[target] = value
            break
        else:
            unmapped.append(key)
    mapped.update(_stack_slots(slotted, unmapped))
    return mapped, unmapped


def model_state(backbone_cls: type,
                arch: Dict,
                arch_args: Sequence[str],
                with_head: bool = False,
                **backbone_args) -> StateDict:
    """Keys and shapes of the model a converted checkpoint must fit.

    Built on the meta device: no memory is allocated, no weight computed.

    Args:
        backbone_cls (type): Backbone class, e.g. ``bLResNet``.
        arch (dict): What a converter read from the checkpoint (e.g.
            ``depth``; ``num_classes`` with a head).
        arch_args (Sequence[str]): Keys of ``arch`` that are arguments of
            ``backbone_cls``.
        with_head (bool): Add a ``SegmentHead`` of ``arch['num_classes']``
            classes (a recognizer's keys) or not (a bare backbone's).
        **backbone_args: Further arguments of ``backbone_cls``.

    Returns:
        dict: The backbone's ``state_dict()`` (meta tensors); with a head,
        a recognizer's (``backbone.*``, ``cls_head.*``).
    """
    from ..models.heads.segment_head import SegmentHead
    backbone_args.update((key, arch[key]) for key in arch_args)
    with torch.device('meta'):
        backbone = backbone_cls(**backbone_args)
        if not with_head:
            return backbone.state_dict()
        head = SegmentHead(arch['num_classes'], backbone.feat_dim)
    expected = OrderedDict(
        (f'backbone.{k}', v) for k, v in backbone.state_dict().items())
    expected.update(
        (f'cls_head.{k}', v) for k, v in head.state_dict().items())
    return expected


class KeyMismatch(NamedTuple):
    """One key that keeps a state dict from loading strictly."""
    key: str
    line: str  # e.g. 'missing: conv1.weight', as error messages list it

    def __str__(self) -> str:
        return self.line


def model_mismatches(state_dict: StateDict,
                     expected: StateDict) -> List[KeyMismatch]:
    """Keys that keep ``state_dict`` from loading strictly into a model.

    Args:
        state_dict (dict): Converted tensors.
        expected (dict): The target model's ``state_dict()``.

    Returns:
        list[KeyMismatch]: One per missing, unexpected or misshapen key.
    """
    problems = [KeyMismatch(key, f'missing: {key}')
                for key in expected if key not in state_dict]
    for key, value in state_dict.items():
        if key not in expected:
            problems.append(KeyMismatch(key, f'unexpected: {key}'))
        elif value.shape != expected[key].shape:
            problems.append(KeyMismatch(
                key, f'wrong shape: {key}: checkpoint '
                f'{tuple(value.shape)}, model '
                f'{tuple(expected[key].shape)}'))
    return problems


def check_against_model(state_dict: StateDict,
                        expected: StateDict,
                        what: str,
                        unmapped: Sequence[str] = ()) -> None:
    """Raise unless ``state_dict`` loads strictly into the model.

    Args:
        state_dict (dict): Converted tensors.
        expected (dict): The target model's ``state_dict()``.
        what (str): What was converted, for the message.
        unmapped (Sequence[str]): Source keys no rule matched.

    Raises:
        CheckpointKeyError: Listing every unmapped, missing, unexpected or
            misshapen key.
    """
    problems = [f'no conversion rule: {key}' for key in unmapped]
    problems += [str(m) for m in model_mismatches(state_dict, expected)]
    if problems:
        raise CheckpointKeyError(
            f'{what} does not fit the model ({len(problems)} key(s)):',
            problems)
