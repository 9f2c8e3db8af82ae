//! The HTTPS client of every DynamoDB client: hyper with rustls on the `ring` crypto provider
//! (smaller and quicker to load than the SDK's default aws-lc; one TLS stack in the binary).
//!
//! Its connector, and with it the rustls configuration and the root store, is built once, on the
//! first call, and kept. `aws_smithy_http_client`'s own client (`Builder::build_https`) builds it
//! twice on a cold start: once when the DynamoDB client is created (to validate the configuration;
//! the connector is dropped) and again for the first call, parsing every root certificate each
//! time. `make bench` measured the difference (README, Performance).

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

/// The HTTPS client (see the module docs).
pub(crate) fn client() -> SharedHttpClient {
    SharedHttpClient::new(HttpsClient::default())
}

/// Connect and read timeouts: the SDK asks for a connector per pair (operations may override them).
type Timeouts = (Option<Duration>, Option<Duration>);

/// Builds a connector for the first call with each pair of timeouts, and keeps it.
#[derive(Debug, Default)]
pub(crate) struct HttpsClient {
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpsClient {
    /// The connectors built so far.
    #[cfg(test)]
    fn built(&self) -> usize {
        self.connectors.lock().map_or(0, |c| c.len())
    }
}

impl HttpClient for HttpsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(t, _)| *t == timeouts) {
            return connector.clone();
        }
        let mut builder =
            aws_smithy_http_client::Connector::builder().connector_settings(settings.clone());
        builder.set_sleep_impl(components.sleep_impl());
        let connector = SharedHttpConnector::new(
            builder
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .tls_context(TlsContext::default())
                .build(),
        );
        connectors.push((timeouts, connector.clone()));
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

    #[tokio::test]
    async fn the_connector_is_built_once_on_the_first_call() {
        let https = std::sync::Arc::new(HttpsClient::default());
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            // Nothing listens on port 1: every call fails to connect, after the connector is built.
            .endpoint_url("https://127.0.0.1:1")
            .http_client(SharedHttpClient::new(SharedHttps(https.clone())))
            .timeout_config(super::super::timeout_config())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        assert_eq!(https.built(), 0, "creating the client builds no connector");
        for _ in 0..2 {
            let result = client.list_tables().send().await;
            assert!(result.is_err(), "nothing listens on port 1");
        }
        assert_eq!(https.built(), 1, "one connector for both calls");
    }

    /// Lets the test see the client that the SDK configuration owns.
    #[derive(Debug)]
    struct SharedHttps(std::sync::Arc<HttpsClient>);

    impl HttpClient for SharedHttps {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.0.http_connector(settings, components)
        }
    }
}
