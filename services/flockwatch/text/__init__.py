"""Text scoring: normalisation, rule signals, embeddings, the machine-text detector, narratives.

Everything here is plain functions and small classes over strings, numpy arrays and dataclasses:
no Kafka, store or Airflow imports, so the CLI, the streaming worker and the DAG task share it.
"""
