"""pytest plugin entry point of the conformance kit (see listsync.testing)."""
