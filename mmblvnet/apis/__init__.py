"""Inference on video files with MMAction2's API, checked."""
