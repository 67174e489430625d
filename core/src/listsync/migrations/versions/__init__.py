"""The revisions of the PostgreSQL state store's schema (alembic scripts)."""
