//! Configuration, read once at start from the environment.

use crate::auth::AuthConfig;

/// Settings every function needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The admin-token guard.
    pub auth: AuthConfig,
    /// A DynamoDB endpoint to use instead of AWS's (`DYNAMODB_ENDPOINT`, e.g. DynamoDB Local).
    pub dynamodb_endpoint: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads settings through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            auth: AuthConfig::from_vars(&var),
            dynamodb_endpoint: var("DYNAMODB_ENDPOINT")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
        }
    }
}

/// A table name from the environment variable `env` (set by `template.yaml`), or `default` locally.
pub fn table_name(env: &str, default: &str) -> String {
    std::env::var(env)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A DynamoDB table a route group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRef {
    /// Its logical id in `template.yaml` (e.g. `UsersTable`).
    pub resource: &'static str,
    /// The environment variable holding its name in Lambda (e.g. `USERS_TABLE`).
    pub env: &'static str,
    /// Its name when the variable is not set (local runs, e.g. `users`).
    pub default: &'static str,
}

impl TableRef {
    /// The table's name: `prefix` + (`$env` or the default).
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}{}", table_name(self.env, self.default))
    }
}
