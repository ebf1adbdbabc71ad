"""Everything before Kafka: sources (feeds), the prepare chain (clean, chunk) and the producer.

Imports `schemas`, never `workers`.
"""
