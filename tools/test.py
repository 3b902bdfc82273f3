"""Test a checkpoint with MMEngine's runner (MMAction2's arguments).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump OUT.pkl]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
from mmblvnet.utils.launch import test

if __name__ == '__main__':
    test()
