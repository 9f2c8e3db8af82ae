//! The provisioning store contract, on both stores.
