"""Everything after Kafka: the Faust app, embedding clients, index backends, retrieval, ops.

Imports `schemas`, never `ingest`.
"""
