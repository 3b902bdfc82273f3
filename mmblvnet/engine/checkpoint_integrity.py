"""Refuse damaged checkpoints on every load path, naming the file.

``torch.load`` does not verify the CRC-32 checksums that ``torch.save``
stores for each record of its zip format: a file with bytes damaged in
the middle loads without complaint (weights of 3e38, a confident wrong
prediction). A file with NaN weights loads too, and an empty, truncated
or non-dict file fails with a bare ``EOFError`` or ``AttributeError``.

:func:`load_checked` reads a local checkpoint, verifies it and returns
it; it raises :class:`CheckpointFileError` (a ``ValueError``) whose
message starts with the file and gives the reason. ``RobustRunner`` runs
it on every local file it loads (``load_from``, ``--resume``,
``tools/test.py``); the converter, the export and the demo call it too.
MMEngine's own loaders stay as they are.
"""
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, List, Mapping, Optional

import torch

_SHOWN = 5


class CheckpointFileError(ValueError):
    """A checkpoint file that is damaged or holds no usable weights.

    The message is ``'<file>: <reason>'``.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f'{path}: {reason}')


class UnloadableCheckpointError(CheckpointFileError, pickle.UnpicklingError):
    """A checkpoint that cannot be unpickled, e.g. one whose pickle names
    a global outside the ``weights_only`` allow-list."""


def list_names(names: List[str]) -> str:
    """The first five of ``names``, and how many more there are."""
    shown = ', '.join(names[:_SHOWN])
    more = len(names) - _SHOWN
    return shown + (f' and {more} more' if more > 0 else '')


def _finite(tensor: torch.Tensor) -> bool:
    """Whether a float tensor holds no NaN or Inf.

    One min/max pass (NaN propagates into both) instead of a full-size
    ``isfinite`` mask (both timed in docs/robustness.md).
    """
    if tensor.numel() == 0:
        return True
    low, high = torch.aminmax(tensor.detach())
    return bool(torch.isfinite(low) & torch.isfinite(high))


def non_finite_names(state_dict: Mapping[str, Any]) -> List[str]:
    """Names of the float tensors of ``state_dict`` that hold NaN or Inf."""
    return [
        key for key, value in state_dict.items()
        if torch.is_tensor(value) and value.is_floating_point()
        and not _finite(value)
    ]


def check_state_dict(state_dict: Mapping[str, Any], source: str) -> None:
    """Raise unless every float tensor is finite and every
    ``running_var`` non-negative.

    Args:
        state_dict (Mapping[str, Any]): Tensors by name; other values and
            integer tensors are ignored.
        source (str): The file they come from, for the message.

    Raises:
        CheckpointFileError: Naming the file and the tensors, one phrase
            per kind of problem.
    """
    non_finite = non_finite_names(state_dict)
    negative_var = [
        key for key, value in state_dict.items()
        if str(key).endswith('running_var') and key not in non_finite
        and torch.is_tensor(value) and bool((value < 0).any())
    ]
    problems = []
    if non_finite:
        problems.append('non-finite (NaN or Inf) weights in '
                        f'{list_names(non_finite)}')
    if negative_var:
        problems.append('negative BatchNorm variance in '
                        f'{list_names(negative_var)}')
    if problems:
        raise CheckpointFileError(
            source, '; '.join(problems) + ' (a diverged run or a damaged '
            'file); use an earlier checkpoint')


def verify_archive(path: str) -> None:
    """Check every record of a ``torch.save`` zip file against its CRC-32.

    Files of the legacy (non-zip) format carry no checksum; damage there
    is found only when it breaks unpickling.

    Args:
        path (str): A local file.

    Raises:
        CheckpointFileError: If a record is damaged or the archive is
            truncated.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise CheckpointFileError(
            path, f'damaged zip archive ({error}); the file is truncated '
            'or corrupt, copy it again') from error
    if damaged is not None:
        raise CheckpointFileError(
            path, f'damaged: the record {damaged} does not match its CRC-32 '
            'checksum; the file is corrupt, copy it again')


def _torch_load(path: str, map_location, weights_only: Optional[bool]):
    kwargs = {} if weights_only is None else dict(weights_only=weights_only)
    try:
        return torch.load(path, map_location=map_location, **kwargs)
    except pickle.UnpicklingError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        refused = [line for line in lines if 'GLOBAL' in line]
        reason = ' '.join((refused or lines or ['cannot be unpickled'])[0]
                          .split())
        raise UnloadableCheckpointError(
            path, f'not a loadable PyTorch checkpoint ({reason})') from error
    except (EOFError, RuntimeError, ValueError, KeyError,
            zipfile.BadZipFile, UnicodeDecodeError) as error:
        # The first sentence: the rest of torch's text guesses at causes.
        reason = ' '.join(str(error).split()).split('. ')[0][:300]
        reason = reason or type(error).__name__
        raise CheckpointFileError(
            path, f'not a PyTorch checkpoint or truncated ({reason})'
        ) from error


def load_checked(path: str,
                 map_location=None,
                 weights_only: Optional[bool] = None) -> dict:
    """Load a local checkpoint file, refusing damaged or unusable ones.

    Checks, in this order: the file exists and is not empty; the zip
    records match their CRC-32 (:func:`verify_archive`); ``torch.load``
    succeeds; the result is a dict, and so is its ``state_dict`` entry if
    it has one; the weights pass :func:`check_state_dict`.

    Args:
        path (str): Local file (``~`` is expanded).
        map_location: As for ``torch.load``.
        weights_only (bool, optional): As for ``torch.load``; None keeps
            torch's default (True since torch 2.6).

    Returns:
        dict: The loaded checkpoint.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        CheckpointFileError: Naming the file and the reason otherwise.
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    if os.path.getsize(path) == 0:
        raise CheckpointFileError(path, 'the file is empty (0 bytes)')
    verify_archive(path)
    checkpoint = _torch_load(path, map_location, weights_only)
    if not isinstance(checkpoint, dict):
        raise CheckpointFileError(
            path, f'holds a {type(checkpoint).__name__}, not a checkpoint '
            '(a dict of tensors by name, or one with a state_dict entry)')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, dict):
        raise CheckpointFileError(
            path, "its 'state_dict' entry is a "
            f'{type(state_dict).__name__}, not a dict of tensors')
    check_state_dict(state_dict, path)
    return checkpoint
