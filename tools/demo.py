"""Print the top-k classes of a video file.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--label-map FILE]
        [--top-k 5] [--device cpu] [--cfg-options KEY=VALUE ...]

Runs MMAction2's ``init_recognizer`` / ``inference_recognizer`` with the
config's ``test_pipeline`` (a frame-folder pipeline reads the video with
decord instead). Prints one ``label: score`` line per class, best first;
labels are class indices unless ``--label-map`` (one name per line) is
given. A missing, empty or undecodable video, a checkpoint that does not
fit the model, a label map of another length than ``num_classes`` and a
pipeline sampling another number of frames than the model's
``num_segments`` exit with status 1 and a message naming the problem.
"""
import argparse
import logging
import pickle
import sys

from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmblvnet.apis.recognize import (
    VideoError,
    format_predictions,
    init_checked_recognizer,
    load_label_map,
    recognize,
)
from mmblvnet.converters.key_rules import CheckpointKeyError

# Failures reported as one line; anything else is a bug and keeps its
# traceback.
_USER_ERRORS = (VideoError, CheckpointKeyError, OSError, ValueError,
                pickle.UnpicklingError)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the top-k classes of a video file')
    parser.add_argument('video', help='video file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--label-map',
                        help='class names, one per line in class order')
    parser.add_argument('--top-k', type=int, default=5,
                        help='number of classes to print (default 5)')
    parser.add_argument('--device', default='cpu',
                        help='device, e.g. cpu or cuda:0 (default cpu)')
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


def main(argv=None) -> int:
    args = parse_args(argv)
    logs_to_stderr()
    try:
        model = init_checked_recognizer(args.config, args.checkpoint,
                                        args.device, args.cfg_options)
        names = load_label_map(args.label_map, model.cls_head.num_classes)
        predictions = recognize(model, args.video, args.top_k)
    except _USER_ERRORS as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(format_predictions(predictions, names))
    return 0


if __name__ == '__main__':
    sys.exit(main())
