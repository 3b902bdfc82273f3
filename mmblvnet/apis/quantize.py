"""Static int8 quantization of an exported recognizer, with its check.

ONNX Runtime's ``quantize_static`` writes a QDQ model (QuantizeLinear /
DequantizeLinear pairs around each quantized op, which ONNX Runtime and
OpenVINO run with int8 kernels) of every op the quantizer knows:
convolutions (TAM's unshifted terms among them), classifier, residual
adds, TAM's shifted products and sums, pools and upsampling. Weights are
int8 per output channel, activations uint8 with ranges measured (min-max)
on calibration clips. On the exported bLVNet-TAM graph this runs faster
than quantizing only the convolutions, in ONNX Runtime and OpenVINO
alike, and both runtimes run the file to the same outputs
(docs/benchmarks.md).

Weights are 7-bit (``reduce_range``: every int8 weight in [-64, 64]) so
that the file gives the same outputs on every x86 CPU. Without VNNI
(SSE4.1, AVX2, AVX-512 without VNNI) the uint8 x int8 kernels of both
runtimes add two products into a signed 16-bit sum (``pmaddubsw``):
255 * 127 * 2 overflows it and saturates, 255 * 64 * 2 = 32640 does not.
:func:`quantize_int8` refuses to write a file with a wider weight
(:func:`check_no_saturation`).

The clips come from a data list through the config's own test pipeline,
normalised as the data preprocessor does, so the ranges are those the
deployed model sees. Dynamic quantization is not used: its ``ConvInteger``
has no fast CPU kernel (it ran slower than fp32).

:func:`compare_top1` is the acceptance check: top-1 of fp32 and int8 on a
held-out list, and how often their top-1 labels agree.
"""
import os.path as osp
import tempfile
from typing import Dict, Iterator, List, NamedTuple, Sequence, Union

import numpy as np
from mmengine.config import Config
from mmengine.dataset import BaseDataset as Dataset

from .online import is_step_graph, uint8_stream_buffers
from .runtime import RuntimeRecognizer


def list_dataset(cfg: Config, ann_file: str) -> Dataset:
    """The config's test data set, reading ``ann_file`` instead of its
    own list (same type, data prefix and test pipeline).

    Args:
        cfg (Config): The config (with ``test_dataloader``).
        ann_file (str): A data list in the format of that data set.

    Returns:
        Dataset: Samples with ``inputs`` (V * T, 3, H, W) uint8 and
        ``data_samples`` holding ``gt_label``.
    """
    from mmaction.registry import DATASETS
    from mmengine.registry import init_default_scope
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'{ann_file}: no such data list')
    loader = cfg.get('test_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError('the config has no test_dataloader.dataset; its '
                         'type, data_prefix and pipeline read the lists')
    dataset = dict(loader['dataset'], ann_file=ann_file)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return DATASETS.build(dataset)


def spread_indices(length: int, count: int) -> List[int]:
    """``count`` indices spread evenly over ``range(length)`` (all of
    them when ``count >= length``), so that a list sorted by class gives
    clips of every class."""
    if count >= length:
        return list(range(length))
    return np.linspace(0, length - 1, count).round().astype(int).tolist()


def calibration_clips(recognizer: RuntimeRecognizer, dataset: Dataset,
                      count: int) -> Iterator[np.ndarray]:
    """Normalised clips (V, T, 3, H, W) of ``count`` samples spread over
    ``dataset``."""
    for index in spread_indices(len(dataset), count):
        yield recognizer.clips(dataset[index]['inputs'])


def _reader(clips: Iterator[Union[np.ndarray, Dict[str, np.ndarray]]]):
    from onnxruntime.quantization import CalibrationDataReader

    from .export import INPUT_NAME

    class ClipReader(CalibrationDataReader):

        def get_next(self):
            clip = next(clips, None)
            if clip is None or isinstance(clip, dict):
                return clip
            return {INPUT_NAME: clip}

    return ClipReader()


#: The widest int8 weight whose products with uint8 activations no x86
#: kernel saturates: two of them sum to 255 * 64 * 2 = 32640 <= 32767.
SAFE_WEIGHT_RANGE = 64


def check_no_saturation(model, path: str) -> None:
    """Raise if an int8 weight of the QDQ ``model`` lies outside
    [-:data:`SAFE_WEIGHT_RANGE`, :data:`SAFE_WEIGHT_RANGE`].

    Args:
        model (onnx.ModelProto): The int8 model.
        path (str): Its file name, for the message.

    Raises:
        ValueError: Naming each such tensor and its largest magnitude.
    """
    from onnx import TensorProto, numpy_helper
    dequantized = {node.input[0] for node in model.graph.node
                   if node.op_type == 'DequantizeLinear'}
    wide = []
    for tensor in model.graph.initializer:
        if (tensor.name in dequantized
                and tensor.data_type == TensorProto.INT8):
            largest = int(np.abs(numpy_helper.to_array(tensor).astype(
                np.int32)).max(initial=0))
            if largest > SAFE_WEIGHT_RANGE:
                wide.append(f'{tensor.name} (|w| up to {largest})')
    if wide:
        raise ValueError(
            f'{path}: not written: int8 weights outside '
            f'[-{SAFE_WEIGHT_RANGE}, {SAFE_WEIGHT_RANGE}] saturate the '
            '16-bit sums of x86 CPUs without VNNI: ' + ', '.join(wide))


def quantize_int8(
        fp32_path: str, out_path: str,
        clips: Iterator[Union[np.ndarray, Dict[str, np.ndarray]]]) -> None:
    """Write the static int8 (QDQ) model of ``fp32_path`` to ``out_path``.

    Args:
        fp32_path (str): The fp32 ONNX file (weights as initializers).
        out_path (str): The int8 file to write (one self-contained file;
            the metadata of ``fp32_path`` is kept). The stream buffers of
            an online step file are carried in uint8
            (:func:`~mmblvnet.apis.online.uint8_stream_buffers`).
        clips (Iterator[np.ndarray | dict]): Calibration clips
            (N, T, 3, H, W), or every input of the graph by name (an online
            step's pair and the stream buffers it meets).

    Raises:
        ValueError: If a weight could saturate (:func:`check_no_saturation`);
            nothing is written then.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    with tempfile.TemporaryDirectory(prefix='mmblvnet-quantize-') as tmp:
        prepared = osp.join(tmp, 'prepared.onnx')
        quantized = osp.join(tmp, 'int8.onnx')
        # Shape inference and graph clean-up the quantizer expects.
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared, quantized, _reader(clips),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            calibrate_method=CalibrationMethod.MinMax)
        model = onnx.load(quantized)
    check_no_saturation(model, out_path)
    metadata = onnx.load(fp32_path, load_external_data=False).metadata_props
    del model.metadata_props[:]
    model.metadata_props.extend(metadata)
    if is_step_graph(model.graph):
        uint8_stream_buffers(model)
    onnx.save(model, out_path)


def predict(recognizer: RuntimeRecognizer, dataset: Dataset,
            indices: Sequence[int]) -> np.ndarray:
    """Top-1 class of each sample ``indices`` of ``dataset``."""
    return np.array([
        int(recognizer.scores(dataset[index]['inputs']).argmax())
        for index in indices
    ])


def labels(dataset: Dataset, indices: Sequence[int]) -> np.ndarray:
    """Ground-truth class of each sample ``indices`` of ``dataset``."""
    return np.array([
        int(dataset.get_data_info(index)['label']) for index in indices
    ])


class Top1Check(NamedTuple):
    """fp32 and int8 top-1 (%) on a list and their top-1 agreement (%)."""
    fp32_top1: float
    int8_top1: float
    agreement: float
    num_samples: int

    @property
    def drop(self) -> float:
        """Top-1 points lost by int8."""
        return self.fp32_top1 - self.int8_top1

    def failures(self, max_drop: float, min_agreement: float) -> List[str]:
        """What fails the check, one phrase each (empty when it passes)."""
        found = []
        if not self.drop <= max_drop:
            found.append(f'top-1 drop {self.drop:.2f} points > {max_drop}')
        if not self.agreement >= min_agreement:
            found.append(f'top-1 agreement {self.agreement:.2f}% < '
                         f'{min_agreement}%')
        return found

    def __str__(self) -> str:
        return (f'top-1 on {self.num_samples} held-out clips: fp32 '
                f'{self.fp32_top1:.2f}%, int8 {self.int8_top1:.2f}% (drop '
                f'{self.drop:.2f} points); top-1 labels agree on '
                f'{self.agreement:.2f}%')


def compare_top1(models: Dict[str, RuntimeRecognizer],
                 dataset: Dataset) -> Top1Check:
    """:class:`Top1Check` of ``models['fp32']`` and ``models['int8']`` on
    every sample of ``dataset``."""
    indices = range(len(dataset))
    truth = labels(dataset, indices)
    fp32 = predict(models['fp32'], dataset, indices)
    int8 = predict(models['int8'], dataset, indices)
    return Top1Check(
        fp32_top1=100.0 * float((fp32 == truth).mean()),
        int8_top1=100.0 * float((int8 == truth).mean()),
        agreement=100.0 * float((fp32 == int8).mean()),
        num_samples=len(truth))
