"""Online recognition: one frame pair at a time, with stream buffers.

A bLVNet-TAM recognizer whose TAMs are causal (``tam_cfg=dict(...,
causal=True)``) computes the map of a frame pair from that pair and the
ones before it only. :class:`OnlineRecognizer` runs such a model one pair
per stream and call: every TAM is replaced by a :class:`StreamingTAM`
that keeps the inputs of the last ``k - 1`` frames it saw (its stream
buffer, zeros at the start, as the frames before a clip count in a clip
forward) and blends them with the new ones. The rest of the network has
no memory across pairs. So from empty buffers, pair ``j`` gets exactly
the map the clip forward gives pair ``j``, at the cost of one pair instead
of a whole clip.
"""
import ast
import copy
import functools
from collections import deque
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.cnn import fuse_conv_bn
from torch import Tensor, nn

from ..models.backbones.blresnet import BigLittleModule, bLResNet
from ..models.common.tam import TAM
from .runtime import (
    average_clip,
    make_runner,
    read_metadata,
    read_normalisation,
)

PAIR_NAME = 'pair'
LOGITS_NAME = 'logits'


def stream_pairs(clips):
    """The frame pairs of clips, in order: what a stream of each clip
    feeds its online steps.

    Args:
        clips (torch.Tensor | np.ndarray): (S, T, C, H, W), T even.

    Returns:
        list: ``T / 2`` pairs, each (S, 2, C, H, W) (views of ``clips``).
    """
    return [clips[:, start:start + 2] for start in range(0, clips.shape[1],
                                                         2)]


class StreamingTAM(nn.Module):
    """A causal :class:`TAM` applied to one time step per stream and call.

    Shares the weight of the TAM it wraps. Calls mirror the TAM's:
    :meth:`forward` takes one frame (or, in bLResNet's layer4, one pair
    map) per stream, :meth:`forward_pairs` the even and the odd frame of
    one pair per stream. The buffer is the list of the last ``k - 1``
    frames, oldest first, each (S, C, H, W), or, where both frames of a
    pair hold one map, of the last ``ceil((k - 1) / 2)`` pair maps. In an
    exported graph every term of the blend is a depthwise 1x1 convolution
    of a 4-D map, which ONNX Runtime and OpenVINO run in their own layout
    and, in int8, on int8 kernels; eager PyTorch sums the weighted maps in
    place.

    Args:
        tam (TAM): A causal TAM.
        shared_maps (bool): Whether every call passes one map as both
            frames of a pair (bLResNet's layers 1-3 blend
            ``forward_pairs(x, x)``). Defaults to False.
    """

    def __init__(self, tam: TAM, shared_maps: bool = False) -> None:
        super().__init__()
        if not tam.causal:
            raise ValueError(
                'online recognition needs causal TAMs (an offline TAM '
                'blends the next frame too): build the model with '
                'tam_cfg=dict(blending_frames=3, causal=True) (bLResNet) '
                'or causal=True (ResNetTAM, TAMNeck)')
        self.tam = tam
        self.shared_maps = shared_maps
        history = tam.blending_frames - 1
        self.num_buffers = -(-history // 2) if shared_maps else history
        self.buffer: Optional[List[Tensor]] = None  # set by a call

    def reset(self) -> None:
        """Forget the frames seen (the next call starts a new clip)."""
        self.buffer = None

    def _history(self, step: Tensor) -> List[Tensor]:
        """The buffered frames, zeros before the first call."""
        if self.buffer is None:
            return [torch.zeros_like(step)] * self.num_buffers
        return self.buffer

    def _blend_last(self, frames: Sequence[Tensor]) -> Tensor:
        """TAM's output at the last of ``frames`` (k maps, oldest first,
        each (S, C, H, W))."""
        rows = self.tam.weight
        if (self.tam.blending_method == 'sum'
                and not torch.onnx.is_in_onnx_export()):
            # Eager: products summed in place (a depthwise convolution per
            # term and out-of-place sums made a step of bLVNet-TAM-50 1.24x
            # slower: one stream and eight, 224 px, 2 threads).
            blended = frames[0] * rows[0].view(-1, 1, 1)
            for frame, row in zip(frames[1:], rows[1:]):
                blended.addcmul_(frame, row.view(-1, 1, 1))
            return blended.relu_()
        terms = [
            F.conv2d(frame, row.view(-1, 1, 1, 1), groups=row.numel())
            for frame, row in zip(frames, rows)
        ]
        if self.tam.blending_method == 'max':
            return functools.reduce(torch.maximum, terms).relu()
        return functools.reduce(torch.add, terms).relu()

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (torch.Tensor): One step per stream, (S, C, H, W).

        Returns:
            torch.Tensor: The blended step, (S, C, H, W).
        """
        frames = [*self._history(x), x]
        self.buffer = frames[1:]
        return self._blend_last(frames)

    def forward_pairs(self, even: Tensor,
                      odd: Tensor) -> Tuple[Tensor, Tensor]:
        """Args:
            even (torch.Tensor): The even frame of one pair per stream,
                (S, C, H, W).
            odd (torch.Tensor): The odd frame (``even`` itself, and not
                read, when ``shared_maps``).

        Returns:
            tuple[torch.Tensor]: Blended even and odd frames, each
            (S, C, H, W).
        """
        k = self.tam.blending_frames
        if self.shared_maps:
            maps = [*self._history(even), even]
            self.buffer = maps[1:]
            frames = [pair_map for pair_map in maps for _ in range(2)]
            frames = frames[-(k + 1):]
        else:
            frames = [*self._history(even), even, odd]
            self.buffer = frames[2:]
        return (self._blend_last(frames[:k]),
                self._blend_last(frames[1:k + 1]))


class OnlineRecognizer:
    """Class scores that follow a stream, one frame pair per call.

    Args:
        model (nn.Module): A ``Recognizer2D`` with a :class:`bLResNet`
            backbone whose TAMs are causal and a segment head (e.g.
            ``SegmentHead``); it is copied (the original is not changed)
            and, since the copy only infers, each BatchNorm is folded into
            its convolution (MMCV's ``fuse_conv_bn``).
        window (int, optional): Pairs whose class logits are averaged into
            the scores; ``T / 2`` (the span of a training clip) if None.

    Example:
        >>> online = OnlineRecognizer(model, window=8)
        >>> for pair in pairs:  # (streams, 2, 3, H, W), normalized
        ...     scores = online.step(pair)  # (streams, num_classes)
    """

    def __init__(self, model: nn.Module,
                 window: Optional[int] = None) -> None:
        if not isinstance(getattr(model, 'backbone', None), bLResNet):
            raise TypeError('OnlineRecognizer needs a recognizer with a '
                            'bLResNet backbone, got '
                            f'{type(getattr(model, "backbone", model))}')
        if window is None:
            window = model.backbone.num_segments // 2
        if window < 1:
            raise ValueError(f'window must be at least one pair, got '
                             f'{window}')
        self.model = fuse_conv_bn(copy.deepcopy(model).eval())
        self.streaming_tams = []
        for module in list(self.model.backbone.modules()):
            for name, child in module.named_children():
                if isinstance(child, TAM):
                    streaming = StreamingTAM(
                        child, isinstance(module, BigLittleModule))
                    setattr(module, name, streaming)
                    self.streaming_tams.append(streaming)
        self.logits = deque(maxlen=window)

    def reset(self) -> None:
        """Empty every stream buffer and the window of scores."""
        for tam in self.streaming_tams:
            tam.reset()
        self.logits.clear()

    @torch.no_grad()
    def features(self, pair: Tensor) -> Tensor:
        """Backbone map of the next pair of every stream.

        Args:
            pair (torch.Tensor): Normalized frames, (S, 2, C, H, W).

        Returns:
            torch.Tensor: (S, 2048, H / 32, W / 32), the map the clip
            forward gives this pair.
        """
        if pair.dim() != 5 or pair.shape[1] != 2:
            raise ValueError('OnlineRecognizer takes one frame pair per '
                             'stream, (streams, 2, C, H, W), but got '
                             f'shape {tuple(pair.shape)}')
        held = self.streaming_tams[0].buffer if self.streaming_tams else None
        if held and held[0].shape[0] != pair.shape[0]:
            raise ValueError(f'got pairs of {pair.shape[0]} streams, but the '
                             f'buffers hold {held[0].shape[0]}: call reset() '
                             'before stepping another set of streams')
        return self.model.backbone.pair_maps(pair.flatten(0, 1))

    @torch.no_grad()
    def step(self, pair: Tensor) -> Tensor:
        """Scores after the next pair of every stream.

        Args:
            pair (torch.Tensor): Normalized frames, (S, 2, C, H, W).

        Returns:
            torch.Tensor: (S, num_classes): the head's logits of the last
            ``window`` pairs averaged, then the head's ``average_clips``
            (a softmax for ``'prob'``), as a clip of those pairs is scored.
        """
        head = self.model.cls_head
        self.logits.append(head(self.features(pair), num_segs=1))
        return head.average_clip(
            torch.stack(tuple(self.logits)).mean(0), num_segs=1)


class StepGraph(nn.Module):
    """One online step as a function of its buffers, for export.

    ``forward(pair, *buffers)`` returns ``(logits, *next_buffers)``: the
    stream buffers are inputs and outputs (the stream-buffer form of
    MoViNet), so an exported graph keeps no state and one file serves any
    number of streams. The window average stays outside.

    Args:
        online (OnlineRecognizer): Its model and streaming TAMs.
    """

    def __init__(self, online: OnlineRecognizer) -> None:
        super().__init__()
        self.model = online.model
        self.tams = online.streaming_tams

    def forward(self, pair: Tensor, *buffers: Tensor) -> Tuple[Tensor, ...]:
        """Args:
            pair (torch.Tensor): Normalized frames, (S, 2, C, H, W).
            *buffers (torch.Tensor): The ``k - 1`` buffered frames of
                every streaming TAM in turn, in the order of
                :func:`initial_buffers`.

        Returns:
            tuple[torch.Tensor]: Logits of the pair (S, num_classes), then
            the buffers after it.
        """
        start = 0
        for tam in self.tams:
            tam.buffer = list(buffers[start:start + tam.num_buffers])
            start += tam.num_buffers
        features = self.model.backbone.pair_maps(pair.flatten(0, 1))
        logits = self.model.cls_head(features, num_segs=1)
        return (logits, *(frame for tam in self.tams for frame in tam.buffer))


def initial_buffers(online: OnlineRecognizer, frame_shape: Sequence[int],
                    streams: int = 1) -> List[Tensor]:
    """Empty (zero) stream buffers for frames of ``frame_shape``.

    Args:
        online (OnlineRecognizer): The recognizer (its buffers are reset).
        frame_shape (Sequence[int]): ``(C, H, W)`` of one frame.
        streams (int): Streams ``S``.

    Returns:
        list[torch.Tensor]: ``k - 1`` zero maps per streaming TAM, each
        (S, C_tam, H_tam, W_tam).
    """
    online.reset()
    online.features(torch.zeros(streams, 2, *frame_shape))
    buffers = [torch.zeros_like(frame) for tam in online.streaming_tams
               for frame in tam.buffer]
    online.reset()
    return buffers


def export_step_onnx(online: OnlineRecognizer, frame_shape: Sequence[int],
                     path: str) -> None:
    """Export one online step to ``path``, the stream axis dynamic.

    Inputs ``pair`` (S, 2, C, H, W) and ``buffer_0 ..``; outputs
    ``logits`` (S, num_classes) and ``next_buffer_0 ..``, which the next
    step takes as its buffers (zeros at the start of a stream).

    Args:
        online (OnlineRecognizer): The recognizer to export.
        frame_shape (Sequence[int]): ``(C, H, W)`` of one frame.
        path (str): Output ``.onnx`` file.
    """
    from .export import onnx_metadata, save_onnx_program
    buffers = initial_buffers(online, frame_shape, streams=2)
    names = [f'buffer_{index}' for index in range(len(buffers))]
    streams = torch.export.Dim('streams', min=1, max=1024)
    program = torch.onnx.export(
        StepGraph(online).eval(),
        (torch.randn(2, 2, *frame_shape), *buffers),
        dynamo=True,
        input_names=[PAIR_NAME, *names],
        output_names=[LOGITS_NAME, *(f'next_{name}' for name in names)],
        dynamic_shapes=({0: streams}, ({0: streams}, ) * len(buffers)),
        verbose=False)
    online.reset()
    metadata = onnx_metadata(online.model,
                             online.model.backbone.num_segments)
    metadata['input_layout'] = ('S 2 C H W (one frame pair per stream), '
                                'RGB, normalised: (frame - mean) / std')
    save_onnx_program(program, path, metadata)


def calibration_feeds(online: OnlineRecognizer,
                      clips: Iterator[np.ndarray]
                      ) -> Iterator[Dict[str, np.ndarray]]:
    """Inputs of an exported step as a stream meets them, for int8
    calibration: each clip fed pair by pair from empty buffers, every
    step's pair with the buffers the steps before it left.

    Args:
        online (OnlineRecognizer): The PyTorch model of the file.
        clips (Iterator[np.ndarray]): Normalised clips (V, T, 3, H, W).

    Yields:
        dict: ``pair`` (V, 2, 3, H, W) and ``buffer_i`` by name.
    """
    graph = StepGraph(online)
    for clip in clips:
        clip = torch.from_numpy(np.ascontiguousarray(clip, np.float32))
        buffers = initial_buffers(online, clip.shape[2:], clip.shape[0])
        for pair in stream_pairs(clip):
            feed = {f'buffer_{index}': buffer.numpy()
                    for index, buffer in enumerate(buffers)}
            yield {PAIR_NAME: pair.numpy(), **feed}
            with torch.no_grad():
                _, *buffers = graph(pair, *buffers)


def is_step_graph(graph) -> bool:
    """Whether an ONNX graph is an online step (its first input is the
    pair)."""
    return bool(graph.input) and graph.input[0].name == PAIR_NAME


def uint8_stream_buffers(model) -> None:
    """Carry the stream buffers of a quantized step in uint8, in place.

    In the QDQ model that ``quantize_int8`` writes of a step file, each
    ``next_buffer_i`` output is the map dequantized after its
    QuantizeLinear, and each ``buffer_i`` input is quantized again before
    the TAMs read it. Here the output is the uint8 map itself and the input
    goes straight into the TAMs' DequantizeLinear, with the scale and zero
    point of the output it holds: a quarter of the bytes in and out per
    step, no float copy of the buffers, and each buffered map rounded once
    instead of twice. The zero points (what an empty buffer holds) go to
    the metadata key ``buffer_zero_points``.

    Args:
        model (onnx.ModelProto): A QDQ step model.

    Raises:
        ValueError: If a buffer is not quantized as described (the file
            was not written by ``quantize_int8`` from a step file).
    """
    from onnx import numpy_helper
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    inputs = [tensor.name for tensor in graph.input[1:]]
    outputs = [tensor.name for tensor in graph.output[1:]]
    passed_on = {}  # output index -> index of the input it passes on
    quantization = {}  # buffer index -> (scale, zero point) names
    for index, output in enumerate(outputs):
        source = _source_input(producers, output, inputs)
        node = producers.get(output)
        if source is not None and node.op_type == 'Identity':
            passed_on[index] = source
            node.input[0] = inputs[source]
        elif source is None and node is not None and (
                node.op_type == 'DequantizeLinear'):
            quantization[index] = tuple(node.input[1:3])
            _rename(graph, output, f'{output}_dequantized')
            _rename(graph, node.input[0], output)
        else:
            raise ValueError(f'{output}: not a quantized map or a buffer '
                             'passed on; quantize the fp32 step file with '
                             'quantize_int8')
    for index, source in passed_on.items():
        # A buffer passed on keeps the quantization of the map it holds.
        while source in passed_on:
            source = passed_on[source]
        quantization[index] = quantization[source]
    for index, name in enumerate(inputs):
        for node in [node for node in graph.node if name in node.input]:
            if node.op_type == 'Identity':
                continue
            if node.op_type != 'QuantizeLinear':
                raise ValueError(f'{name}: read by an unquantized '
                                 f'{node.op_type}; quantize the fp32 step '
                                 'file with quantize_int8')
            for reader in [reader for reader in graph.node
                           if node.output[0] in reader.input]:
                reader.input[:] = [name, *quantization[index]]
            graph.node.remove(node)
    zero_points = [initializers[quantization[index][1]]
                   for index in range(len(inputs))]
    for index, zero_point in enumerate(zero_points):
        for tensor in (graph.input[1 + index], graph.output[1 + index]):
            tensor.type.tensor_type.elem_type = zero_point.data_type
    used = {name for node in graph.node for name in node.input}
    for tensor in [tensor for tensor in graph.initializer
                   if tensor.name not in used]:
        graph.initializer.remove(tensor)
    del graph.value_info[:]  # types of renamed tensors; runtimes infer them
    model.metadata_props.add(
        key='buffer_zero_points',
        value=str([int(numpy_helper.to_array(zero_point))
                   for zero_point in zero_points]))


def _source_input(producers: dict, name: str,
                  inputs: List[str]) -> Optional[int]:
    """Index of the graph input that tensor ``name`` holds unchanged
    (through Identity and quantize-dequantize round trips), or None."""
    node = producers.get(name)
    while node is not None and node.op_type in ('Identity',
                                                'QuantizeLinear',
                                                'DequantizeLinear'):
        name = node.input[0]
        node = producers.get(name)
    return inputs.index(name) if name in inputs else None


def _rename(graph, old: str, new: str) -> None:
    """Rename the tensor ``old`` of ``graph``'s nodes to ``new``."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [
            new if name == old else name for name in node.output
        ]


class RuntimeOnlineRecognizer:
    """:class:`OnlineRecognizer` on an exported step, in ONNX Runtime or
    OpenVINO: the buffers go back into the graph at every step.

    Args:
        path (str): Step file of :func:`export_step_onnx` (fp32) or its
            int8 form; its metadata gives ``num_segments``,
            ``num_classes`` and the ``mean`` and ``std`` (shaped (3, 1, 1)
            here) that normalise frames.
        window (int, optional): Pairs whose logits are averaged;
            ``num_segments / 2`` of the file if None.
        backend (str): ``'onnxruntime'`` or ``'openvino'``.
        threads (int, optional): Intra-op threads (the runtime's default
            if None).
        average_clips (str, optional): ``'prob'`` (softmax of the averaged
            logits), ``'score'`` or None (the averaged logits).
    """

    def __init__(self,
                 path: str,
                 window: Optional[int] = None,
                 backend: str = 'onnxruntime',
                 threads: Optional[int] = None,
                 average_clips: Optional[str] = 'prob') -> None:
        import onnx
        metadata = read_metadata(path)
        self.num_segments = int(metadata['num_segments'])
        self.num_classes = int(metadata['num_classes'])
        self.mean, self.std = read_normalisation(metadata)
        inputs = onnx.load(path, load_external_data=False).graph.input[1:]
        # What an empty buffer holds: 0, or the zero point of a uint8 one.
        empty = ast.literal_eval(
            metadata.get('buffer_zero_points', str([0] * len(inputs))))
        self.empty_buffers = {
            tensor.name: (tuple(dim.dim_value
                                for dim in tensor.type.tensor_type.shape.dim),
                          onnx.helper.tensor_dtype_to_np_dtype(
                              tensor.type.tensor_type.elem_type), value)
            for tensor, value in zip(inputs, empty)
        }
        self._run = make_runner(path, backend, threads)
        self.average_clips = average_clips
        self.logits = deque(
            maxlen=self.num_segments // 2 if window is None else window)
        self.buffers = None

    def reset(self) -> None:
        """Empty every stream buffer and the window of scores."""
        self.buffers = None
        self.logits.clear()

    def step(self, pair: np.ndarray) -> np.ndarray:
        """Scores after the next pair of every stream.

        Args:
            pair (np.ndarray): Normalized frames, (S, 2, C, H, W).

        Returns:
            np.ndarray: (S, num_classes), as :meth:`OnlineRecognizer.step`.
        """
        pair = np.ascontiguousarray(pair, np.float32)
        if self.buffers is None:
            self.buffers = {
                name: np.full((pair.shape[0], *shape[1:]), value, dtype)
                for name, (shape, dtype, value) in self.empty_buffers.items()
            }
        logits, *buffers = self._run({PAIR_NAME: pair, **self.buffers})
        self.buffers = dict(zip(self.buffers, buffers))
        self.logits.append(logits)
        return average_clip(np.mean(self.logits, axis=0), self.average_clips)
