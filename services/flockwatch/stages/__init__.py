"""The pipeline's stages, one module each: what a stage reads (``INPUTS``), its name (``STAGE``) and the stage
class whose ``process(messages) -> StageOutcome`` turns a batch of input messages into output messages.

Stages are plain objects over plain messages (:mod:`flockwatch.messages`): no Kafka client, no store engine.
Kafka workers (:mod:`flockwatch.adapters.kafka_bus`) and Airflow tasks run the same objects; the registry that
builds them with their stores is :mod:`flockwatch.workers`.
"""
