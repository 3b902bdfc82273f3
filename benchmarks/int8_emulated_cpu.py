"""int8 files with 7-bit and 8-bit weights against fp32 on held-out clips,
run on this CPU and on an emulated AVX2 CPU without VNNI.

    python -m benchmarks.int8_emulated_cpu CONFIG MODEL.onnx --calib LIST
        --test LIST [--calib-size 32] [--cpu Haswell] [--out FILE]

MODEL.onnx is an fp32 export (``export_onnx.py``) of a trained model;
CONFIG its config, whose test pipeline reads the lists. The calibration
clips quantize it twice (:func:`~mmblvnet.apis.quantize.quantize_int8`,
7-bit weights, and the same settings with 8-bit weights, from
``int8_weight_bits.py``). Each int8 file classifies every held-out clip in
ONNX Runtime and OpenVINO, here and under ``qemu-x86_64 -cpu CPU``
(Debian's qemu-user; Haswell has AVX2 but neither AVX-512 nor VNNI): the
table gives top-1 agreement with fp32 and the median and largest error of
a clip's logits over its logit scale.
"""
import argparse
import json
import subprocess
import sys
import tempfile

import numpy as np
from mmengine.config import Config

from benchmarks.int8_weight_bits import quantize_8bit
from benchmarks.report import emit
from mmblvnet.apis.quantize import (
    calibration_clips,
    list_dataset,
    quantize_int8,
)
from mmblvnet.apis.runtime import RuntimeRecognizer
from mmblvnet.utils.cli import run_main

BACKENDS = ('onnxruntime', 'openvino')


def logits(files: dict, clips_path: str) -> dict:
    """Logits of ``clips_path`` (.npy, (N, T, 3, H, W)) by each file and
    runtime, as lists: ``{'file backend': [[...], ...]}``."""
    clips = np.load(clips_path)
    return {f'{name} {backend}':
            RuntimeRecognizer(path, backend, 2).logits(clips).tolist()
            for name, path in files.items() for backend in BACKENDS}


def emulated_logits(files: dict, clips_path: str, cpu: str) -> dict:
    """:func:`logits` in a Python run by ``qemu-x86_64 -cpu cpu``."""
    result = subprocess.run(
        ['qemu-x86_64', '-cpu', cpu, sys.executable, '-m', __spec__.name,
         '--logits', json.dumps(files), clips_path], capture_output=True,
        text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def table(fp32: np.ndarray, found: dict) -> str:
    """Markdown: agreement and errors of each (CPU, file, runtime)."""
    lines = ['| CPU | weights, runtime | top-1 agreement with fp32 | '
             'median / largest error (of the logit scale) |',
             '|---|---|---|---|']
    scale = np.abs(fp32).max(1)
    for cpu, outputs in found.items():
        for key, values in outputs.items():
            values = np.array(values)
            agree = 100 * (values.argmax(1) == fp32.argmax(1)).mean()
            errors = np.abs(values - fp32).max(1) / scale
            lines.append(f'| {cpu} | {key} | {agree:.1f}% | '
                         f'{np.median(errors):.3f} / {errors.max():.3f} |')
    return '\n'.join(lines)


def measure(args: argparse.Namespace, folder: str) -> str:
    cfg = Config.fromfile(args.config)
    fp32 = RuntimeRecognizer(args.model)
    files = {'7-bit': f'{folder}/int8_7bit.onnx',
             '8-bit': f'{folder}/int8_8bit.onnx'}
    calib_set = list_dataset(cfg, args.calib)
    quantize_int8(args.model, files['7-bit'],
                  calibration_clips(fp32, calib_set, args.calib_size))
    quantize_8bit(args.model, files['8-bit'],
                  calibration_clips(fp32, calib_set, args.calib_size))
    test_set = list_dataset(cfg, args.test)
    clips = np.concatenate([fp32.clips(test_set[index]['inputs'])
                            for index in range(len(test_set))])
    clips_path = f'{folder}/clips.npy'
    np.save(clips_path, clips)
    found = {'this CPU': logits(files, clips_path),
             f'emulated {args.cpu}': emulated_logits(files, clips_path,
                                                     args.cpu)}
    return (f'{len(clips)} held-out clips of {args.test}\n\n' +
            table(fp32.logits(clips), found))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('model')
    parser.add_argument('--calib', required=True)
    parser.add_argument('--test', required=True)
    parser.add_argument('--calib-size', type=int, default=32)
    parser.add_argument('--cpu', default='Haswell')
    parser.add_argument('--out')

    def run(rest):
        args = parser.parse_args(rest)
        with tempfile.TemporaryDirectory(prefix='int8-cpu-') as folder:
            emit(measure(args, folder), args.out)

    return run_main(run, argv)


if __name__ == '__main__':
    if sys.argv[1:2] == ['--logits']:
        print(json.dumps(logits(json.loads(sys.argv[2]), sys.argv[3])))
    else:
        sys.exit(main())
