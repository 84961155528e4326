"""Live collection, the pure part: what to follow (the collection file), when to retry, what is trending.

The clients that talk to platforms live in :mod:`flockwatch.adapters.connectors`; the payload → ``Post``
normalisers live beside the recorded-dataset ones in :mod:`flockwatch.replay`, so a live record and a
replayed one go through the same normalize stage.
"""
