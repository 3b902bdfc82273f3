"""The benchmarks of bLVNet-TAM against TSM and TSN, run from a clone.

Commands (``python -m benchmarks.<name>`` from the repository's root; see
``benchmarks/README.md``): :mod:`.model` (speed, memory and FLOPs of the
models), :mod:`.pipeline` (data loading beside the models),
:mod:`.runtime` (PyTorch, ONNX Runtime and OpenVINO) and
:mod:`.video_styles` (videos stored as the public data sets store them,
from the scenes of :mod:`.scenes`). Their parts:

- :mod:`.compared_models`: bLVNet-TAM-50, TSM-R50 and TSN-R50 with random
  weights, and random clips for them (all three benchmark tools).
- :mod:`.options`: the command-line options the tools share.
- :mod:`.runs`: the measurements of ``python -m benchmarks.model``
  (its table, the TAM share, the op counts, the OS-visible peak of one
  model in a subprocess).
- :mod:`.capacity`: the largest training batch that fits in CUDA memory.
- :mod:`.targets`: the acceptance targets, as data, and their check.
- :mod:`.report`: the Markdown of ``python -m benchmarks.model``.
- :mod:`.ort_profile`: ONNX Runtime's kernel time per op type
  (``python -m benchmarks.runtime --profile``).
- :mod:`.keyframes`: the frames a decoder decodes to reach sampled ones.

The measuring primitives are :mod:`benchmarks.profiling`,
:mod:`benchmarks.tam_timing` and :mod:`benchmarks.machine`.
"""
