"""The one place the version is written: the distribution, the runtime and the plugin read it."""

__version__ = "0.2.0"
