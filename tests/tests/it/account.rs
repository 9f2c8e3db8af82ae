//! The account store contract, on both stores.
