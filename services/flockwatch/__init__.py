"""Flockwatch: a disinformation monitoring pipeline (ingest, score, graph, store, alert)."""

__version__ = "0.1.0"
