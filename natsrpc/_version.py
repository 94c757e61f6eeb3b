"""The runtime's version; generated modules name the oldest one they accept."""

__version__ = "0.1.0"
