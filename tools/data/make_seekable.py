"""Re-encode a video data set once so that sampled frames decode fast.

    python tools/data/make_seekable.py LIST SRC_ROOT DST_ROOT
        [--gop 1] [--crf Q] [--frames] [--jobs N] [--min-psnr 40]

Every video of ``LIST`` (a ``VideoDataset`` list: ``<video> [<label>
...]`` per line) is re-encoded from ``SRC_ROOT/<video>`` into
``DST_ROOT/<video>``: same relative path, name, frame size, frame rate
and frame count, video only, with a keyframe every ``--gop`` frames
(default 1: all-intra) and no B-frames, so a decoder reaches any frame by
decoding at most ``gop`` frames. ``.webm`` files stay VP9, everything else
becomes H.264 (``libx264``) in the same container. The same list then
works with ``data_prefix=dict(video=DST_ROOT)``.

With ``--frames`` each video becomes a folder of JPEG frames instead,
``DST_ROOT/<video without extension>/img_00001.jpg, ...`` (every frame,
as MMAction2's ``RawframeDataset`` reads them with its default
``filename_tmpl``), and the tool writes their list,
``DST_ROOT/list_rawframes.txt`` (``<folder> <frames> <label> ...`` per
line): a config then reads them with ``RawframeDataset``,
``data_prefix=dict(img=DST_ROOT)`` and ``RawFrameDecode``.

- Runs ``--jobs`` ffmpeg processes at once (one thread each, driven by
  threads: nothing is forked from this process) with a
  progress bar.
- Resumable: a video is written under a temporary name and renamed when
  done; finished videos are recorded in ``DST_ROOT/make_seekable.jsonl``
  and skipped by the next run.
- Never writes into ``SRC_ROOT``: a ``DST_ROOT`` equal to it, inside it or
  holding it is refused.
- Checks each result against ffmpeg's own decode of the source: equal
  frame counts and a PSNR of at least ``--min-psnr`` dB (ffmpeg's ``psnr``
  filter, the mean over frames of the Y, U and V planes); the summary
  gives the size growth and the lowest PSNR, and names every video that
  fails (exit status 1).

A list or roots it cannot use are one ``error:`` line, status 1
(``--debug`` shows the traceback).
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from multiprocessing.pool import ThreadPool
from typing import Dict, Optional, Sequence

from mmengine.utils import ProgressBar
from seekable import DEFAULT_CRF, reencode

from mmblvnet.datasets.annotation import Entry, read_video_list
from mmblvnet.utils.cli import run_main

LOG_FILE = 'make_seekable.jsonl'
FRAME_LIST = 'list_rawframes.txt'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments (``argv`` defaults to ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description='Re-encode a video list with short keyframe intervals '
        '(same names, sizes and frame rates) and check the PSNR')
    parser.add_argument('list', help='VideoDataset list file')
    parser.add_argument('src_root', help='folder the list paths are in')
    parser.add_argument('dst_root', help='folder of the re-encoded videos')
    parser.add_argument('--gop', type=int, default=1,
                        help='frames per keyframe interval (1: all-intra)')
    defaults = ', '.join(f'{codec} {crf}'
                         for codec, crf in DEFAULT_CRF.items())
    parser.add_argument('--crf', type=int,
                        help='constant quality of the encoder, lower is '
                        f'better and larger (default: {defaults})')
    parser.add_argument('--frames', action='store_true',
                        help='write JPEG frame folders and their '
                        f'RawframeDataset list ({FRAME_LIST})')
    parser.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--min-psnr', type=float, default=40.0)
    args = parser.parse_args(argv)
    if args.gop < 1:
        parser.error(f'--gop must be >= 1, got {args.gop}')
    return args


def check_roots(src_root: str, dst_root: str) -> None:
    """Refuse a destination that could overwrite anything in the source."""
    src, dst = osp.realpath(src_root), osp.realpath(dst_root)
    if osp.commonpath([src, dst]) in (src, dst):
        raise ValueError(
            f'DST_ROOT {dst_root} and SRC_ROOT {src_root} overlap; choose '
            'a destination outside the source (the source is never '
            'written)')


def output_path(video: str, frames: bool) -> str:
    """Where a video of the list goes, relative to DST_ROOT: the same
    path, or for frames the path without its extension (a folder)."""
    return osp.splitext(video)[0] if frames else video


def finished(dst_root: str, frames: bool) -> Dict[str, Dict]:
    """Results of an earlier run of the same kind (videos or frame
    folders) whose outputs still exist."""
    log = osp.join(dst_root, LOG_FILE)
    if not osp.isfile(log):
        return {}
    exists = osp.isdir if frames else osp.isfile
    done = {}
    with open(log) as f:
        for line in f:
            result = json.loads(line)
            video = result['video']
            if (result.get('frames_output', False) == frames and exists(
                    osp.join(dst_root, output_path(video, frames)))):
                done[video] = result
    return done


def write_frame_list(path: str, entries: Sequence[Entry],
                     results: Sequence[Dict]) -> None:
    """The RawframeDataset list of the frame folders written: the lines
    of the video list with a folder and frame count for the video."""
    frames = {r['video']: r['frames'] for r in results if 'error' not in r}
    with open(path, 'w') as f:
        for entry in entries:
            video = entry.fields[0]
            if video in frames:
                labels = ''.join(f' {label}' for label in entry.labels)
                f.write(f'{output_path(video, True)} {frames[video]}'
                        f'{labels}\n')


def summarize(results: Sequence[Dict], min_psnr: float) -> Dict:
    """Totals of the results and the videos that failed or fell short."""
    good = [r for r in results if 'error' not in r]
    src_bytes = sum(r['src_bytes'] for r in good)
    dst_bytes = sum(r['dst_bytes'] for r in good)
    return dict(
        videos=len(results),
        size_growth=dst_bytes / src_bytes if src_bytes else math.nan,
        min_psnr=min((r['psnr'] for r in good), default=math.nan),
        failed={r['video']: r['error'] for r in results if 'error' in r},
        low_psnr={r['video']: r['psnr'] for r in good
                  if r['psnr'] < min_psnr})


def make_seekable(args: argparse.Namespace) -> int:
    """Re-encode the list's videos; the exit status (1: some failed)."""
    check_roots(args.src_root, args.dst_root)
    entries = read_video_list(args.list)
    os.makedirs(args.dst_root, exist_ok=True)
    done = finished(args.dst_root, args.frames)
    videos = list(dict.fromkeys(entry.fields[0] for entry in entries))
    tasks = [dict(video=v, src=osp.join(args.src_root, v),
                  dst=osp.join(args.dst_root, output_path(v, args.frames)),
                  gop=args.gop, crf=args.crf, frames=args.frames)
             for v in videos if v not in done]
    results = [done[v] for v in videos if v in done]
    bar = ProgressBar(len(tasks), file=sys.stderr)
    with ThreadPool(max(1, args.jobs)) as pool, open(
            osp.join(args.dst_root, LOG_FILE), 'a') as log:
        for result in pool.imap_unordered(reencode, tasks):
            if 'error' not in result:
                log.write(json.dumps(
                    dict(result, frames_output=args.frames)) + '\n')
                log.flush()
            results.append(result)
            bar.update()
    sys.stderr.write('\n')
    summary = summarize(results, args.min_psnr)
    if args.frames:
        frame_list = osp.join(args.dst_root, FRAME_LIST)
        write_frame_list(frame_list, entries, results)
        use = (f"type='RawframeDataset', ann_file='{frame_list}', "
               f"data_prefix=dict(img='{args.dst_root}') and RawFrameDecode")
    else:
        use = (f"data_prefix=dict(video='{args.dst_root}') with the same "
               'list')
    print(f"{summary['videos']} videos ({len(done)} from an earlier run) in "
          f"{args.dst_root}: size x{summary['size_growth']:.2f}, lowest "
          f"PSNR {summary['min_psnr']:.1f} dB; use {use}")
    for video, error in summary['failed'].items():
        print(f'error: {osp.join(args.src_root, video)}: {error}',
              file=sys.stderr)
    for video, value in summary['low_psnr'].items():
        written = osp.join(args.dst_root, output_path(video, args.frames))
        print(f'error: {written}: PSNR {value:.1f} dB < --min-psnr '
              f'{args.min_psnr}', file=sys.stderr)
    return 1 if summary['failed'] or summary['low_psnr'] else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool; user errors are one ``error:`` line, status 1."""
    return run_main(lambda rest: make_seekable(parse_args(rest)), argv)


if __name__ == '__main__':
    sys.exit(main())
