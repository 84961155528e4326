"""Pure stage logic: functions from Kafka-agnostic messages to outputs and store writes."""
