"""The model stage: safe loading, the in-memory representation, and the shape engine."""
