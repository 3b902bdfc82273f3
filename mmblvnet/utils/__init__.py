"""Utilities shared by the tools."""
