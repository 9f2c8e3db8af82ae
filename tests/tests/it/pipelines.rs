//! The pipelines store contract, on both stores.
