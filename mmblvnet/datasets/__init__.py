"""Data sets: the synthetic temporal video generator."""
