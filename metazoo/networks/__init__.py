"""Embedding networks (backbones) shared by the algorithms."""

from metazoo.networks.conv4 import Conv4

__all__ = ["Conv4"]
