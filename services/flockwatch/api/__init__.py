"""The analyst surface: the query API (FastAPI), its tokens, roles and audit log."""
