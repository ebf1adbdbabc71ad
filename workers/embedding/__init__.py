"""Embedding clients: the `Embedder` interface and its Triton implementation."""
