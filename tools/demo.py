"""Recognize a video: top-k labels, a labelled video, or sliding windows.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--label-map FILE]
        [--top-k 5] [--device cpu] [--out-filename OUT.mp4] [--fps FPS]
        [--window SECONDS [--stride SECONDS]] [--cfg-options K=V ...]
        [--backend pytorch|onnxruntime|openvino] [--threads N] [--debug]
        [--online [--frame-interval N]]

Without ``--window``: one clip sampled from the whole video by the
config's ``test_pipeline`` (MMAction2's ``inference_recognizer``; a
frame-folder pipeline reads the video with decord instead); prints one
``label: score`` line per class, best first. ``--out-filename`` also writes
the video with the top-k labels drawn (MMAction2's ``ActionVisualizer``).

With ``--window``: VIDEO may also be a camera index (``0``) or a stream
URL OpenCV can open. A window of that many seconds slides over the source
every ``--stride`` seconds (default: half a window); each window prints
``start-end: label score`` (seconds, top-1) and, at the end (or on
Ctrl-C), the real-time factor (processing time / video duration).
``--out-filename`` writes every frame with the labels of the window that
ends with it. A progress bar goes to stderr when stdout is not a terminal.

With ``--online`` (a model with causal TAMs, e.g. the config
``configs/demo/blvnet-tam-causal_r50_1xb8-1x1x8-16e_synthetic-rgb.py``):
every ``--frame-interval``-th frame of VIDEO (a file, a camera index or a
stream URL) is taken, two at a time: each pair runs one online step (the
stream buffers of :mod:`mmblvnet.apis.online`) and prints ``second: label
score``, the scores of the last ``num_segments / 2`` pairs; the real-time
factor comes at the end. With ``--backend onnxruntime|openvino``,
CHECKPOINT is the step file of ``export_onnx.py --online`` (or its int8
form of ``quantize.py --online``).

``--backend onnxruntime`` or ``openvino`` runs an exported model instead:
CHECKPOINT is then the ``.onnx`` file of ``tools/deployment/export_onnx.py``
(or its int8 version of ``quantize.py``); only the config's test pipeline
runs in Python (no MMAction2 model is built), and the scores are those of
PyTorch within the export's tolerance. Without ``--window`` the
real-time factor of the whole run (model load excluded) goes to stderr.

Labels are class indices unless ``--label-map`` (one name per line) is
given. User errors (a missing, empty or undecodable video, a missing,
empty, truncated or foreign checkpoint, a label map of another length than
``num_classes``, a pipeline sampling another number of frames than the
model's ``num_segments``) are one ``error: <file>: <reason>`` line on
stderr and exit status 1; ``--debug`` (or ``MMBLVNET_DEBUG=1``) shows the
traceback instead.
"""
import argparse
import logging
import sys
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmblvnet.apis.online import OnlineRecognizer, RuntimeOnlineRecognizer
from mmblvnet.apis.recognize import (
    check_sampled_frames,
    format_predictions,
    init_checked_recognizer,
    load_label_map,
    top_k,
    video_scores,
)
from mmblvnet.apis.runtime import (
    BACKENDS,
    RuntimeRecognizer,
    runtime_video_scores,
)
from mmblvnet.apis.stream import (
    FramePipeline,
    LabelPainter,
    VideoSink,
    VideoSource,
    clip_scores,
    frame_pairs,
    real_time_factor,
    sliding_windows,
)
from mmblvnet.utils.cli import run_main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Recognize a video: top-k labels, a labelled video, '
        'or sliding windows over a long video or a stream')
    parser.add_argument(
        'video', help='video file; with --window also a camera index (0) '
        'or a stream URL')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint', help='checkpoint file; the .onnx file with --backend '
        'onnxruntime|openvino')
    parser.add_argument('--label-map',
                        help='class names, one per line in class order')
    parser.add_argument('--top-k', type=int, default=5,
                        help='number of classes to print / draw (default 5)')
    parser.add_argument('--device', default='cpu',
                        help='device, e.g. cpu or cuda:0 (default cpu)')
    parser.add_argument('--out-filename',
                        help='write the video with the labels drawn (.mp4)')
    parser.add_argument(
        '--fps', type=float,
        help='frame rate of a source that reports none (default 25) and '
        'of the output video (default: the source\'s)')
    parser.add_argument('--backend', choices=('pytorch', *BACKENDS),
                        default='pytorch',
                        help='run the PyTorch model (default) or an '
                        'exported ONNX file in onnxruntime or openvino')
    parser.add_argument('--threads', type=int,
                        help='CPU threads of the onnxruntime/openvino '
                        'backend (default: the runtime\'s)')
    parser.add_argument('--window', type=float,
                        help='slide a window of this many seconds')
    parser.add_argument(
        '--stride', type=float,
        help='seconds between windows (default: half of --window)')
    parser.add_argument(
        '--online', action='store_true',
        help='one online step per frame pair (a model with causal TAMs)')
    parser.add_argument(
        '--frame-interval', type=int, default=1,
        help='with --online: take every N-th frame of the source '
        '(default 1)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.cls_head.num_classes=10')
    return parser.parse_args(argv)


def logs_to_stderr() -> None:
    """Send MMEngine's log lines (checkpoint loading, deprecation notes)
    to stderr, so that stdout holds only the predictions."""
    logger = MMLogger.get_current_instance()
    for handler in logger.handlers:
        if (isinstance(handler, logging.StreamHandler)
                and handler.stream is sys.stdout):
            handler.setStream(sys.stderr)


class Scorer(NamedTuple):
    """What the modes need of a backend."""
    num_classes: int
    test_pipeline: Sequence[dict]
    video: Callable  # video file -> scores (num_classes, )
    frames: Callable  # (FramePipeline, frames) -> scores (num_classes, )


def pytorch_scorer(args) -> Scorer:
    model = init_checked_recognizer(args.config, args.checkpoint,
                                    args.device, args.cfg_options)
    return Scorer(model.cls_head.num_classes, model.cfg.test_pipeline,
                  lambda video: video_scores(model, video),
                  lambda pipeline, frames: clip_scores(model, pipeline,
                                                       frames))


def runtime_scorer(args) -> Scorer:
    """An exported model; the config gives only the test pipeline and
    the head's ``average_clips``."""
    if args.device != 'cpu':
        raise ValueError(f'--device {args.device}: --backend '
                         f'{args.backend} runs on the CPU; leave --device')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # No model is built, so nothing else sets the registry scope in which
    # the test pipeline's transform names (SampleFrames ...) resolve.
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    recognizer = RuntimeRecognizer(
        args.checkpoint, args.backend, args.threads,
        cfg.model.cls_head.get('average_clips', None))
    check_sampled_frames(cfg.test_pipeline, recognizer.clip_frames)
    return Scorer(
        recognizer.num_classes, cfg.test_pipeline,
        lambda video: runtime_video_scores(recognizer, cfg.test_pipeline,
                                           video),
        lambda pipeline, frames: recognizer.scores(
            pipeline(frames)['inputs']))


class OnlineScorer(NamedTuple):
    """What the online mode needs of a backend."""
    num_classes: int
    test_pipeline: Sequence[dict]
    step: Callable  # frames (2, 3, H, W) uint8 -> scores (num_classes, )


def _normalised(frames: torch.Tensor, mean, std) -> np.ndarray:
    """One stream's pair (1, 2, 3, H, W) as the data preprocessor gives
    it."""
    return ((frames.float() - mean) / std).unsqueeze(0).numpy()


def online_scorer(args) -> OnlineScorer:
    """A causal model (PyTorch) or its exported step (a runtime)."""
    if args.backend == 'pytorch':
        model = init_checked_recognizer(args.config, args.checkpoint,
                                        args.device, args.cfg_options)
        online = OnlineRecognizer(model)
        preprocessor = model.data_preprocessor
        mean, std = preprocessor.mean.cpu(), preprocessor.std.cpu()
        return OnlineScorer(
            model.cls_head.num_classes, model.cfg.test_pipeline,
            lambda frames: online.step(torch.from_numpy(_normalised(
                frames, mean, std)).to(args.device))[0].cpu())
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    online = RuntimeOnlineRecognizer(
        args.checkpoint, None, args.backend, args.threads,
        cfg.model.cls_head.get('average_clips', None))
    mean, std = torch.from_numpy(online.mean), torch.from_numpy(online.std)
    return OnlineScorer(
        online.num_classes, cfg.test_pipeline,
        lambda frames: torch.from_numpy(online.step(_normalised(
            frames, mean, std))[0]))


def online_mode(args) -> None:
    """Labels that follow the source, one online step per frame pair."""
    scorer = online_scorer(args)
    names = load_label_map(args.label_map, scorer.num_classes)
    source = VideoSource(args.video, args.fps)
    pipeline = FramePipeline(scorer.test_pipeline)
    started, seen = time.perf_counter(), 0
    try:
        for seen, pair in frame_pairs(source, args.frame_interval):
            frames = pipeline.transform(pair)['inputs']
            if frames.shape[0] != 2:
                raise ValueError(
                    f'test_pipeline gives {frames.shape[0]} frames for a '
                    'pair: online recognition takes one view (no '
                    'ThreeCrop/TenCrop, one clip)')
            (label, score), = top_k(scorer.step(frames), 1)
            print(f'{seen / source.fps:.2f}: {names[label]} {score:.4f}',
                  flush=True)
    except KeyboardInterrupt:
        pass  # a camera runs until stopped: report what was seen
    print(real_time_factor(time.perf_counter() - started, seen, source.fps))


def whole_video(scorer: Scorer, args, names) -> None:
    """Top-k of one clip of the video; optionally the labelled video."""
    started = time.perf_counter()
    scores = scorer.video(args.video)
    seconds = time.perf_counter() - started
    print(format_predictions(top_k(scores, args.top_k), names))
    source = VideoSource(args.video, args.fps)
    if source.num_frames:
        print(real_time_factor(seconds, source.num_frames, source.fps),
              file=sys.stderr)
    if args.out_filename:
        sink = VideoSink(args.out_filename, args.fps or source.fps)
        try:
            sink.write(LabelPainter(names, args.top_k)(list(source), scores))
        finally:
            sink.close()


def _window_frames(seconds: float, fps: float, option: str) -> int:
    frames = round(seconds * fps)
    if frames < 1:
        raise ValueError(f'{option} {seconds:g} s is less than one frame at '
                         f'{fps:g} fps')
    return frames


def windows(scorer: Scorer, args, names) -> None:
    """Sliding windows over a long video, a camera or a stream."""
    source = VideoSource(args.video, args.fps)
    fps = source.fps
    window = _window_frames(args.window, fps, '--window')
    stride = _window_frames(args.stride or args.window / 2, fps, '--stride')
    pipeline = FramePipeline(scorer.test_pipeline)
    sink = VideoSink(args.out_filename, args.fps or fps) \
        if args.out_filename else None
    painter = LabelPainter(names, args.top_k) if sink else None
    bar = ProgressBar(source.num_frames, file=sys.stderr) if (
        source.num_frames and not sys.stdout.isatty()) else None
    started, seen, scores = time.perf_counter(), 0, None
    try:
        for start, frames, new_frames in sliding_windows(source, window,
                                                         stride):
            if frames:
                scores = scorer.frames(pipeline, frames)
                (label, score), = top_k(scores, 1)
                print(f'{start / fps:.2f}-{(start + len(frames)) / fps:.2f}:'
                      f' {names[label]} {score:.4f}', flush=True)
            if sink:
                sink.write(painter(new_frames, scores))
            seen += len(new_frames)
            for _ in range(len(new_frames) if bar else 0):
                bar.update()
    except KeyboardInterrupt:
        pass  # a camera runs until stopped: report what was seen
    finally:
        if sink:
            sink.close()
    if bar:
        sys.stderr.write('\n')
    print(real_time_factor(time.perf_counter() - started, seen, fps))


def run(argv) -> int:
    """The tool; raises on user errors (see :func:`main`)."""
    args = parse_args(argv)
    if args.top_k < 1:
        raise ValueError(f'--top-k must be at least 1, got {args.top_k}')
    logs_to_stderr()
    if args.online:
        online_mode(args)
        return 0
    scorer = (pytorch_scorer if args.backend == 'pytorch' else
              runtime_scorer)(args)
    names = load_label_map(args.label_map, scorer.num_classes)
    if args.window is None:
        whole_video(scorer, args, names)
    else:
        windows(scorer, args, names)
    return 0


def main(argv=None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
