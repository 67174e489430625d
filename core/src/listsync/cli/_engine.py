"""Commands registered on the listsync app (see listsync.cli)."""

from listsync.cli import app

__all__ = ["app"]
