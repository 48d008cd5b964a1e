"""The in-memory search index of the SQLite catalogue (see index.py)."""
