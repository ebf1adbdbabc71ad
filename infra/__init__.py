"""freshindex infrastructure: the local stack (Tansu broker, tritonserver) and the CLI."""
