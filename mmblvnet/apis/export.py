"""ONNX export of a recognizer with a numeric parity check in onnxruntime.

The exported graph maps clips ``(N, T, 3, H, W)``, already normalised as
the data preprocessor outputs them (``(frame - mean) / std``, RGB), to
logits ``(N, num_classes)``: the backbone, the neck if any, and the head
with its consensus over the ``T`` segments (no softmax). The batch axis is
dynamic. The file carries ``mean``, ``std``, ``num_segments``,
``num_classes`` and ``input_layout`` as ONNX metadata.

Export goes through ``torch.export`` (``torch.onnx.export(dynamo=True)``),
during which bLResNet and TAM take their export forms (see
:mod:`mmblvnet.models.common.tam`); the parity check runs them in eager
PyTorch, so it also pins the two forms to each other.
"""
import math
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..models.common import TAM
from ..utils.complexity import RecognizerForward

INPUT_NAME = 'clips'
OUTPUT_NAME = 'logits'
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
# Ops whose weight (input 1) int8 quantizers need as a stored constant.
WEIGHTED_OPS = ('Conv', 'Gemm')
# Elements up to which constant subgraphs are folded at export: far above
# the largest weight of the shipped models (512 x 512 x 3 x 3).
FOLD_SIZE_LIMIT = 1 << 24


def _draw_parameters_(model: nn.Module, generator: torch.Generator) -> None:
    """He-normal weights, norm scales from U(0.5, 1.5), biases from
    N(0, 0.1); TAM kernels from N(0, 1 / k) so that blending matters."""
    for name, param in model.named_parameters():
        if name.startswith('data_preprocessor.'):
            continue
        if param.dim() >= 2:
            fan_in = param[0].numel()
            param.normal_(0.0, (2.0 / fan_in)**0.5, generator=generator)
        elif name.endswith('weight'):
            param.uniform_(0.5, 1.5, generator=generator)
        else:
            param.normal_(0.0, 0.1, generator=generator)
    for module in model.modules():
        if isinstance(module, TAM):
            module.weight.normal_(0.0, module.blending_frames**-0.5,
                                  generator=generator)


def _calibrate_batch_norm_(model: nn.Module, clips: Tensor) -> None:
    """Set every BN's running statistics to those of its input on
    ``clips`` (N, T, 3, H, W), as a pass in training mode measures them."""
    norms = [m for m in model.modules() if isinstance(m, _NORMS)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: this pass only
    model.train()
    try:
        RecognizerForward(model)(clips)
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.eval()


def random_weights_(model: nn.Module,
                    clip_shape: Sequence[int],
                    seed: int = 0) -> nn.Module:
    """Random weights whose logits depend on the input, in place.

    A freshly built bLResNet zero-initialises each residual branch's last
    BN and its head has weights of std 0.001: its logits are ~1e-7, so a
    parity check on them would compare almost nothing. Weights drawn
    naively (BN statistics included) let the input's share of the
    activations fade stage by stage until the logits are a constant.
    Here parameters are drawn at random and then each BN's running
    statistics are measured on random clips, so every layer sees
    normalised, input-dependent activations. The data preprocessor
    (``mean``, ``std``) is left as configured.

    Args:
        model (nn.Module): A 2D recognizer; left in eval mode.
        clip_shape (Sequence[int]): ``(T, 3, H, W)`` of one clip.
        seed (int): Seed of the draw.

    Returns:
        nn.Module: ``model``.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        _draw_parameters_(model, generator)
        clips = torch.randn(4, *clip_shape, generator=generator)
        _calibrate_batch_norm_(model, clips)
    return model


def onnx_metadata(model: nn.Module, num_segments: int) -> Dict[str, str]:
    """What a user of the ONNX file needs to feed it, as strings."""
    preprocessor = getattr(model, 'data_preprocessor', None)
    metadata = dict(
        input_layout='N T C H W, RGB, normalised: (frame - mean) / std',
        num_segments=str(num_segments),
        num_classes=str(model.cls_head.num_classes))
    for key in ('mean', 'std'):
        value = getattr(preprocessor, key, None)
        if value is not None:
            values = [round(v, 4) for v in value.flatten().tolist()]
            metadata[key] = str(values)
    return metadata


def export_onnx(model: nn.Module,
                clip_shape: Sequence[int],
                path: str,
                metadata: Optional[Dict[str, str]] = None) -> None:
    """Export ``model`` to ``path`` with a dynamic batch axis.

    Args:
        model (nn.Module): A 2D recognizer (eval mode is set here).
        clip_shape (Sequence[int]): ``(T, 3, H, W)`` of one clip; the graph
            takes ``(N, T, 3, H, W)``.
        path (str): Output ``.onnx`` file (see :func:`save_onnx_program`,
            which raises if the file is not self-contained or computes a
            weight in the graph).
        metadata (dict, optional): ``metadata_props`` of the file.
    """
    wrapper = RecognizerForward(model.eval()).eval()
    example = torch.randn(2, *clip_shape)
    batch = torch.export.Dim('batch', min=1, max=1024)
    program = torch.onnx.export(
        wrapper, (example, ),
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={'inputs': {0: batch}},
        verbose=False)
    save_onnx_program(program, path, metadata)


def save_onnx_program(program, path: str,
                      metadata: Optional[Dict[str, str]] = None) -> None:
    """Fold the constants of an exported program and save it to ``path``.

    Args:
        program (torch.onnx.ONNXProgram): What ``torch.onnx.export``
            returned.
        path (str): Output ``.onnx`` file, written as one file: the
            weights are never put in a separate external-data file (which
            a move of ``path`` alone would leave behind).
        metadata (dict, optional): ``metadata_props`` of the file.

    Raises:
        RuntimeError: If the exporter wrote anything besides ``path``, or
            a convolution or linear weight is computed in the graph
            instead of stored (see :func:`computed_weights`).
    """
    folder = osp.dirname(osp.abspath(path))
    before = set(os.listdir(folder))
    import onnxscript.optimizer

    # Fold every constant subgraph into a stored tensor whatever its size
    # (the exporter's own pass stops at 8192 elements, which would leave
    # the stem's folded weight, 64 x 3 x 7 x 7, computed in the graph).
    onnxscript.optimizer.optimize(
        program.model, input_size_limit=FOLD_SIZE_LIMIT,
        output_size_limit=FOLD_SIZE_LIMIT)
    program.model.metadata_props.update(metadata or {})
    program.save(path, external_data=False)
    extra = set(os.listdir(folder)) - before - {osp.basename(path)}
    if extra:
        raise RuntimeError(f'the ONNX exporter wrote {sorted(extra)} next '
                           f'to {path}; expected one self-contained file')
    import onnx
    computed = computed_weights(onnx.load(path))
    if computed:
        raise RuntimeError(
            f'{path}: {len(computed)} Conv/Gemm weights are computed in the '
            f'graph instead of stored (e.g. {computed[:3]}); int8 '
            'quantizers need them as initializers')


def computed_weights(graph_model) -> List[str]:
    """Weights of Conv and Gemm nodes that are not initializers.

    ONNX Runtime's quantizers (and OpenVINO's) quantize a convolution only
    if its weight is a constant of the file: a weight computed by other
    nodes (e.g. BatchNorm folded inside the graph) fails
    ``quantize_static``/``quantize_dynamic`` with "Expected ... to be an
    initializer". The exporter here folds BatchNorm into stored weights.

    Args:
        graph_model (onnx.ModelProto): A loaded ONNX model.

    Returns:
        list[str]: Names of the weight inputs computed in the graph.
    """
    graph = graph_model.graph
    stored = {tensor.name for tensor in graph.initializer}
    return [
        node.input[1] for node in graph.node
        if node.op_type in WEIGHTED_OPS and node.input[1] not in stored
    ]


def onnx_parity(model: nn.Module,
                path: str,
                clip_shape: Sequence[int],
                batch_sizes: Sequence[int] = (1, 3),
                seed: int = 0) -> Dict[int, Dict[str, float]]:
    """Max abs difference of onnxruntime's logits to PyTorch's.

    Args:
        model (nn.Module): The exported recognizer.
        path (str): The ``.onnx`` file.
        clip_shape (Sequence[int]): ``(T, 3, H, W)`` of one clip.
        batch_sizes (Sequence[int]): Batch sizes ``N`` to compare, each on
            its own random clips of shape (N, T, 3, H, W).
        seed (int): Seed of the random clips.

    Returns:
        dict: Per batch size, ``max_abs_diff`` and ``logit_scale`` (the
        largest absolute PyTorch logit).
    """
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    wrapper = RecognizerForward(model.eval()).eval()
    generator = torch.Generator().manual_seed(seed)
    results = {}
    for batch in batch_sizes:
        clips = torch.randn(batch, *clip_shape, generator=generator)
        with torch.no_grad():
            expected = wrapper(clips).cpu().numpy()
        (actual, ) = session.run([OUTPUT_NAME], {INPUT_NAME: clips.numpy()})
        if actual.shape != expected.shape:
            raise RuntimeError(
                f'{path}: onnxruntime gave logits of shape {actual.shape} '
                f'for batch {batch}, PyTorch {expected.shape}')
        results[batch] = dict(
            max_abs_diff=float(np.abs(actual - expected).max()),
            logit_scale=float(np.abs(expected).max()))
    return results


def relative_diff(result: Dict[str, float]) -> float:
    """``max_abs_diff / logit_scale`` of one :func:`onnx_parity` entry;
    ``inf`` when either is NaN or Inf (a graph computing NaN fails)."""
    relative = result['max_abs_diff'] / max(result['logit_scale'], 1e-12)
    return relative if math.isfinite(relative) else math.inf


def worst_relative_diff(results: Dict[int, Dict[str, float]]) -> float:
    """The largest :func:`relative_diff` over the batch sizes.

    Taken per entry through :func:`relative_diff`, so a NaN counts as the
    worst (``inf``): ``max(worst, nan)`` would keep the previous worst.

    Args:
        results (dict): :func:`onnx_parity`'s result.

    Returns:
        float: The worst relative difference (0 for no entry).
    """
    return max((relative_diff(r) for r in results.values()), default=0.0)
