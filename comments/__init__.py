"""comments: a self-hosted discussion server for blogs."""

__version__ = "0.1.0"
