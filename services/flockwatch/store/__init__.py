"""The search store."""
