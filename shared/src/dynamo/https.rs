//! The HTTPS client of every DynamoDB client: hyper with rustls on the `ring` crypto provider
//! (smaller and quicker to load than the SDK's default aws-lc; one TLS stack in the binary).
//!
//! The roots it trusts ([`Roots`]): by default the five AWS endpoints chain to, compiled in
//! (`aws-roots.pem`: Amazon Root CA 1-4 and Starfield Services Root Certificate Authority - G2, the
//! set Amazon Trust Services recommends for a custom trust store), plus the certificates of
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set (a TLS-intercepting proxy's CA, the bench's
//! throwaway CA). Five certificates instead of the platform store's ~145: provided.al2023's bundle
//! is read and parsed on every cold start otherwise. `TLS_ROOTS=platform` switches back to the
//! platform store as the SDK loads it (`SSL_CERT_FILE` / `SSL_CERT_DIR` when set, else the system's
//! bundle and certificate folders), for an endpoint that AWS's roots do not cover.

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The HTTPS client (see the module docs).
pub(crate) fn client() -> SharedHttpClient {
    let tls = TlsContext::builder()
        .with_trust_store(Roots::from_env().trust_store())
        .build()
        .expect("a TLS context without options builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
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

    fn trust_store(self) -> TrustStore {
        match self {
            // The platform loader reads only SSL_CERT_FILE / SSL_CERT_DIR when either is set.
            Roots::Aws { files } => TrustStore::empty()
                .with_native_roots(files)
                .with_pem_certificate(AWS_ROOTS.as_bytes()),
            Roots::Platform => TrustStore::default(),
        }
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
