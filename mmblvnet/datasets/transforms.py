"""Video decoding with torchcodec (PyTorch's FFmpeg decoder) for MMAction2.

``TorchCodecInit`` and ``TorchCodecDecode`` replace MMAction2's
``DecordInit`` and ``DecordDecode`` in any pipeline; the sampler between
them (``SampleFrames``, ``UniformSample``, ...) is unchanged, so the
sampled indices are the same::

    dict(type='TorchCodecInit'),      # was dict(type='DecordInit')
    dict(type='SampleFrames', clip_len=1, num_clips=16),
    dict(type='TorchCodecDecode'),    # was dict(type='DecordDecode')

What decides the speed: a decoder reaches a frame by decoding every frame
from the keyframe before it. In a long-GOP video (a keyframe every 250
frames, as Kinetics is stored) a clip spread over the whole video needs
most of its frames decoded, whichever decoder runs; after
``tools/data/make_seekable.py`` (a keyframe every frame, or every few)
only the sampled ones. ``TorchCodecDecode`` asks for the sorted, distinct
indices one at a time in increasing order, so the decoder moves forward
and seeks only where that skips frames, and returns the frames in the
sampled order, repeats included (RGB, uint8, as ``DecordDecode``).
``python -m benchmarks.pipeline`` (in a clone) measures both decoders on
the same videos (docs/benchmarks.md).

The decoder is opened for each sample in ``TorchCodecInit.transform``
(never in ``__init__``: a decoder made before DataLoader workers fork does
not work in them) and released by ``TorchCodecDecode``. torchcodec needs
FFmpeg's shared libraries (``apt-get install ffmpeg`` on Debian).
"""
from typing import Dict

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from mmengine.fileio import FileClient

SEEK_MODES = ('exact', 'approximate')


def _video_decoder_class():
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as error:
        raise ImportError(
            'TorchCodecInit needs torchcodec and FFmpeg\'s shared libraries '
            '(pip install "mmblvnet[torchcodec]"; apt-get install ffmpeg): '
            f'{error}') from error
    return VideoDecoder


@TRANSFORMS.register_module()
class TorchCodecInit(BaseTransform):
    """Open a video with torchcodec (the counterpart of ``DecordInit``).

    Required Keys:

        - filename

    Added Keys:

        - video_reader (a ``torchcodec.decoders.VideoDecoder``)
        - total_frames
        - avg_fps

    Args:
        io_backend (str): MMEngine file backend of the videos. Defaults
            to ``'disk'``.
        num_threads (int): FFmpeg decoding threads per video. Defaults to
            1 (DataLoader workers give the parallelism).
        seek_mode (str): ``'exact'`` (default) scans the file for the
            exact frame count and positions; ``'approximate'`` trusts the
            container's header (faster to open, but frame counts and
            positions can be off on files with a wrong header).
        device (str): Where to decode: ``'cpu'`` (default) or ``'cuda'``
            (NVDEC; needs a CUDA build of torchcodec). Frames come back
            to the CPU as numpy arrays either way.
        **kwargs: Arguments of the file backend.
    """

    def __init__(self,
                 io_backend: str = 'disk',
                 num_threads: int = 1,
                 seek_mode: str = 'exact',
                 device: str = 'cpu',
                 **kwargs) -> None:
        if seek_mode not in SEEK_MODES:
            raise ValueError(
                f'seek_mode={seek_mode!r}; choose one of {SEEK_MODES}')
        self.io_backend = io_backend
        self.num_threads = num_threads
        self.seek_mode = seek_mode
        self.device = device
        self.kwargs = kwargs
        self.file_client = None

    def transform(self, results: Dict) -> Dict:
        """Open ``results['filename']`` and read its frame count and rate.

        Args:
            results (dict): The sample's data.

        Returns:
            dict: ``results`` with the added keys.
        """
        video_decoder = _video_decoder_class()
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend, **self.kwargs)
        decoder = video_decoder(
            self.file_client.get(results['filename']),
            seek_mode=self.seek_mode,
            dimension_order='NHWC',
            num_ffmpeg_threads=self.num_threads,
            device=self.device)
        results['video_reader'] = decoder
        results['total_frames'] = len(decoder)
        results['avg_fps'] = float(decoder.metadata.average_fps or 0.0)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(io_backend={self.io_backend}, '
                f'num_threads={self.num_threads}, '
                f'seek_mode={self.seek_mode}, device={self.device})')


@TRANSFORMS.register_module()
class TorchCodecDecode(BaseTransform):
    """Decode the sampled frames (the counterpart of ``DecordDecode``).

    The sorted distinct indices are decoded in one forward pass; the
    frames are returned in the sampled order, repeated indices repeated.

    Required Keys:

        - video_reader
        - frame_inds

    Added Keys:

        - imgs (list of RGB frames of shape (H, W, 3), uint8)
        - original_shape
        - img_shape

    Unlike ``DecordDecode`` it does not rescale ``gt_bboxes`` and
    ``proposals``: spatio-temporal detection pipelines keep
    ``DecordDecode``.
    """

    def transform(self, results: Dict) -> Dict:
        """Decode ``results['frame_inds']`` from ``results['video_reader']``.

        Args:
            results (dict): The sample's data.

        Returns:
            dict: ``results`` with the added keys; ``video_reader`` is
            released (set to None).
        """
        decoder = results['video_reader']
        frame_inds = np.asarray(results['frame_inds'])
        if frame_inds.ndim != 1:
            frame_inds = frame_inds.reshape(-1)
            results['frame_inds'] = frame_inds
        distinct, order = np.unique(frame_inds, return_inverse=True)
        # One frame at a time in increasing order: the decoder moves
        # forward and seeks only where that skips a keyframe (torchcodec
        # 0.13's batch call, get_frames_at, took longer for the same
        # frames).
        frames = [decoder.get_frame_at(int(i)).data.cpu().numpy()
                  for i in distinct]
        results['video_reader'] = None
        imgs = [frames[i] for i in order.reshape(-1)]
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        return results
