"""Converters of IBM's released checkpoints into MMEngine checkpoints.

``FORMATS`` lists each supported format: a predicate that recognises its
keys and the function converting it. ``convert_checkpoint`` detects the
format unless told, converts, and raises :class:`CheckpointKeyError` with
the offending keys instead of ever returning a partial result.
"""
from collections import OrderedDict
from typing import Callable, Dict, NamedTuple, Optional, Tuple

from .biglittlenet import convert_biglittlenet
from .blvnet_tam import convert_blvnet_tam
from .key_rules import CheckpointKeyError, StateDict, strip_prefix
from .tam_resnet import convert_tam_resnet, is_tam_resnet


class CheckpointFormat(NamedTuple):
    """A checkpoint format: how to recognise it and how to convert it."""
    description: str
    matches: Callable[[StateDict], bool]
    convert: Callable[[StateDict], Tuple[StateDict, Dict]]


def _has_key(name: str) -> Callable[[StateDict], bool]:
    return lambda state: name in strip_prefix(state, 'module.')


FORMATS: Dict[str, CheckpointFormat] = OrderedDict(
    blvnet_tam=CheckpointFormat(
        'IBM/bLVNet-TAM video model (baseline_model.*, new_fc.*)',
        _has_key('baseline_model.conv1.weight'), convert_blvnet_tam),
    tam_resnet=CheckpointFormat(
        'IBM/action-recognition-pytorch TAM-ResNet video model '
        '(layer*.tam.*, fc.*)', is_tam_resnet, convert_tam_resnet),
    biglittlenet=CheckpointFormat(
        'IBM/BigLittleNet ImageNet bLResNet, to bLResNet backbone weights '
        '(bl_init.*, fc.*)', _has_key('bl_init.weight'),
        convert_biglittlenet),
)


def unwrap_state_dict(checkpoint: dict) -> StateDict:
    """The tensors of a loaded file: its ``state_dict`` entry if any."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        raise CheckpointKeyError(
            f'expected a state dict, got {type(state).__name__}')
    return state


def detect_format(state_dict: StateDict) -> str:
    """Name of the format in ``FORMATS`` whose keys ``state_dict`` has."""
    for name, fmt in FORMATS.items():
        if fmt.matches(state_dict):
            return name
    raise CheckpointKeyError(
        'unknown checkpoint format (known: ' + ', '.join(
            f'{n}: {f.description}' for n, f in FORMATS.items()) +
        '); first keys of the file:', list(state_dict)[:20])


def convert_checkpoint(
        checkpoint: dict,
        fmt: Optional[str] = None) -> Tuple[StateDict, Dict, str]:
    """Convert a loaded IBM checkpoint.

    Args:
        checkpoint (dict): The loaded file.
        fmt (str, optional): A key of ``FORMATS``; detected if None.

    Returns:
        tuple: Converted state dict, architecture facts, format name.
    """
    state_dict = unwrap_state_dict(checkpoint)
    fmt = fmt or detect_format(state_dict)
    if fmt not in FORMATS:
        raise ValueError(f'unknown --format {fmt!r}; choose one of '
                         f'{list(FORMATS)}')
    converted, arch = FORMATS[fmt].convert(state_dict)
    return converted, arch, fmt


__all__ = [
    'FORMATS', 'CheckpointFormat', 'CheckpointKeyError', 'convert_checkpoint',
    'detect_format', 'unwrap_state_dict'
]
