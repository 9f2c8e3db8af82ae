//! `bench-certs DIR HOST`: a throwaway certificate chain shaped like the one AWS endpoints present
//! (RSA 2048 throughout: a root CA, an intermediate, a leaf for HOST), written to DIR as
//!
//! - `ca.pem`: the root, which the functions trust through `SSL_CERT_FILE`;
//! - `chain.pem`: the leaf then the intermediate, what the TLS endpoint sends;
//! - `key.pem`: the leaf's private key.
//!
//! A DynamoDB endpoint sends its leaf and `Amazon RSA 2048 M0x`, which chains to `Amazon Root CA 1`:
//! the client verifies the same two RSA signatures and one handshake signature here.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(host)) = (args.next(), args.next()) else {
        return Err("usage: bench-certs DIR HOST".into());
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;

    let mut root = CertificateParams::new(Vec::<String>::new())?;
    root.distinguished_name.push(
        DnType::CommonName,
        "convex-lambda bench root CA (throwaway)",
    );
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root = CertifiedIssuer::self_signed(root, KeyPair::generate_for(&PKCS_RSA_SHA256)?)?;

    let mut intermediate = CertificateParams::new(Vec::<String>::new())?;
    intermediate.distinguished_name.push(
        DnType::CommonName,
        "convex-lambda bench RSA 2048 intermediate",
    );
    intermediate.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    intermediate.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    intermediate.use_authority_key_identifier_extension = true;
    let intermediate = CertifiedIssuer::signed_by(
        intermediate,
        KeyPair::generate_for(&PKCS_RSA_SHA256)?,
        &root,
    )?;

    let leaf_key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let mut leaf = CertificateParams::new(vec![host.clone()])?;
    leaf.distinguished_name.push(DnType::CommonName, host);
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf = leaf.signed_by(&leaf_key, &intermediate)?;

    std::fs::write(dir.join("ca.pem"), root.pem())?;
    std::fs::write(
        dir.join("chain.pem"),
        format!("{}{}", leaf.pem(), intermediate.pem()),
    )?;
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem())?;
    Ok(())
}
