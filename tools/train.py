"""Train a recognizer with MMEngine's runner (MMAction2's arguments).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
from mmblvnet.utils.launch import train

if __name__ == '__main__':
    train()
