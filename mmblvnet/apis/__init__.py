"""Use a trained model: video inference with MMAction2's API (checked,
:mod:`.recognize`) and ONNX export with a parity check (:mod:`.export`)."""
