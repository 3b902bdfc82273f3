"""Convert an IBM released checkpoint into an MMEngine checkpoint.

Example::

    python tools/convert_ibm_checkpoint.py \
        st2stv2-bLVNet-TAM-50-a2-b4-f8x2.pth.tar blvnet_tam_r50_8x2_ssv2.pth

The format is detected from the keys (``--format`` forces one). Every key
is either mapped or reported; on any unknown, missing or misshapen key the
tool exits with status 1, lists the keys, and writes nothing; so it does
for a missing, empty, truncated or corrupt source (zip CRC-32 checked) and
for NaN/Inf weights or a negative BatchNorm ``running_var``, printing one
``error: FILE: reason`` line (``--debug`` or ``MMBLVNET_DEBUG=1`` shows the
traceback instead). An
existing destination is never overwritten unless ``--overwrite`` is given,
and the file is written atomically.
"""
import argparse
import io
import os
import sys

import torch

from mmblvnet.converters import FORMATS, CheckpointKeyError, convert_checkpoint
from mmblvnet.engine.atomic_io import atomic_write_bytes
from mmblvnet.engine.checkpoint_integrity import load_checked
from mmblvnet.utils.cli import run_main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='IBM checkpoint (.pth / .pth.tar)')
    parser.add_argument('dst', help='MMEngine checkpoint to write')
    parser.add_argument(
        '--format', choices=list(FORMATS), help='skip format detection')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing dst')
    return parser.parse_args(argv)


def save_atomically(obj: dict, path: str) -> None:
    """Write ``obj`` next to ``path`` first, then rename it into place."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def convert(args: argparse.Namespace) -> None:
    """Load (verified), convert and write; raise on any problem."""
    if os.path.exists(args.dst) and not args.overwrite:
        raise FileExistsError(
            f'{args.dst}: exists; pass --overwrite to replace it')
    # Progress on stdout (a large file takes seconds); errors on stderr.
    if os.path.isfile(args.src):
        print(f'reading {args.src} ({os.path.getsize(args.src) / 1e6:.0f} '
              'MB; checksums and weights are checked)', flush=True)
    # Released IBM files are plain tensors: the safe loader suffices.
    checkpoint = load_checked(args.src, map_location='cpu',
                              weights_only=True)
    print('converting and checking the keys against the model',
          flush=True)
    try:
        state_dict, arch, fmt = convert_checkpoint(checkpoint, args.format)
    except CheckpointKeyError as error:
        raise CheckpointKeyError(f'{args.src}: {error}') from error
    meta = dict(
        converted_from=os.path.basename(args.src), format=fmt, arch=arch)
    save_atomically(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{fmt}: wrote {len(state_dict)} tensors to {args.dst}')
    print(f'architecture: {arch}')


def main(argv=None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(lambda rest: convert(parse_args(rest)), argv)


if __name__ == '__main__':
    sys.exit(main())
