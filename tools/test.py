"""Test a checkpoint: MMAction2's ``tools/test.py`` with the plugin.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump OUT.pkl]
        [--show] [--show-dir DIR] [--interval N] [--wait-time S]
        [--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}]
        [--debug]

Runs the installed MMAction2's own tool (same arguments), with distributed
runs on CPU-only machines (gloo). A missing, empty, truncated or foreign
checkpoint is one ``error: <file>: <reason>`` line and exit status 1;
``--debug`` (or ``MMBLVNET_DEBUG=1``) shows the traceback instead.
"""
import sys

from mmaction_tool import test

if __name__ == '__main__':
    sys.exit(test())
