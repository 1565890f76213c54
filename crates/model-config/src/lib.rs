//! Triton model configuration: schema, parsing, JSON mapping, normalization.
