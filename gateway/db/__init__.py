"""The accounts and history database: engine and sessions, table models, Alembic migrations."""
