"""Print the top-k classes of a video file.

    python tools/demo.py VIDEO CONFIG CHECKPOINT [--label-map FILE]
        [--top-k 5] [--device cpu] [--cfg-options KEY=VALUE ...]

Uses MMAction2's ``init_recognizer`` / ``inference_recognizer`` with the
config's ``test_pipeline``; a missing or undecodable video, a checkpoint
that does not fit the model and a label map of the wrong length exit with
status 1 and a message naming the problem.
"""
import argparse
import sys

from mmengine.config import DictAction

from mmblvnet.apis.recognize import (
    VideoError,
    format_predictions,
    init_checked_recognizer,
    load_label_map,
    recognize,
)
from mmblvnet.converters.key_rules import CheckpointKeyError


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print the top-k classes of a video file')
    parser.add_argument('video', help='video file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--label-map', help='class names, one per line')
    parser.add_argument('--top-k', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        model = init_checked_recognizer(args.config, args.checkpoint,
                                        args.device, args.cfg_options)
        names = load_label_map(args.label_map,
                               model.cls_head.num_classes)
        predictions = recognize(model, args.video, args.top_k)
    except (VideoError, CheckpointKeyError, FileNotFoundError,
            ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(format_predictions(predictions, names))
    return 0


if __name__ == '__main__':
    sys.exit(main())
