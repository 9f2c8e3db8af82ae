//! The DynamoDB client, built once per process with bounded timeouts and retries, and the mapping of
//! its errors to [`StoreError`].

use crate::config::Config;
use crate::error::StoreError;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::HashMap;
use std::time::Duration;

pub mod once;
pub mod transact;
pub mod update;

pub use aws_sdk_dynamodb::Client;
pub use once::WriteToken;
pub use transact::{delete_existing, transact, Transacted};
pub use update::UpdateExpression;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Time allowed for one attempt of a call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Time allowed for a call, retries included; well inside the functions' timeout (10 s).
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(4_000);
/// Attempts per call, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

/// Builds the client with the SDK's whole default configuration chain (environment, profile files,
/// web identity, ECS, IMDS), as the dev server and the tests need (people run them against real AWS
/// with profiles); bounded timeouts and retries. With `DYNAMODB_ENDPOINT` set (DynamoDB Local),
/// region and credentials default to placeholders when the environment has none.
/// The Lambda functions use [`lambda_client`] instead.
pub async fn client(config: &Config) -> Client {
    Client::new(&sdk_config(config).await)
}

/// Builds the client of a Lambda function: region (`AWS_REGION`, else `AWS_DEFAULT_REGION`) and
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) from the
/// environment, where the Lambda runtime puts them, with the same HTTPS client, timeouts, retries and
/// `DYNAMODB_ENDPOINT` override as [`client`].
///
/// In Lambda, [`client`]'s default chain would stop at the same environment variables; building the
/// client from them directly leaves the rest of the chain (profile files, SSO, STS web identity and
/// assume-role, ECS and IMDS providers) out of the binary: it is what keeps the functions under 5 MiB.
/// Configuration that only the default chain reads (profile files, `AWS_ENDPOINT_URL*`,
/// `AWS_USE_FIPS_ENDPOINT`, ...) is not read here: the functions are configured by `DYNAMODB_ENDPOINT`.
pub async fn lambda_client(config: &Config) -> Client {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    use aws_config::meta::region::ProvideRegion;
    let endpoint = config.dynamodb_endpoint.as_deref();
    let region = match EnvironmentVariableRegionProvider::new().region().await {
        Some(region) => Some(region),
        None => endpoint.map(|_| Region::new("us-east-1")),
    };
    let mut builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .http_client(https_client())
        .timeout_config(timeout_config())
        .retry_config(retry_config());
    builder = match endpoint {
        Some(endpoint) if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() => builder
            .endpoint_url(endpoint)
            .credentials_provider(local_credentials()),
        Some(endpoint) => builder
            .endpoint_url(endpoint)
            .credentials_provider(EnvironmentVariableCredentialsProvider::new()),
        None => builder.credentials_provider(EnvironmentVariableCredentialsProvider::new()),
    };
    Client::from_conf(builder.build())
}

/// A client that records the name of every DynamoDB call it makes (for round-trip budgets in
/// tests and benchmarks).
pub async fn counted_client(config: &Config) -> (Client, CallCounter) {
    let counter = CallCounter::default();
    let dynamo_config = aws_sdk_dynamodb::config::Builder::from(&sdk_config(config).await)
        .interceptor(counter.clone())
        .build();
    (Client::from_conf(dynamo_config), counter)
}

/// The SDK configuration [`client`] uses.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeout_config())
        .retry_config(retry_config());
    if let Some(endpoint) = &config.dynamodb_endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(local_credentials());
        }
    }
    loader.load().await
}

/// Placeholder credentials for DynamoDB Local when the environment has none.
fn local_credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "dynamodb-local")
}

/// Bounded timeouts: [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`], [`OPERATION_TIMEOUT`].
fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Standard retries: [`MAX_ATTEMPTS`] attempts, backoff from 50 ms up to 500 ms.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500))
}

/// The HTTPS client: hyper with rustls on the `ring` crypto provider (smaller and quicker to load
/// than the SDK's default aws-lc; one TLS stack in the binary).
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Records the operation name of every call made through a client built by [`counted_client`].
#[derive(Debug, Clone, Default)]
pub struct CallCounter(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl CallCounter {
    /// The calls made so far, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let name = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or("unknown", |m| m.name())
            .to_owned();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(name);
        Ok(())
    }
}

/// Error codes that mean "try again later": a `503`.
const UNAVAILABLE_CODES: [&str; 8] = [
    "ProvisionedThroughputExceededException",
    "TransactionConflictException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
];

/// Maps an SDK error of the call `op` to a [`StoreError`]: network faults, timeouts and throttling
/// are `Unavailable`; an item over the size limit is `TooLarge`; the rest is `Internal`.
pub fn store_error<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = match err.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("Unknown"),
            service.message().unwrap_or_default()
        ),
        None => DisplayErrorContext(&err).to_string(),
    };
    tracing::warn!(op, error = %detail, "dynamodb call failed");
    match &err {
        SdkError::TimeoutError(_) => StoreError::Unavailable(format!("{op} timed out")),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("{op} could not reach DynamoDB"))
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown");
            let message = service.err().message().unwrap_or_default();
            if UNAVAILABLE_CODES.contains(&code) {
                StoreError::Unavailable(format!("{op}: {code}"))
            } else if code == "ValidationException"
                && message.contains("exceeded the maximum allowed size")
            {
                StoreError::TooLarge(format!(
                    "the item is over DynamoDB's 400 KB item limit ({message})"
                ))
            } else {
                StoreError::Internal(format!("{op}: {code}: {message}"))
            }
        }
        _ => StoreError::Internal(format!("{op}: {detail}")),
    }
}

/// Converts an item read from a table into `T` (without the exactly-once token sets, see [`once`]);
/// a mismatch means a corrupt item: `Internal`.
pub fn from_item<T: serde::de::DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    once::strip(&mut item);
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Internal(format!("stored item does not read back: {e}")))
}

/// Converts `value` into an item.
pub fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value)
        .map_err(|e| StoreError::Internal(format!("item does not convert: {e}")))
}

/// The shard of `key` among `shards`: FNV-1a of its bytes, modulo `shards`. Stable across builds
/// and machines (it is stored), spreading writes of a sharded index over its partitions.
pub fn shard_of(key: &str, shards: u32) -> u32 {
    let hash = key.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % shards
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl Into<crate::Num>) -> AttributeValue {
    AttributeValue::N(value.into().to_dynamo())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_fnv1a_values() {
        // FNV-1a 32 of "a" is 0xe40c292c; these values are stored, so they must never change.
        assert_eq!(shard_of("a", 1 << 31), 0xe40c_292c - (1 << 31));
        assert_eq!(shard_of("", 8), 0x811c_9dc5 % 8);
        assert!((0..100).all(|i| shard_of(&format!("k{i}"), 4) < 4));
    }
}
