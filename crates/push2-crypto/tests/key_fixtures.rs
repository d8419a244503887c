//! VAPID keys written by other tools load and give the public key those tools report.
//!
//! The files in tests/fixtures/ were generated once (2026-11-23) with:
//! - `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` (PKCS#8 PEM), then
//!   `openssl pkcs8 -topk8 -nocrypt -outform DER` (PKCS#8 DER);
//! - `openssl ecparam -genkey -name prime256v1` (an `EC PARAMETERS` block, then the SEC1
//!   `EC PRIVATE KEY` block), then `openssl ec -outform DER` (SEC1 DER);
//! - Python `cryptography` 50.0.2, `ec.generate_private_key(ec.SECP256R1())` written as
//!   PKCS#8 PEM, PKCS#8 DER and `TraditionalOpenSSL` (SEC1) PEM.
//!
//! The expected `k` values (unpadded base64url of the uncompressed public point) were
//! computed by the tools themselves, not by this crate:
//! `openssl pkey -in FILE -pubout -outform DER | tail -c 65 | base64 -w0 | tr '+/' '-_' |
//! tr -d '='`, and cross-checked with Python `cryptography`
//! (`public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)`): both agreed.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use xmpp_push2_crypto::jwt::{self, Policy};
use xmpp_push2_crypto::{Claims, Now, VapidKey, VapidSigner};

const OPENSSL_GENPKEY_K: &str =
    "BFIPPby6QX2uCNjiSHzm_KyTWXdVtfPBAuyXjuClmiCG69ikEKAYtiyG2coccXGecDwVM2hhlSo1WfDnN4U9pcg";
const OPENSSL_ECPARAM_K: &str =
    "BDgBCbkqjMZ3UuExAOnA0m2N7WYexw0EamkYg6EKx1tOzh6QZTpGVAlRj6yHP_E6AwdZ7yjryWRhLZX-hXatj6U";
const PYTHON_K: &str =
    "BM2vYLqFYjpwTvRPV_dG9mIXHsZe5dWgXSoPOeCRw3gybZVPT2TuhZKcpEJYpSIQFi_WnfT0HZGpN3Zy3EIhXHA";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

/// The key signs a token that verifies under the expected `k`.
fn check(key: &VapidKey, expected_k: &str, what: &str) {
    assert_eq!(key.public_key().to_base64url(), expected_k, "{what}");
    let signer = VapidSigner::new(key).unwrap();
    let now = Now::new(Default::default(), UNIX_EPOCH + Duration::from_secs(1_000));
    let token = signer
        .sign(
            now,
            &Claims::new("https://push.example"),
            Duration::from_secs(1_000),
        )
        .unwrap();
    let (_, k) = jwt::verify_authorization(now, token.authorization(), &Policy::new()).unwrap();
    assert_eq!(k.to_base64url(), expected_k, "{what}");
}

/// The PEM body without the armour lines: the push2 `<jwt-key/>` form.
fn body(pem: &str, label: &str) -> String {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).unwrap() + begin.len();
    let stop = pem.find(&end).unwrap();
    pem[start..stop].trim().to_owned()
}

#[test]
fn openssl_genpkey_pkcs8() {
    let pem = text("openssl_genpkey_pkcs8.pem");
    check(&VapidKey::from_pem(&pem).unwrap(), OPENSSL_GENPKEY_K, "PEM");
    check(
        &VapidKey::from_text(&pem).unwrap(),
        OPENSSL_GENPKEY_K,
        "text",
    );
    let crlf = pem.replace('\n', "\r\n");
    check(
        &VapidKey::from_pem(&crlf).unwrap(),
        OPENSSL_GENPKEY_K,
        "CRLF PEM",
    );
    let der = fixture("openssl_genpkey_pkcs8.der");
    check(
        &VapidKey::from_pkcs8_der(&der).unwrap(),
        OPENSSL_GENPKEY_K,
        "DER",
    );
    let push2 = body(&pem, "PRIVATE KEY");
    check(
        &VapidKey::from_push2(&push2).unwrap(),
        OPENSSL_GENPKEY_K,
        "push2",
    );
    check(
        &VapidKey::from_text(&push2).unwrap(),
        OPENSSL_GENPKEY_K,
        "push2 text",
    );
}

#[test]
fn openssl_ecparam_sec1_with_its_parameters_block() {
    let pem = text("openssl_ecparam_sec1.pem");
    assert!(pem.starts_with("-----BEGIN EC PARAMETERS-----"), "{pem}");
    check(&VapidKey::from_pem(&pem).unwrap(), OPENSSL_ECPARAM_K, "PEM");
    check(
        &VapidKey::from_text(&pem).unwrap(),
        OPENSSL_ECPARAM_K,
        "text",
    );
    let der = fixture("openssl_ecparam_sec1.der");
    check(
        &VapidKey::from_sec1_der(&der).unwrap(),
        OPENSSL_ECPARAM_K,
        "SEC1 DER",
    );
    // An operator may paste the SEC1 body as the push2 form.
    let push2 = body(&pem, "EC PRIVATE KEY");
    check(
        &VapidKey::from_push2(&push2).unwrap(),
        OPENSSL_ECPARAM_K,
        "push2",
    );
}

#[test]
fn python_cryptography_keys() {
    let pkcs8 = text("python_cryptography_pkcs8.pem");
    check(&VapidKey::from_pem(&pkcs8).unwrap(), PYTHON_K, "PKCS#8 PEM");
    let traditional = text("python_cryptography_traditional.pem");
    check(
        &VapidKey::from_pem(&traditional).unwrap(),
        PYTHON_K,
        "SEC1 PEM",
    );
    let der = fixture("python_cryptography_pkcs8.der");
    check(
        &VapidKey::from_pkcs8_der(&der).unwrap(),
        PYTHON_K,
        "PKCS#8 DER",
    );
    check(
        &VapidKey::from_push2(&body(&pkcs8, "PRIVATE KEY")).unwrap(),
        PYTHON_K,
        "push2",
    );
}

#[test]
fn our_exports_match_the_tools_der() {
    // Re-exporting a loaded key gives back the PKCS#8 structure other tools read (the DER
    // may differ in optional fields, so compare what it decodes to).
    let key = VapidKey::from_pkcs8_der(&fixture("python_cryptography_pkcs8.der")).unwrap();
    let again = VapidKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(again.public_key().to_base64url(), PYTHON_K);
}
