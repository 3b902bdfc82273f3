"""One ``error: <file>: <reason>`` line for user errors in the tools.

The command-line tools (``tools/train.py``, ``test.py``, ``demo.py``,
``convert_ibm_checkpoint.py``, ``deployment/export_onnx.py``,
``deployment/quantize.py``, ``data/make_seekable.py``,
``analysis/get_flops.py``, ``analysis/profile_train_step.py``,
``misc/generate_zoo_configs.py``, ``python -m mmblvnet.quickstart``, the
data generator ``python -m mmblvnet.datasets.synthetic``, and in a clone
the benchmarks ``python -m benchmarks.*`` and the study
``python -m study``) run their ``main`` through
:func:`run_main`, so all of them report what a user
can fix (a missing, empty, truncated or foreign checkpoint, keys that do
not fit the model, a bad video, also one met by a data-loader worker, a
wrong option, a full disk) the same way: one line on stderr and exit
status 1. :data:`USER_ERRORS` is the one list of what counts as such a
failure. ``--debug`` on the command line, or the environment variable
``MMBLVNET_DEBUG=1``, lets the exception through with its traceback.
:func:`build_runner` builds the runner a config names, with every failure
to load a checkpoint one error naming the file.
"""
import contextlib
import os
import pickle
import sys
from typing import (
    Any,
    Callable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

from mmengine.config import Config
from mmengine.runner import Runner

from ..converters.key_rules import CheckpointKeyError
from ..datasets.checked import BadSampleError
from ..engine.checkpoint_integrity import CheckpointFileError

DEBUG_FLAG = '--debug'
DEBUG_ENV = 'MMBLVNET_DEBUG'

# Failures a user can fix, for every tool. Anything else is a bug and keeps
# its traceback. ValueError covers the checks of the package
# (CheckpointFileError, AnnotationError, the config checks); OSError a
# missing input, an existing output, a full disk.
USER_ERRORS: Tuple[type, ...] = (OSError, ValueError, EOFError,
                                 pickle.UnpicklingError, BadSampleError,
                                 CheckpointKeyError)
# How torch re-raises an error of a data-loader worker: this line, then the
# worker's traceback, whose last line is the original error.
WORKER_TRACEBACK = 'Original Traceback (most recent call last):'


def _reason(error: BaseException) -> str:
    message = ' '.join(str(error).split())
    if isinstance(error, EOFError):
        return ('the file ends before the checkpoint does (empty or '
                'truncated); copy or download it again')
    return f'{type(error).__name__}: {message}' if message else type(
        error).__name__


@contextlib.contextmanager
def checkpoint_errors(path: str) -> Iterator[None]:
    """Re-raise any failure to read or load ``path`` as
    :class:`CheckpointFileError` naming the file.

    Whatever the library raises while it loads the file (``EOFError`` for
    an empty file, torch's zip errors for a truncated one, a refused
    pickle, a non-dict, the checks of the checkpoint hooks) becomes
    ``'<path>: <reason>'``; an error whose message starts with the file
    keeps it. A local path that is not a file is refused before loading.

    Args:
        path (str): The checkpoint file being loaded.
    """
    path = str(path)
    if '://' not in path and not os.path.isfile(path):
        raise CheckpointFileError(path, 'no such checkpoint file')
    try:
        yield
    except CheckpointFileError:
        raise
    except Exception as error:  # any failure while loading this file
        message = ' '.join(str(error).split())
        reason = (message[len(path) + 2:] if message.startswith(f'{path}: ')
                  else f'cannot be loaded as a checkpoint ({_reason(error)})')
        raise CheckpointFileError(path, reason) from error


def build_runner(cfg: Config) -> Runner:
    """Build the runner the config asks for (``runner_type``, default
    MMEngine's ``Runner``) whose checkpoint loads fail with one
    :func:`checkpoint_errors` error naming the file."""
    from mmaction.registry import RUNNERS
    runner_cls = RUNNERS.get(cfg.get('runner_type', 'Runner'))

    class Named(runner_cls):

        def load_checkpoint(self, filename: str, *args, **kwargs):
            with checkpoint_errors(filename):
                return super().load_checkpoint(filename, *args, **kwargs)

    Named.__name__ = Named.__qualname__ = runner_cls.__name__
    return Named.from_cfg(cfg)


def split_debug(argv: Optional[Sequence[str]]) -> Tuple[List[str], bool]:
    """``argv`` without ``--debug``, and whether tracebacks are wanted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, '') not in (
        '', '0')
    return [arg for arg in argv if arg != DEBUG_FLAG], debug


def error_line(error: BaseException) -> str:
    """``error: <file>: <reason>`` for a user error.

    A ``FileNotFoundError`` (or other ``OSError``) with a file name gets
    the name in front; the other errors of the tools already start with
    the file they are about. An error raised in a data-loader worker
    (torch adds the worker's traceback to its message) keeps its own
    message only. The keys of a :class:`CheckpointKeyError` follow the
    line, one a line.
    """
    filename = getattr(error, 'filename', None)
    if isinstance(error, OSError) and filename and error.strerror:
        return f'error: {filename}: {error.strerror}'
    message, listing = str(error), ''
    if WORKER_TRACEBACK in message:
        message = message.rstrip().splitlines()[-1].partition(': ')[2]
    if isinstance(error, CheckpointKeyError):
        message, _, listing = message.partition('\n')
    line = f'error: {" ".join(message.split()) or type(error).__name__}'
    return f'{line}\n{listing}' if listing else line


def run_main(main: Callable[[List[str]], Any],
             argv: Optional[Sequence[str]] = None) -> int:
    """Run a tool's ``main(argv)``; user errors become one stderr line.

    Args:
        main (callable): Takes the arguments (without ``--debug``) and
            returns an exit status; anything else (None, or the results a
            tool's function returns to its Python callers) means 0.
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` when
            None.

    Returns:
        int: The exit status: ``main``'s, or 1 after a user error.
    """
    argv, debug = split_debug(argv)
    try:
        status = main(argv)
    except USER_ERRORS as error:
        if debug:
            raise
        print(error_line(error), file=sys.stderr)
        return 1
    return status if isinstance(status, int) else 0
