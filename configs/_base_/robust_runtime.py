# The robust runtime: one line of a config's _base_ list switches it on,
#   _base_ = [..., '../_base_/robust_runtime.py']
# and deleting that line leaves MMAction2's stock runtime. RobustRunner
# (mmblvnet.engine.robust_runner; MMAction2's tools/train.py and
# tools/test.py, mim train/test and the launch scripts build the runner
# that runner_type names) keeps the config's types and, in the run:
# - checks every VideoDataset/RawframeDataset list before anything is
#   built (errors name the file and line) and wraps each data set in
#   CheckedDataset (unreadable samples named with file and list line;
#   each sample's augmentation seeded by (seed, epoch, index));
# - trains with ResumableEpochBasedTrainLoop for EpochBasedTrainLoop
#   (exact mid-epoch resume, a checkpoint on SIGTERM/SIGUSR1) and saves
#   with AtomicCheckpointHook for CheckpointHook (same arguments);
# - adds NumSegmentsCheckHook, LabelRangeCheckHook, StrictLoadHook and
#   NonFiniteLossHook unless custom_hooks names them (to give one its own
#   arguments, e.g. StrictLoadHook(ignore_keys=[r'^cls_head\.']));
# - verifies local checkpoints before loading, holds the work dir's lock
#   while training, and runs distributed on CPU with gloo.
# docs/robustness.md lists every case with its test. The model base
# config imports mmblvnet (custom_imports); with a stock MMAction2 model,
# add custom_imports = dict(imports=['mmblvnet']) to the config.
runner_type = 'RobustRunner'
# CheckedDataset's arguments: on_bad_sample='skip' skips unreadable
# samples in training with a logged warning (val/test still raise).
robust_cfg = dict(on_bad_sample='error', max_bad_in_a_row=20)
