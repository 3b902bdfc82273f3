"""ONNX export of a recognizer with a numeric parity check in onnxruntime.

The exported graph maps clips ``(N, T, 3, H, W)`` (already normalised, as
the data preprocessor outputs them) to logits ``(N, num_classes)``: the
backbone, the neck if any, and the head with its consensus over the ``T``
segments. The batch axis is dynamic. Export goes through torch's
``torch.export``-based exporter, which functionalises bLResNet's in-place
fast paths (TAM's in-place blending, the broadcast upsample-add), so the
graph computes exactly what PyTorch computes.
"""
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

from ..utils.complexity import RecognizerForward


def export_onnx(model: nn.Module, clip_shape: Sequence[int],
                path: str) -> None:
    """Export ``model`` to ``path`` with a dynamic batch axis.

    Args:
        model (nn.Module): A 2D recognizer (eval mode is set here).
        clip_shape (Sequence[int]): ``(T, 3, H, W)`` of one clip.
        path (str): Output ``.onnx`` file.
    """
    wrapper = RecognizerForward(model.eval())
    example = torch.randn(2, *clip_shape)
    batch = torch.export.Dim('batch', min=1, max=1024)
    torch.onnx.export(
        wrapper, (example, ),
        path,
        dynamo=True,
        input_names=['clips'],
        output_names=['logits'],
        dynamic_shapes={'inputs': {0: batch}},
        verbose=False)


def onnx_parity(model: nn.Module, path: str, clip_shape: Sequence[int],
                batch_sizes: Sequence[int] = (1, 3),
                seed: int = 0) -> Dict[int, Dict[str, float]]:
    """Max abs difference of onnxruntime's logits to PyTorch's.

    Args:
        model (nn.Module): The exported recognizer.
        path (str): The ``.onnx`` file.
        clip_shape (Sequence[int]): ``(T, 3, H, W)`` of one clip.
        batch_sizes (Sequence[int]): Batch sizes to compare.
        seed (int): Seed of the random clips.

    Returns:
        dict: Per batch size, ``max_abs_diff`` and ``logit_scale`` (the
        largest absolute PyTorch logit).
    """
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    wrapper = RecognizerForward(model.eval())
    generator = torch.Generator().manual_seed(seed)
    results = {}
    for batch in batch_sizes:
        clips = torch.randn(batch, *clip_shape, generator=generator)
        with torch.no_grad():
            expected = wrapper(clips).numpy()
        (actual, ) = session.run(None, {'clips': clips.numpy()})
        results[batch] = dict(
            max_abs_diff=float(np.abs(actual - expected).max()),
            logit_scale=float(np.abs(expected).max()))
    return results


def replace_atomically(src: str, dst: str, overwrite: bool) -> None:
    """Move ``src`` to ``dst``; refuse to replace ``dst`` unless asked."""
    if osp.exists(dst) and not overwrite:
        raise FileExistsError(f'{dst} exists; pass --overwrite to replace '
                              'it')
    os.replace(src, dst)
