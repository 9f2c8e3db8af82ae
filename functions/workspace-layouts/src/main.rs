//! Lambda bootstrap of the workspaceLayouts group.
// The binary is named after the group, `workspaceLayouts` (see Cargo.toml).
#![allow(non_snake_case)]

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(workspace_layouts::dynamo_routes).await
}
