//! The HTTPS client of every DynamoDB client: hyper's HTTP/1.1 client (hyper-util's pool) with
//! rustls on the `ring` crypto provider (smaller and quicker to load than the SDK's default aws-lc;
//! one TLS stack in the binary), plugged into the SDK through its `HttpClient` trait.
//!
//! Why not the SDK's own `aws-smithy-http-client`: it always links hyper's HTTP/2 client and the
//! `h2` crate, and switches on hyper-util's HTTP/2 support for every hyper client in the binary
//! (the Lambda runtime's too); DynamoDB's endpoints speak HTTP/1.1 only. Without them every
//! bootstrap is ~650 KB smaller (the api function 5,512,896 → 4,861,704 B), which is what keeps
//! the api function under 5 MiB.
//! What this client does as the SDK's does: a pool of keep-alive connections, plain `http` for
//! DynamoDB Local, the SDK's connect timeout over the whole connect (TCP and TLS), failures classified the same way for the retry layer ([`classify`]) and
//! connections the retry layer poisons left out of the pool. What it does not: HTTP/2, and proxies
//! (the SDK's client takes one only when given a `ProxyConfig`, which this service never gave it;
//! `HTTPS_PROXY` was not read before either).
//!
//! The roots it trusts ([`Roots`]): by default the five AWS endpoints chain to, compiled in
//! (`aws-roots.pem`: Amazon Root CA 1-4 and Starfield Services Root Certificate Authority - G2, the
//! set Amazon Trust Services recommends for a custom trust store), plus the certificates of
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set (a TLS-intercepting proxy's CA, the bench's
//! throwaway CA). Five certificates instead of the platform store's ~145: provided.al2023's bundle
//! is read and parsed on every cold start otherwise. `TLS_ROOTS=platform` switches back to the
//! platform store as the SDK loads it (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the system's
//! bundle and certificate folders), for an endpoint that AWS's roots do not cover.

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{
    capture_connection, CaptureConnection, HttpConnector as Tcp,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The HTTPS client (see the module docs). The TLS configuration (the roots parsed) is made here,
/// when the DynamoDB client is built, so a cold start pays for it during init; the connection pool
/// is made on the first call, for the connect timeout the SDK passes (one value for the client's
/// life: [`super::CONNECT_TIMEOUT`]).
pub(crate) fn client() -> SharedHttpClient {
    let tls = Arc::new(tls_config(Roots::from_env().store()));
    let pool: Mutex<Option<(Option<Duration>, SharedHttpConnector)>> = Mutex::new(None);
    http_client_fn(move |settings, _| {
        let connect_timeout = settings.connect_timeout();
        let mut pool = pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*pool {
            Some((timeout, connector)) if *timeout == connect_timeout => connector.clone(),
            _ => {
                let connector = SharedHttpConnector::new(Http1::new(connect_timeout, &tls));
                *pool = Some((connect_timeout, connector.clone()));
                connector
            }
        }
    })
}

/// rustls on `ring`, TLS 1.2 and 1.3, offering HTTP/1.1 only (ALPN).
fn tls_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// A pool of HTTP/1.1 connections, plain or over TLS by the endpoint's scheme (DynamoDB Local is
/// plain `http`), as the SDK's own hyper client is, without HTTP/2.
#[derive(Debug)]
struct Http1 {
    client: Client<ConnectTimeout<HttpsConnector<Tcp>>, SdkBody>,
}

impl Http1 {
    fn new(connect_timeout: Option<Duration>, tls: &Arc<rustls::ClientConfig>) -> Self {
        let mut tcp = Tcp::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connect = ConnectTimeout {
            inner: HttpsConnector::from((tcp, Arc::clone(tls))),
            timeout: connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connect);
        Self { client }
    }
}

/// Opening a connection, DNS, TCP and the TLS handshake together, bounded by the SDK's connect
/// timeout, as its own client bounds it; the error is an I/O timeout, which [`classify`] makes a
/// timeout for the retry layer.
#[derive(Debug, Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl<C> tower_service::Service<hyper::Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<hyper::Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                None => connecting.await.map_err(Into::into),
                Some(timeout) => match tokio::time::timeout(timeout, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no connection within the connect timeout ({timeout:?})"),
                    )
                    .into()),
                },
            }
        })
    }
}

impl HttpConnector for Http1 {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => {
                return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into())))
            }
        };
        // The SDK poisons the connection of an attempt that failed transiently (a timeout, a 5xx)
        // so that no later call reuses it.
        let connection = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || metadata(&connection));
        }
        let response = self.client.request(request);
        HttpConnectorFuture::new(async move {
            match response.await {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|error| ConnectorError::other(error.into(), None)),
                Err(error) => Err(classify(error)),
            }
        })
    }
}

/// What the SDK's retry layer needs of a connection: a way to poison it.
fn metadata(connection: &CaptureConnection) -> Option<ConnectionMetadata> {
    let poison = connection.clone();
    connection.connection_metadata().as_ref().map(|connected| {
        ConnectionMetadata::builder()
            .proxied(connected.is_proxied())
            .poison_fn(move || {
                if let Some(connected) = poison.connection_metadata().as_ref() {
                    connected.poison();
                }
            })
            .build()
    })
}

/// A failed call as the SDK's retry layer classifies it, as its own hyper client does: timeouts,
/// I/O and closed connections are transient (retried), so is a response cut short (the connection
/// closed before a whole response: DynamoDB may have applied the write, which is why writes carry
/// tokens, see [`super::once`]); a request hyper refused to send is the caller's error.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let timed_out =
        find::<std::io::Error>(&error).is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    let kind = match find::<hyper::Error>(&error) {
        _ if timed_out => Kind::Timeout,
        Some(hyper) if hyper.is_timeout() => Kind::Timeout,
        Some(hyper) if hyper.is_user() => Kind::User,
        Some(hyper) if hyper.is_closed() || hyper.is_canceled() => Kind::Io,
        Some(hyper) if hyper.is_incomplete_message() => Kind::Transient,
        _ if error.is_connect() || find::<std::io::Error>(&error).is_some() => Kind::Io,
        _ => Kind::Other,
    };
    let error = error.into();
    match kind {
        Kind::Timeout => ConnectorError::timeout(error),
        Kind::User => ConnectorError::user(error),
        Kind::Io => ConnectorError::io(error),
        Kind::Transient => ConnectorError::other(error, Some(ErrorKind::TransientError)),
        Kind::Other => ConnectorError::other(error, None),
    }
}

enum Kind {
    Timeout,
    User,
    Io,
    Transient,
    Other,
}

/// The first error of type `E` in `error`'s chain.
fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |&error| error.source()).find_map(|e| e.downcast_ref())
}

/// The root certificates AWS endpoints chain to, as PEM (see the module docs).
const AWS_ROOTS: &str = include_str!("aws-roots.pem");

/// The root certificates the client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Roots {
    /// The AWS roots compiled in, plus those of `SSL_CERT_FILE` / `SSL_CERT_DIR` when `files`.
    Aws { files: bool },
    /// The platform store, as the SDK's default HTTPS client loads it.
    Platform,
}

impl Roots {
    /// From the environment: `TLS_ROOTS` (`aws`, the default, or `platform`), `SSL_CERT_FILE`,
    /// `SSL_CERT_DIR`.
    fn from_env() -> Self {
        let files = std::env::var_os("SSL_CERT_FILE").is_some()
            || std::env::var_os("SSL_CERT_DIR").is_some();
        Self::choose(std::env::var("TLS_ROOTS").ok().as_deref(), files)
    }

    fn choose(tls_roots: Option<&str>, files: bool) -> Self {
        match tls_roots {
            Some("platform") => Roots::Platform,
            None | Some("" | "aws") => Roots::Aws { files },
            Some(other) => {
                tracing::warn!(
                    TLS_ROOTS = other,
                    "unknown TLS_ROOTS (aws or platform): using aws"
                );
                Roots::Aws { files }
            }
        }
    }

    fn store(self) -> rustls::RootCertStore {
        use rustls_pki_types::pem::PemObject;
        let mut store = rustls::RootCertStore::empty();
        // The platform loader reads only SSL_CERT_FILE / SSL_CERT_DIR when either is set.
        let platform = match self {
            Roots::Aws { files } => files,
            Roots::Platform => true,
        };
        if platform {
            let loaded = rustls_native_certs::load_native_certs();
            for error in &loaded.errors {
                tracing::warn!(error = %error, "a root certificate could not be loaded");
            }
            store.add_parsable_certificates(loaded.certs);
        }
        if let Roots::Aws { .. } = self {
            let aws = rustls_pki_types::CertificateDer::pem_slice_iter(AWS_ROOTS.as_bytes())
                .map(|der| der.expect("the compiled-in roots are valid PEM"));
            store.add_parsable_certificates(aws);
        }
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_roots_are_the_five_of_amazon_trust_services() {
        let certificates = AWS_ROOTS.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(certificates, 5);
        for name in [
            "# Amazon Root CA 1\n",
            "# Amazon Root CA 2\n",
            "# Amazon Root CA 3\n",
            "# Amazon Root CA 4\n",
            "# Starfield Services Root Certificate Authority - G2\n",
        ] {
            assert!(AWS_ROOTS.contains(name), "{name}");
        }
        // `make bench` recognises a bootstrap with these roots compiled in by this text.
        assert!(AWS_ROOTS.contains("Amazon Root CA 1"));
        // Each is a certificate rustls takes as a trust anchor.
        use rustls_pki_types::pem::PemObject;
        let ders = rustls_pki_types::CertificateDer::pem_slice_iter(AWS_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        let mut store = rustls::RootCertStore::empty();
        assert_eq!(store.add_parsable_certificates(ders), (5, 0));
    }

    /// A server on a loopback port answering each connection with `serve` (given the stream, after
    /// it has read one request head), counting the connections it accepted.
    fn server(
        serve: impl Fn(&mut std::net::TcpStream) + Send + 'static,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Each request of the connection: its head (GETs: no body), then `serve`.
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                while read_head(&mut reader) {
                    serve(&mut stream);
                }
            }
        });
        (url, accepted)
    }

    /// Reads one request head (up to its empty line); false when the connection ended first.
    fn read_head(reader: &mut impl std::io::BufRead) -> bool {
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line == "\r\n" {
                return true;
            }
            line.clear();
        }
        false
    }

    /// A connector with `connect_timeout` trusting `roots`.
    fn connector_with(connect_timeout: Duration, roots: rustls::RootCertStore) -> Http1 {
        Http1::new(Some(connect_timeout), &Arc::new(tls_config(roots)))
    }

    /// A connector as the functions make it: a 1 s connect timeout, the AWS roots alone.
    fn connector() -> Http1 {
        connector_with(Duration::from_secs(1), Roots::Aws { files: false }.store())
    }

    async fn get(connector: &Http1, url: &str) -> Result<HttpResponse, ConnectorError> {
        connector.call(HttpRequest::get(url).unwrap()).await
    }

    fn answer(stream: &mut impl std::io::Write) {
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-answer: yes\r\n\r\n")
            .unwrap();
    }

    #[tokio::test]
    async fn answers_come_back_and_a_connection_serves_call_after_call() {
        let (url, accepted) = server(answer);
        let connector = connector();
        for _ in 0..3 {
            let response = get(&connector, &url).await.expect("answered");
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(response.headers().get("x-answer"), Some("yes"));
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_poisoned_connection_is_not_used_again() {
        let (url, accepted) = server(answer);
        let connector = connector();
        let capture = CaptureSmithyConnection::new();
        let mut request = HttpRequest::get(&url).unwrap();
        request.add_extension(capture.clone());
        connector.call(request).await.expect("answered");
        let connection = capture.get().expect("the connection was captured");
        connection.poison();
        get(&connector, &url).await.expect("answered");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// The SDK retries what [`classify`] calls timeouts, I/O errors and transient errors; the
    /// fault suites (tests/tests/it/exactly_once) accept a failed call, so this is where a failure
    /// the SDK would not retry shows.
    #[tokio::test]
    async fn failures_are_classified_as_the_sdk_retries_them() {
        // The connection closes after the request, without an answer (a lost response).
        let (url, _) = server(|stream| stream.shutdown(std::net::Shutdown::Both).unwrap());
        let error = get(&connector(), &url).await.expect_err("no answer");
        assert_eq!(
            error.as_other(),
            Some(ErrorKind::TransientError),
            "{error:?}"
        );

        // Nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = get(&connector(), &format!("http://127.0.0.1:{port}/"))
            .await
            .expect_err("refused");
        assert!(error.is_io(), "{error:?}");

        // Not HTTP at all: the answer cannot be parsed (not retried).
        let (url, _) = server(|stream| {
            use std::io::Write;
            stream.write_all(b"SSH-2.0-OpenSSH\r\n\r\n").unwrap();
            stream.shutdown(std::net::Shutdown::Both).unwrap();
        });
        let error = get(&connector(), &url).await.expect_err("not HTTP");
        assert_eq!(error.as_other(), None, "{error:?}");
    }

    /// A TLS endpoint for `localhost` on a loopback port, its certificate issued by a throwaway
    /// CA (returned, DER), answering every request as [`answer`] does.
    fn tls_server() -> (String, rustls_pki_types::CertificateDer<'static>) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://localhost:{}/",
            listener.local_addr().unwrap().port()
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let connection = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream.unwrap());
                // One request a connection is enough here; a refused handshake ends it.
                if read_head(&mut std::io::BufReader::new(&mut tls)) {
                    answer(&mut tls);
                }
            }
        });
        (url, ca.der().clone())
    }

    #[tokio::test]
    async fn the_connect_timeout_bounds_the_tls_handshake() {
        // A server that accepts the TCP connection and never answers the TLS handshake.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://localhost:{}/",
            listener.local_addr().unwrap().port()
        );
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(5));
            drop(held);
        });
        let connector = connector_with(
            Duration::from_millis(300),
            Roots::Aws { files: false }.store(),
        );
        let started = std::time::Instant::now();
        let error = get(&connector, &url).await.expect_err("no handshake");
        assert!(error.is_timeout(), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn https_verifies_the_server_against_the_roots() {
        let (url, ca) = tls_server();

        // The AWS roots alone: the throwaway CA's certificate is refused, nothing is sent.
        let error = get(&connector(), &url)
            .await
            .expect_err("an unknown issuer");
        assert!(format!("{error:?}").contains("UnknownIssuer"), "{error:?}");

        // The same roots and the CA (as SSL_CERT_FILE adds it): answered over TLS.
        let mut roots = Roots::Aws { files: false }.store();
        roots.add(ca).unwrap();
        let response = get(&connector_with(Duration::from_secs(1), roots), &url)
            .await
            .expect("answered");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers().get("x-answer"), Some("yes"));
    }

    #[test]
    fn roots_follow_tls_roots_and_the_ssl_cert_variables() {
        assert_eq!(Roots::choose(None, false), Roots::Aws { files: false });
        assert_eq!(Roots::choose(Some("aws"), true), Roots::Aws { files: true });
        assert_eq!(Roots::choose(Some(""), true), Roots::Aws { files: true });
        assert_eq!(Roots::choose(Some("platform"), false), Roots::Platform);
        assert_eq!(Roots::choose(Some("platform"), true), Roots::Platform);
        assert_eq!(
            Roots::choose(Some("system"), false),
            Roots::Aws { files: false }
        );
    }
}
