"""Re-encoding a video so that any frame decodes after few others.

A decoder reaches frame k by decoding from the keyframe before it; in a
long-GOP H.264 video (a keyframe every 250 frames, B-frames) that is up to
hundreds of frames per sampled frame. :func:`reencode` writes a copy with
a keyframe every ``gop`` frames and no B-frames (same frame size, rate and
count) and checks it against ffmpeg's own decode of the source.
``make_seekable.py`` beside it runs it over a data set list. With
``frames=True`` :func:`reencode` writes JPEG frame folders instead
(``img_00001.jpg, ...``, ``RawframeDataset``'s names).
"""
import os
import os.path as osp
import re
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

# Constant-quality settings that kept the generated test videos and
# MMAction2's demo/demo.mp4 above 40 dB all-intra (libx264's scale is
# 0-51, libvpx-vp9's 0-63).
DEFAULT_CRF = {'H.264': 17, 'VP9': 30}
# Frame files of the frame-folder output (RawframeDataset's default
# ``filename_tmpl='img_{:05}.jpg'``) and their JPEG quality (ffmpeg's
# ``-q:v``, 2 is near the best).
FRAME_PATTERN = 'img_%05d.jpg'
JPEG_QUALITY = 2
# Both inputs of the PSNR filter retimed to their frame numbers, so that
# frames are compared in order whatever the inputs' timestamps.
_PSNR_FILTER = ('[0:v]setpts=N/(25*TB)[a];[1:v]setpts=N/(25*TB)[b];'
                '[a][b]psnr')
_PSNR_AVERAGE = re.compile(r'PSNR .*average:(\S+)')


def run_ffmpeg(args: Sequence[str],
               stdin: Optional[bytes] = None,
               loglevel: str = 'error') -> str:
    """Run the ``ffmpeg`` command; an error names the command and its
    output.

    Args:
        args (Sequence[str]): Its arguments after the logging options.
        stdin (bytes, optional): Fed to its standard input.
        loglevel (str): ffmpeg's ``-loglevel`` (``'info'`` for the
            summaries of filters such as ``psnr``).

    Returns:
        str: What it wrote to stderr.
    """
    if shutil.which('ffmpeg') is None:
        raise OSError('the ffmpeg command is not installed (Debian/Ubuntu: '
                      'apt-get install ffmpeg)')
    command = ['ffmpeg', '-hide_banner', '-loglevel', loglevel, '-nostdin',
               *args]
    done = subprocess.run(command, input=stdin, capture_output=True)
    stderr = done.stderr.decode(errors='replace')
    if done.returncode:
        raise RuntimeError(f'{" ".join(command)} failed '
                           f'(exit {done.returncode}): '
                           f'{stderr.strip()[-1000:]}')
    return stderr


def codec_args(path: str, gop: int, crf: Optional[int]) -> List[str]:
    """ffmpeg output options: VP9 for ``.webm``, else H.264; a keyframe
    every ``gop`` frames, no B-frames (nor VP9's hidden alt-ref frames),
    one thread; ``crf`` None takes :data:`DEFAULT_CRF`.

    H.264 is encoded with libx264's ``fastdecode`` tune (CAVLC instead of
    CABAC entropy coding, no deblocking filter): an intra frame then
    decodes in about two thirds of the time for a tenth more bytes, and
    the one step lower CRF keeps the PSNR."""
    if path.endswith('.webm'):
        crf = DEFAULT_CRF['VP9'] if crf is None else crf
        codec = ['-c:v', 'libvpx-vp9', '-b:v', '0', '-crf', str(crf),
                 '-deadline', 'good', '-cpu-used', '4', '-auto-alt-ref', '0']
    else:
        crf = DEFAULT_CRF['H.264'] if crf is None else crf
        # sc_threshold 0: no extra keyframes at scene changes.
        codec = ['-c:v', 'libx264', '-preset', 'veryfast', '-tune',
                 'fastdecode', '-crf', str(crf), '-bf', '0',
                 '-sc_threshold', '0']
    return [*codec, '-g', str(gop), '-keyint_min', str(gop),
            '-pix_fmt', 'yuv420p', '-threads', '1']


def frame_count(path: str) -> int:
    """Video packets in ``path`` (one per frame), counted by ffprobe."""
    done = subprocess.run(
        ['ffprobe', '-v', 'error', '-select_streams', 'v:0',
         '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of',
         'csv=p=0', path], capture_output=True, text=True)
    if done.returncode or not done.stdout.strip().isdigit():
        raise RuntimeError(f'ffprobe cannot count the frames of {path}: '
                           f'{done.stderr.strip()[-300:]}')
    return int(done.stdout)


def psnr(path: str, reference: str) -> float:
    """Mean PSNR in dB of ``path``'s frames against ``reference``'s,
    frame by frame in order (ffmpeg's ``psnr`` filter; ``inf`` when
    identical). ``path`` may be an image pattern such as
    ``folder/img_%05d.jpg``."""
    log = run_ffmpeg(['-i', path, '-i', reference, '-lavfi', _PSNR_FILTER,
                      '-f', 'null', '-'],
                     loglevel='info')
    found = _PSNR_AVERAGE.findall(log)
    if not found:
        raise RuntimeError(f'ffmpeg printed no PSNR for {path}')
    return float(found[-1])


def reencode(task: Dict) -> Dict:
    """Re-encode one video, or write its frames, and check the result.

    Args:
        task (dict): ``video`` (the list path), ``src``, ``dst`` (a file,
            or with ``frames`` the folder of the frames), ``gop``,
            ``crf`` and ``frames`` (write JPEG frames ``FRAME_PATTERN``
            instead of a video).

    Returns:
        dict: ``video``, ``src_bytes``, ``dst_bytes``, ``frames``,
        ``psnr`` or, for a video that failed, ``video`` and ``error``.
    """
    src, dst = task['src'], task['dst']
    try:
        if task['frames']:
            partial = f'{dst}.partial'
            shutil.rmtree(partial, ignore_errors=True)
            os.makedirs(partial)
            written = osp.join(partial, FRAME_PATTERN)
            output = ['-q:v', str(JPEG_QUALITY), '-start_number', '1',
                      written]
        else:
            os.makedirs(osp.dirname(dst), exist_ok=True)
            stem, extension = osp.splitext(dst)
            partial = written = f'{stem}.partial{extension}'
            output = [*codec_args(dst, task['gop'], task['crf']), '-y',
                      partial]
        run_ffmpeg(['-i', src, '-map', '0:v:0', '-an', '-fps_mode',
                    'passthrough', *output])
        frames = (len(os.listdir(partial)) if task['frames'] else
                  frame_count(partial))
        src_frames = frame_count(src)
        if frames != src_frames:
            raise RuntimeError(f'{frames} frames written, the source has '
                               f'{src_frames}')
        quality = psnr(written, src)
        if task['frames']:
            shutil.rmtree(dst, ignore_errors=True)
        os.replace(partial, dst)
    except (OSError, RuntimeError) as error:
        return dict(video=task['video'], error=str(error))
    return dict(video=task['video'], src_bytes=osp.getsize(src),
                dst_bytes=_size(dst), frames=frames, psnr=quality)


def _size(path: str) -> int:
    """Bytes of a file, or of the files in a folder."""
    if osp.isfile(path):
        return osp.getsize(path)
    return sum(entry.stat().st_size for entry in os.scandir(path))
