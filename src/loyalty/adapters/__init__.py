"""Adapters around the pure engine: storage (SQLAlchemy Core over SQLite or PostgreSQL)."""
