//! The admin-token guard of CONTRACT.md §2.

use std::fmt;
use subtle::ConstantTimeEq;

/// Schemes accepted when `CONVEX_AUTH_SCHEME` is not set.
pub const DEFAULT_SCHEMES: [&str; 3] = ["Bearer", "Deployment", "Convex"];

/// The legacy header accepted as a fallback.
pub const LEGACY_HEADER: &str = "x-convex-admin-key";

/// What the guard decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A valid `Authorization` header.
    Allowed,
    /// No valid `Authorization` header, but a valid legacy `x-convex-admin-key` header.
    AllowedByLegacyHeader,
    /// Anything else: `401`.
    Denied,
    /// No token is configured at all: `500`, and an operator must be paged.
    NotConfigured,
}

/// The guard's settings, read once at start.
#[derive(Clone, Default)]
pub struct AuthConfig {
    tokens: Vec<String>,
    scheme: Option<String>,
    legacy_header: bool,
}

// Hand-written so that no token can reach a log line through `{:?}`.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("scheme", &self.scheme)
            .field("legacy_header", &self.legacy_header)
            .finish()
    }
}

impl AuthConfig {
    /// Reads `CONVEX_DEPLOYMENT_KEY`, `CONVEX_ADMIN_KEY`, `CONVEX_AUTH_SCHEME` and `LEGACY_ADMIN_HEADER`
    /// through `var` (the process environment in production, a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let tokens = ["CONVEX_DEPLOYMENT_KEY", "CONVEX_ADMIN_KEY"]
            .iter()
            .filter_map(|name| var(name))
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
            .collect();
        let scheme = var("CONVEX_AUTH_SCHEME")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let legacy_header = !matches!(
            var("LEGACY_ADMIN_HEADER")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref(),
            Some("off" | "false" | "0" | "no")
        );
        Self {
            tokens,
            scheme,
            legacy_header,
        }
    }

    /// True when at least one token is configured.
    pub fn is_configured(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Decides on a request from its `Authorization` and `x-convex-admin-key` header values.
    pub fn check(&self, authorization: Option<&str>, legacy: Option<&str>) -> Decision {
        if !self.is_configured() {
            return Decision::NotConfigured;
        }
        if let Some(token) = authorization.and_then(|h| self.bearer_token(h)) {
            if self.is_allowed(token) {
                return Decision::Allowed;
            }
        }
        if self.legacy_header {
            if let Some(token) = legacy.map(str::trim).filter(|t| !t.is_empty()) {
                if self.is_allowed(token) {
                    return Decision::AllowedByLegacyHeader;
                }
            }
        }
        Decision::Denied
    }

    /// `<scheme> <token>`: trimmed, split at the first space, the rest trimmed; the scheme must be
    /// accepted and the token non-empty.
    fn bearer_token<'h>(&self, header: &'h str) -> Option<&'h str> {
        let (scheme, token) = header.trim().split_once(' ')?;
        let token = token.trim();
        let scheme_ok = match &self.scheme {
            Some(required) => scheme.eq_ignore_ascii_case(required),
            None => DEFAULT_SCHEMES
                .iter()
                .any(|s| scheme.eq_ignore_ascii_case(s)),
        };
        (scheme_ok && !token.is_empty()).then_some(token)
    }

    /// Compares against every configured token in constant time (no early exit on a match).
    fn is_allowed(&self, token: &str) -> bool {
        self.tokens
            .iter()
            .fold(subtle::Choice::from(0), |found, allowed| {
                found | allowed.as_bytes().ct_eq(token.as_bytes())
            })
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> AuthConfig {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuthConfig::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn no_configured_token_is_reported_before_anything_else() {
        let guard = config(&[("CONVEX_ADMIN_KEY", "   ")]);
        assert_eq!(guard.check(Some("Bearer x"), None), Decision::NotConfigured);
        assert_eq!(guard.check(None, None), Decision::NotConfigured);
    }

    #[test]
    fn both_keys_are_accepted_and_trimmed() {
        let guard = config(&[
            ("CONVEX_DEPLOYMENT_KEY", " dep-key \n"),
            ("CONVEX_ADMIN_KEY", "admin-key"),
        ]);
        assert_eq!(guard.check(Some("Bearer dep-key"), None), Decision::Allowed);
        assert_eq!(
            guard.check(Some("Bearer admin-key"), None),
            Decision::Allowed
        );
        assert_eq!(guard.check(Some("Bearer other"), None), Decision::Denied);
        assert_eq!(guard.check(Some("Bearer dep-ke"), None), Decision::Denied);
    }

    #[test]
    fn the_header_is_trimmed_and_split_at_the_first_space() {
        let guard = config(&[("CONVEX_ADMIN_KEY", "k")]);
        assert_eq!(
            guard.check(Some("  Bearer    k  "), None),
            Decision::Allowed
        );
        assert_eq!(guard.check(Some("Bearer"), None), Decision::Denied);
        assert_eq!(guard.check(Some("Bearer   "), None), Decision::Denied);
        assert_eq!(guard.check(Some("k"), None), Decision::Denied);
        assert_eq!(guard.check(Some("Bearer k extra"), None), Decision::Denied);
        assert_eq!(guard.check(None, None), Decision::Denied);
    }

    #[test]
    fn default_schemes_are_bearer_deployment_and_convex_in_any_case() {
        let guard = config(&[("CONVEX_ADMIN_KEY", "k")]);
        for scheme in [
            "Bearer",
            "bearer",
            "DEPLOYMENT",
            "Deployment",
            "convex",
            "Convex",
        ] {
            assert_eq!(
                guard.check(Some(&format!("{scheme} k")), None),
                Decision::Allowed,
                "{scheme}"
            );
        }
        assert_eq!(guard.check(Some("Basic k"), None), Decision::Denied);
        assert_eq!(guard.check(Some("Token k"), None), Decision::Denied);
    }

    #[test]
    fn a_configured_scheme_replaces_the_defaults() {
        let guard = config(&[("CONVEX_ADMIN_KEY", "k"), ("CONVEX_AUTH_SCHEME", "Token")]);
        assert_eq!(guard.check(Some("token k"), None), Decision::Allowed);
        assert_eq!(guard.check(Some("TOKEN k"), None), Decision::Allowed);
        assert_eq!(guard.check(Some("Bearer k"), None), Decision::Denied);
    }

    #[test]
    fn the_legacy_header_is_a_fallback_that_can_be_switched_off() {
        let guard = config(&[("CONVEX_ADMIN_KEY", "k")]);
        assert_eq!(
            guard.check(None, Some("k")),
            Decision::AllowedByLegacyHeader
        );
        assert_eq!(
            guard.check(Some("Bearer wrong"), Some(" k ")),
            Decision::AllowedByLegacyHeader
        );
        assert_eq!(guard.check(Some("Bearer k"), Some("k")), Decision::Allowed);
        assert_eq!(guard.check(None, Some("wrong")), Decision::Denied);
        assert_eq!(guard.check(None, Some("")), Decision::Denied);

        let off = config(&[("CONVEX_ADMIN_KEY", "k"), ("LEGACY_ADMIN_HEADER", "off")]);
        assert_eq!(off.check(None, Some("k")), Decision::Denied);
        assert_eq!(off.check(Some("Bearer k"), Some("k")), Decision::Allowed);
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let guard = config(&[("CONVEX_ADMIN_KEY", "super-secret-key")]);
        let shown = format!("{guard:?}");
        assert!(!shown.contains("super-secret-key"), "{shown}");
    }
}
