"""Train a recognizer: MMAction2's ``tools/train.py`` with the plugin.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--no-validate] [--auto-scale-lr] [--seed N] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--debug]

Runs the installed MMAction2's own tool (same arguments), with distributed
runs on CPU-only machines (gloo) and one ``error: <file>: <reason>`` line
for a checkpoint that cannot be resumed; ``--debug`` (or
``MMBLVNET_DEBUG=1``) shows the traceback instead.
"""
import sys

from mmblvnet.utils.launch import train

if __name__ == '__main__':
    sys.exit(train())
