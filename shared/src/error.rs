//! The one error type of the service and its mapping to HTTP statuses and bodies (CONTRACT.md §3).

use serde::Serialize;

/// Everything a request can fail with. Each variant is a response, not a crash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not a JSON object.
    #[error("{0}")]
    InvalidJson(String),
    /// The arguments fail validation; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// Authentication failed.
    #[error("missing or invalid admin token")]
    Unauthorized,
    /// No route has this path.
    #[error("no route {0}")]
    RouteNotFound(String),
    /// The route exists but the method is not POST.
    #[error("{0} accepts only POST")]
    MethodNotAllowed(String),
    /// The body, or the item it would write, is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No admin token is configured: the deployment is misconfigured.
    #[error("no admin token is configured (set CONVEX_DEPLOYMENT_KEY or CONVEX_ADMIN_KEY)")]
    MissingAdminToken,
    /// A bug, or a misconfiguration other than the admin token.
    #[error("{0}")]
    Internal(String),
    /// The database is unreachable, throttled past retries, or timed out.
    #[error("{0}")]
    StoreUnavailable(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidArgument(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::RouteNotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::MissingAdminToken | ApiError::Internal(_) => 500,
            ApiError::StoreUnavailable(_) => 503,
        }
    }

    /// The machine-readable code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidArgument(_) => "invalid_argument",
            ApiError::Unauthorized => "unauthorized",
            ApiError::RouteNotFound(_) => "route_not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::MissingAdminToken => "missing_admin_token",
            ApiError::Internal(_) => "internal",
            ApiError::StoreUnavailable(_) => "store_unavailable",
        }
    }

    /// The JSON body: `{ "error": { "code": ..., "message": ... } }`.
    pub fn body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            code: &'a str,
            message: String,
        }
        let body = Body {
            error: Detail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        serde_json::to_vec(&body).expect("an error body always serializes")
    }
}

/// What a store can fail with; handlers turn it into an [`ApiError`] with `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, throttled past retries, or timed out: `503`.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The item would exceed DynamoDB's 400 KB item limit: `413`.
    #[error("{0}")]
    TooLarge(String),
    /// Anything else (a bug, a missing table, a corrupt item): `500`.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable(err.to_string()),
            StoreError::TooLarge(msg) => ApiError::PayloadTooLarge(msg),
            StoreError::Internal(_) => ApiError::Internal(err.to_string()),
        }
    }
}

/// Refuses an item whose stored form would exceed [`crate::MAX_ITEM_BYTES`].
pub fn check_item_size(what: &str, bytes: usize) -> Result<(), StoreError> {
    if bytes > crate::MAX_ITEM_BYTES {
        Err(StoreError::TooLarge(format!(
            "{what} is {bytes} bytes, over the {} byte item limit",
            crate::MAX_ITEM_BYTES
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_status_and_code() {
        let cases = [
            (ApiError::InvalidJson("x".into()), 400, "invalid_json"),
            (
                ApiError::InvalidArgument("x".into()),
                400,
                "invalid_argument",
            ),
            (ApiError::Unauthorized, 401, "unauthorized"),
            (ApiError::RouteNotFound("/x".into()), 404, "route_not_found"),
            (
                ApiError::MethodNotAllowed("/x".into()),
                405,
                "method_not_allowed",
            ),
            (
                ApiError::PayloadTooLarge("x".into()),
                413,
                "payload_too_large",
            ),
            (ApiError::MissingAdminToken, 500, "missing_admin_token"),
            (ApiError::Internal("x".into()), 500, "internal"),
            (
                ApiError::StoreUnavailable("x".into()),
                503,
                "store_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn the_body_nests_code_and_message_under_error() {
        let body = ApiError::InvalidArgument("entry.durationMs: expected a number".into()).body();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({ "error": { "code": "invalid_argument", "message": "entry.durationMs: expected a number" } })
        );
    }

    #[test]
    fn store_errors_become_503_413_and_500() {
        assert_eq!(
            ApiError::from(StoreError::Unavailable("timeout".into())).status(),
            503
        );
        assert_eq!(
            ApiError::from(StoreError::TooLarge("big".into())).status(),
            413
        );
        assert_eq!(
            ApiError::from(StoreError::Internal("bug".into())).status(),
            500
        );
        assert!(check_item_size("entry", crate::MAX_ITEM_BYTES).is_ok());
        assert!(matches!(
            check_item_size("entry", crate::MAX_ITEM_BYTES + 1),
            Err(StoreError::TooLarge(_))
        ));
    }
}
