//! The history store contract, on both stores.
