"""What MMAction2's frame samplers and decoders do, in one place.

A 2D backbone with ``num_segments=T`` reads every run of T frames of a
sample as one clip. A pipeline sampling another number of frames per view
passes silently whenever one count divides the other: with
``UniformSample(clip_len=16)`` and T=8 every sample is read as two 8-frame
clips. MMAction2's frame samplers count frames differently:

* ``SampleFrames``, ``DenseSampleFrames``: ``num_clips * clip_len``
  frames per view (TSN style: ``num_clips`` segments of ``clip_len``);
  test views: 2 with ``twice_sample``, ``num_sample_positions`` for dense;
* ``UniformSample``, ``UniformSampleFrames``: ``clip_len`` frames per
  view, ``num_clips`` views in test mode;
* ``UntrimmedSampleFrames``, ``SampleAVAFrames``: ``clip_len`` frames per
  view (a variable number of views, one).

A sample of shape (M, C, H, W) then holds ``views * crops * T`` frames
(``ThreeCrop``: 3, ``TenCrop``: 10 crops). The model's ``T`` comes from
:func:`model_num_segments` (backbone, else neck). Decoders are named by
MMAction2's convention: ``<Backend>Init`` opens a video,
``<Backend>Decode`` decodes the sampled frames, ``RawFrameDecode`` reads
frame folders. Used by :class:`~mmblvnet.engine.NumSegmentsCheckHook`
(training), :mod:`mmblvnet.apis` (inference, streaming, export) and the
data sets.
"""
from typing import Iterator, List, Mapping, NamedTuple, Optional, Tuple

BACKBONE_KEY = 'model.backbone.num_segments'
FRAME_DECODE = 'RawFrameDecode'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Samplers whose num_clips counts views and clip_len frames per view.
_CLIP_LEN_SAMPLERS = ('UniformSample', 'UniformSampleFrames')
_ONE_CLIP_SAMPLERS = ('UntrimmedSampleFrames', 'SampleAVAFrames')
_CROPS = {'ThreeCrop': 3, 'TenCrop': 10}


class Sampling(NamedTuple):
    """How a frame sampler of a pipeline fills one sample.

    Attributes:
        path (str): Its config key, e.g. ``val_dataloader.dataset.
            pipeline[1]``.
        kind (str): Its type name.
        frames (int): Frames per view.
        views (int, optional): Views per sample; None when it varies.
        counted (str): How ``frames`` is counted, for messages.
        fix (str): The config change that gives ``T`` frames per view,
            with ``{T}`` left to fill in.
    """
    path: str
    kind: str
    frames: int
    views: Optional[int]
    counted: str
    fix: str


def type_name(transform: Mapping) -> str:
    """The type name of a transform config (a class or a string)."""
    kind = transform.get('type')
    return getattr(kind, '__name__', str(kind))


def sampling(transform: Mapping, path: str) -> Optional[Sampling]:
    """The :class:`Sampling` of a pipeline step; None if it samples no
    frames (it has neither ``clip_len`` nor ``num_clips``)."""
    if 'clip_len' not in transform and 'num_clips' not in transform:
        return None
    kind = type_name(transform)
    clip_len = transform.get('clip_len', 1)
    num_clips = transform.get('num_clips', 1)
    test_mode = transform.get('test_mode', False)
    if not isinstance(clip_len, int) or not isinstance(num_clips, int):
        return None  # per-modality dicts (MMUniformSampleFrames)
    if kind in _CLIP_LEN_SAMPLERS:
        return Sampling(
            path, kind, clip_len, num_clips if test_mode else 1,
            f'clip_len={clip_len} frames per view (its num_clips='
            f'{num_clips} counts views)', f'{path}.clip_len={{T}}')
    if kind in _ONE_CLIP_SAMPLERS:
        return Sampling(path, kind, clip_len,
                        None if kind == 'UntrimmedSampleFrames' else 1,
                        f'clip_len={clip_len} frames per view',
                        f'{path}.clip_len={{T}}')
    views = 1
    if test_mode and transform.get('twice_sample', False):
        views = 2
    if test_mode and kind == 'DenseSampleFrames':
        views = transform.get('num_sample_positions', 10)
    fix = (f'{path}.num_clips={{T}}' if clip_len == 1 else
           f'{path}.num_clips and clip_len with num_clips x clip_len = {{T}}')
    return Sampling(
        path, kind, num_clips * clip_len, views,
        f'num_clips={num_clips} x clip_len={clip_len} = '
        f'{num_clips * clip_len} frames per view', fix)


def dataset_pipelines(dataset_cfg: Mapping,
               path: str) -> Iterator[Tuple[str, List]]:
    """``(config path, pipeline)`` of a data set and the data sets it
    wraps (``dataset``, ``datasets``)."""
    if not isinstance(dataset_cfg, Mapping):
        return
    yield path, list(dataset_cfg.get('pipeline') or [])
    inner = dataset_cfg.get('dataset')
    if inner is not None:
        yield from dataset_pipelines(inner, f'{path}.dataset')
    for index, dataset in enumerate(dataset_cfg.get('datasets') or []):
        yield from dataset_pipelines(dataset, f'{path}.datasets[{index}]')


def pipeline_samplings(pipeline: List,
                       path: str) -> Tuple[List[Sampling], int]:
    """The frame samplers of a pipeline and its number of crops.

    Args:
        pipeline (list[dict]): Transform configs.
        path (str): Config key of the pipeline.

    Returns:
        tuple: The :class:`Sampling` of each sampler, and the crops per
        view (3 for ``ThreeCrop``, 10 for ``TenCrop``, else 1).
    """
    samplings, crops = [], 1
    for index, transform in enumerate(pipeline):
        if not isinstance(transform, Mapping):
            continue
        found = sampling(transform, f'{path}[{index}]')
        if found is not None:
            samplings.append(found)
        crops *= _CROPS.get(type_name(transform), 1)
    return samplings, crops


def _mismatch(found: Sampling, num_segments: int, key: str) -> str:
    return (f'{key}={num_segments}, but {found.path} '
            f'({found.kind}) samples {found.counted}; the backbone would '
            f'read every {num_segments} frames as one clip. Set '
            f'{found.fix.format(T=num_segments)} (or num_segments to '
            f'{found.frames})')


def find_pipeline_mismatch(pipeline: List,
                           num_segments: int,
                           path: str = 'test_pipeline',
                           key: str = BACKBONE_KEY) -> Optional[str]:
    """Describe the first sampler of ``pipeline`` whose frames per view
    differ from T (e.g. for ``inference_recognizer``'s test pipeline).

    Args:
        pipeline (list[dict]): Transform configs.
        num_segments (int): T of the model.
        path (str): Config key of the pipeline, for the message.
        key (str): Config key of T (:func:`model_num_segments`).

    Returns:
        str, optional: The error message, None if every sampler agrees.
    """
    for found in pipeline_samplings(pipeline, path)[0]:
        if found.frames != num_segments:
            return _mismatch(found, num_segments, key)
    return None


def find_num_segments_mismatch(cfg: Mapping,
                               num_segments: int,
                               key: str = BACKBONE_KEY) -> Optional[str]:
    """Describe the first sampler whose frames per view differ from T.

    Args:
        cfg (dict): A full MMEngine config.
        num_segments (int): T of the model.
        key (str): Config key of T (:func:`model_num_segments`).

    Returns:
        str, optional: The error message, None if every sampler agrees.
    """
    for loader in LOADERS:
        dataset = (cfg.get(loader) or {}).get('dataset')
        for path, pipeline in dataset_pipelines(dataset, f'{loader}.dataset'):
            message = find_pipeline_mismatch(pipeline, num_segments,
                                             f'{path}.pipeline', key)
            if message is not None:
                return message
    return None


def batch_mismatch(frames: int,
                   pipelines: List[Tuple[str, List]],
                   num_segments: int,
                   loader: str,
                   key: str = BACKBONE_KEY) -> Optional[str]:
    """Check the frames of one sample of a loop's first batch.

    Args:
        frames (int): M of a sample of shape (M, C, H, W).
        pipelines (list[tuple]): ``(config path, pipeline)`` of the loop's
            data set(s).
        num_segments (int): T of the model.
        loader (str): The data loader's config key, for the message.
        key (str): Config key of T (:func:`model_num_segments`).

    Returns:
        str, optional: The error message, None if ``frames`` fits.
    """
    expected = {}  # views per sample -> the sampler that gives them
    varying = False
    for path, pipeline in pipelines:
        samplings, crops = pipeline_samplings(pipeline, f'{path}.pipeline')
        for found in samplings:
            if found.views is None:
                varying = True
            else:
                expected.setdefault(found.views * crops, found)
        if not samplings:  # a sampler unknown here: one view assumed
            expected.setdefault(crops, None)
    if len(expected) == 1 and not varying:
        ((views, found), ) = expected.items()
        if frames == views * num_segments:
            return None
        source = (f'{found.path} ({found.kind}) and the crops give '
                  if found else 'its pipeline (with no frame sampler '
                  'known here, 1 view assumed) and the crops give ')
        return (f'{key}={num_segments}, but the '
                f'first {loader} batch holds {frames} frames per sample '
                f'where {source}{views} view(s) of {num_segments}: the '
                f'pipeline yields {frames / views:g} frames per view. '
                f'Make {loader}.dataset.pipeline sample {num_segments} '
                'frames per view')
    if frames % num_segments:
        return (f'{key}={num_segments}, but the first '
                f'{loader} batch holds {frames} frames per sample, not a '
                f'multiple of {num_segments}; make {loader}.dataset.pipeline '
                f'sample {num_segments} frames per view')
    return None


def frames_per_sample(data_batch) -> Optional[int]:
    """M of the first sample, if the batch holds (M, C, H, W) tensors."""
    inputs = (data_batch or {}).get('inputs') if isinstance(
        data_batch, Mapping) else None
    if inputs is None or len(inputs) == 0:
        return None
    first = inputs[0]
    shape = getattr(first, 'shape', ())
    return int(shape[0]) if len(shape) == 4 else None


class ClipFrames(NamedTuple):
    """Frames per clip a model reads, and the config key that sets them.

    Attributes:
        num_segments (int): ``T``.
        key (str): ``model.backbone.num_segments`` or
            ``model.neck.num_segments``.
    """
    num_segments: int
    key: str


def model_num_segments(model) -> Optional[ClipFrames]:
    """The frames per clip of a recognizer: its backbone's
    ``num_segments`` (bLResNet, ResNetTAM, TSM ...), else its neck's
    (TAMNeck on a stock ResNet); None when neither has one.

    Training (:class:`~mmblvnet.engine.NumSegmentsCheckHook`), inference
    and export all read it here.
    """
    for part in ('backbone', 'neck'):
        num_segments = getattr(getattr(model, part, None), 'num_segments',
                               None)
        if isinstance(num_segments, int):
            return ClipFrames(num_segments, f'model.{part}.num_segments')
    return None


def is_decoder(name: str) -> bool:
    """Whether a transform opens or decodes a video (``DecordInit``,
    ``PyAVDecode`` ...; ``RawFrameDecode`` reads image files)."""
    return name.endswith(('Init', 'Decode')) and name != FRAME_DECODE


def is_video_init(name: str) -> bool:
    """Whether a transform opens a video given ``results['filename']``."""
    return is_decoder(name) and name.endswith('Init')


def is_video_decode(name: str) -> bool:
    """Whether a transform decodes the sampled frames of an opened
    video."""
    return is_decoder(name) and name.endswith('Decode')
