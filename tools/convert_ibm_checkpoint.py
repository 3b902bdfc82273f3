"""Convert an IBM released checkpoint into an MMEngine checkpoint.

Example::

    python tools/convert_ibm_checkpoint.py \
        st2stv2-bLVNet-TAM-50-a2-b4-f8x2.pth.tar blvnet_tam_r50_8x2_ssv2.pth

The format is detected from the keys (``--format`` forces one). Every key
is either mapped or reported; on any unknown, missing or misshapen key the
tool exits with status 1, lists the keys, and writes nothing. An existing
destination is never overwritten unless ``--overwrite`` is given, and the
file is written atomically.
"""
import argparse
import os
import sys
import tempfile

import torch

from mmblvnet.converters import FORMATS, CheckpointKeyError, convert_checkpoint


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
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=directory, suffix='.part')
    os.close(handle)
    try:
        torch.save(obj, tmp_path)
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.path.exists(args.dst) and not args.overwrite:
        print(f'error: {args.dst} exists; pass --overwrite to replace it',
              file=sys.stderr)
        return 1
    # Released IBM files are plain tensors: the safe loader suffices.
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    try:
        state_dict, arch, fmt = convert_checkpoint(checkpoint, args.format)
    except CheckpointKeyError as error:
        print(f'error: {args.src}: {error}', file=sys.stderr)
        return 1
    meta = dict(
        converted_from=os.path.basename(args.src), format=fmt, arch=arch)
    save_atomically(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{fmt}: wrote {len(state_dict)} tensors to {args.dst}')
    print(f'architecture: {arch}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
