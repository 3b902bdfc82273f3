"""Command-line options that the benchmark tools share.

``python -m benchmarks.model``, ``python -m benchmarks.pipeline`` and
``python -m benchmarks.runtime`` describe their clips, their timing
and their output with the same flags, defaults and checks.
"""
import argparse
from typing import Iterable, Optional, Sequence, Tuple

# (flag, default, help) of an integer option.
IntOption = Tuple[str, int, str]

DEVICES = ('cpu', 'cuda')
# The clips the compared models run on.
CLIP_OPTIONS: Tuple[IntOption, ...] = (
    ('--frames', 16, 'frames per clip, even (16 = bLVNet 8x2)'),
    ('--size', 224, 'square crop size'),
    ('--num-classes', 174, 'classes of every head'),
)
# Repeated measurements (their median).
TIMING_OPTIONS: Tuple[IntOption, ...] = (
    ('--repeats', 5, 'timed runs per measurement (median)'),
    ('--warmup', 1, 'untimed runs before each measurement'),
)


def add_int_options(parser: argparse.ArgumentParser,
                    options: Iterable[IntOption]) -> None:
    """Add each ``(flag, default, help)`` as an ``int`` option."""
    for flag, default, text in options:
        parser.add_argument(flag, type=int, default=default, help=text)


def add_batch_and_output_options(parser: argparse.ArgumentParser,
                                 batch_help: str, out_help: str) -> None:
    """``--batch-sizes`` (default 1 and 8), ``--quick`` (see
    :func:`check_timing_args`) and ``--out FILE``."""
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        default=[1, 8], help=batch_help)
    parser.add_argument('--quick', action='store_true',
                        help='one warm-up and one timed run (smoke test)')
    parser.add_argument('--out', help=out_help)


def check_frames(parser: argparse.ArgumentParser, frames: int) -> None:
    """Exit through ``parser.error`` unless ``frames`` is even and at least
    2 (bLVNet-TAM reads big-little pairs of frames)."""
    if frames < 2 or frames % 2:
        parser.error(f'--frames must be even and >= 2, got {frames}')


def check_timing_args(parser: argparse.ArgumentParser,
                      args: argparse.Namespace) -> None:
    """``--quick`` means one warm-up and one timed run; ``--frames`` is
    checked (:func:`check_frames`)."""
    if args.quick:
        args.repeats, args.warmup = 1, 1
    check_frames(parser, args.frames)


def parse_int8_timing_args(
        description: str,
        batch_help: str,
        argv: Optional[Sequence[str]] = None,
        extra_options: Iterable[IntOption] = ()) -> argparse.Namespace:
    """The options of the benchmarks that time fp32 and int8 files:
    ``--threads``, the clip and timing options, ``--calib-clips``,
    ``--batch-sizes`` (``batch_help``), ``--quick``, ``--out`` and the
    caller's ``extra_options``."""
    parser = argparse.ArgumentParser(description=description)
    add_int_options(parser, (
        ('--threads', 2, 'threads of every runtime'),
        *CLIP_OPTIONS,
        *TIMING_OPTIONS,
        ('--calib-clips', 2, 'random clips calibrating int8'),
        *extra_options,
    ))
    add_batch_and_output_options(parser, batch_help,
                                 'also write the report here')
    args = parser.parse_args(argv)
    check_timing_args(parser, args)
    return args
