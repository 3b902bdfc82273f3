"""Train a recognizer: MMAction2's ``tools/train.py`` with the plugin.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--no-validate] [--auto-scale-lr] [--seed N] [--cfg-options K=V ...]
        [--launcher {none,pytorch,slurm,mpi}] [--debug]

Runs the installed MMAction2's own tool (same arguments), with distributed
runs on CPU-only machines (gloo), one run per work dir (a lock), the
config checked before anything is built, and one
``error: <file>: <reason>`` line for a user error (a checkpoint that cannot
be resumed, a bad video, a full disk); ``--debug`` (or
``MMBLVNET_DEBUG=1``) shows the traceback instead. SIGTERM or SIGUSR1
saves a checkpoint that ``--resume`` continues from exactly.
"""
import sys

from mmaction_tool import train

if __name__ == '__main__':
    sys.exit(train())
