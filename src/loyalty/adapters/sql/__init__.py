"""Durable storage with SQLAlchemy Core: SQLite by default, PostgreSQL for production."""
