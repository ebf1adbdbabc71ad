"""Vector index backends behind the `VectorIndex` interface."""
