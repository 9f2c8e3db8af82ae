//! The history route group (scaffolding: its routes are being built).

/// The group, for its Lambda bootstrap and the dev server.
pub const GROUP: shared::Group = shared::Group {
    name: "history",
    tables: &[],
    embedded: |_db, _clock| Ok(shared::Routes::new()),
    dynamo: |_client, _prefix, _clock| shared::Routes::new(),
};
