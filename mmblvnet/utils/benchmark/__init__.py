"""The parts of the benchmark tools.

- :mod:`.compared_models`: bLVNet-TAM-50, TSM-R50 and TSN-R50 with random
  weights, and random clips for them (all three benchmark tools).
- :mod:`.options`: the command-line options the tools share.
- :mod:`.runs`: the measurements of ``tools/analysis/benchmark.py``
  (its table, the TAM share, the op counts, the OS-visible peak of one
  model in a subprocess).
- :mod:`.capacity`: the largest training batch that fits in CUDA memory.
- :mod:`.targets`: the acceptance targets, as data, and their check.
- :mod:`.report`: the Markdown of ``tools/analysis/benchmark.py``.
- :mod:`.ort_profile`: ONNX Runtime's kernel time per op type
  (``tools/deployment/bench_runtime.py --profile``).

The measuring primitives are :mod:`mmblvnet.utils.profiling`,
:mod:`mmblvnet.utils.tam_timing` and :mod:`mmblvnet.utils.machine`.
"""
