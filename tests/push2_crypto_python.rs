//! Real peers for `xmpp-push2-crypto`: Python's `http_ece`, the `cryptography` package (an
//! RFC 8291 decryption written here from the RFCs) and `PyJWT`, from ./.venv.
//!
//! They decrypt what we encrypt (RFC 8291 single-record bodies and RFC 8188 multi-record
//! bodies with padding), we decrypt what `http_ece` encrypts, PyJWT verifies our VAPID tokens
//! (and rejects one under the wrong key), and `cryptography` loads our PKCS#8 exports. The
//! Python side is `tests/peers/push2_crypto_peer.py`, fed a JSON list of cases on stdin. The
//! virtualenv comes from `./scripts/setup-peers.sh` (`./ci.sh` runs it first); when it is
//! missing these tests fail, they do not skip.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};
use xmpp_parsers::forwarding::Forwarded;
use xmpp_parsers::message::{Lang, Message};
use xmpp_tether::push2_crypto::backend::{Backend, RustCrypto};
use xmpp_tether::push2_crypto::hazmat::b64;
use xmpp_tether::push2_crypto::jwt::{self, Policy};
use xmpp_tether::push2_crypto::{
    Claims, Envelope, JwtError, Now, Padding, TokenCache, UaKeys, VapidKey, VapidSigner, ece,
    webpush,
};

// The push2_tool example's argument-handling tests (`#[cfg(test)]` in the example) run here:
// examples are built, not tested, by `cargo test`, and this is the push2-crypto test target.
#[path = "../examples/push2_tool.rs"]
#[expect(
    dead_code,
    reason = "the tool's main() and commands are not called from tests"
)]
mod push2_tool;

/// Bound on the Python process; it needs well under a second.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root: this package is `tests/` (tether-interop).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Kills the child by pid if the test ends early.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs the Python peer on `cases` and returns one result per case.
///
/// Its stdin is written and its stdout and stderr are read on their own threads while this
/// one watches the clock: a peer writing more than a pipe buffer holds (64 KiB on Linux)
/// cannot block on a pipe nobody reads, and a stuck peer is killed by pid at the deadline.
#[expect(
    clippy::disallowed_methods,
    reason = "the test bounds a real child process in real time"
)]
fn python(cases: &[Value]) -> Vec<Result<Value, String>> {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/setup-peers.sh (./ci.sh does)",
        python.display()
    );
    let child = Command::new(&python)
        .arg(root().join("tests/peers/push2_crypto_peer.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    let mut guard = Guard(child);
    let input = serde_json::to_vec(cases).unwrap();
    let mut stdin = guard.0.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).map(|_| text)
        })
    };
    let stdout = drain(Box::new(guard.0.stdout.take().unwrap()));
    let stderr = drain(Box::new(guard.0.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + TIMEOUT;
    while guard.0.try_wait().unwrap().is_none() {
        // On a timeout the guard kills the child, which closes the pipes and ends the threads.
        assert!(
            std::time::Instant::now() < deadline,
            "the Python peer timed out"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap().unwrap();
    let stdout = stdout.join().unwrap().unwrap();
    let stderr = stderr.join().unwrap().unwrap();
    let results: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("peer output is not JSON ({e}): {stdout}\n{stderr}"));
    assert_eq!(results.len(), cases.len(), "{stderr}");
    results
        .into_iter()
        .map(|result| match (result.get("ok"), result.get("error")) {
            (Some(ok), _) => Ok(ok.clone()),
            (_, Some(Value::String(error))) => Err(error.clone()),
            _ => panic!("bad peer result {result}"),
        })
        .collect()
}

/// Several MiB each way through the pipes: the peer's answer alone is far beyond a pipe buffer,
/// which used to deadlock when stdout was read only after the child had exited.
#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn large_exchanges_do_not_deadlock_the_pipes() {
    let mut rng = ChaCha20Rng::seed_from_u64(40);
    let ikm = text(&mut rng, 16);
    let plaintext = text(&mut rng, 1 << 20);
    let body = ece::encrypt(&ikm, &[9; 16], b"", 4096, &plaintext, 0).unwrap();
    let case =
        json!({"op": "ece_decrypt", "ikm": b64::encode_url(&ikm), "body": b64::encode_url(&body)});
    let results = python(&[case.clone(), case]);
    for result in results {
        assert_eq!(decode(&result.unwrap()), plaintext);
    }
}

fn text(rng: &mut ChaCha20Rng, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

fn decode(value: &Value) -> Vec<u8> {
    b64::decode(value.as_str().unwrap()).unwrap()
}

fn python_decrypts_our_messages<B: Backend>(seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for len in [0, 1, 41, 1000, webpush::MAX_PLAINTEXT_LEN] {
        let keys = UaKeys::generate_with::<B>(&mut rng).unwrap();
        let plaintext = text(&mut rng, len);
        let body =
            webpush::encrypt_with::<B>(&mut rng, keys.public_key(), &keys.auth_secret, &plaintext)
                .unwrap();
        for op in ["webpush_decrypt", "webpush_decrypt_by_hand"] {
            cases.push(json!({
                "op": op,
                "ua_private": b64::encode_url(keys.key_pair.private_bytes()),
                "auth": keys.auth_secret.to_base64url().as_str(),
                "body": b64::encode_url(&body),
            }));
            expected.push(Ok(plaintext.clone()));
        }
        // The same body with one ciphertext bit flipped must fail over there too.
        let mut flipped = body.clone();
        flipped[webpush::HEADER_LEN] ^= 0x80;
        cases.push(json!({
            "op": "webpush_decrypt",
            "ua_private": b64::encode_url(keys.key_pair.private_bytes()),
            "auth": keys.auth_secret.to_base64url().as_str(),
            "body": b64::encode_url(&flipped),
        }));
        expected.push(Err(()));
    }
    // Plain RFC 8188: several records, padding, a key id.
    for (rs, len, padding) in [(18, 5, 0), (25, 15, 1), (100, 1000, 37), (4096, 3000, 500)] {
        let ikm = text(&mut rng, 16);
        let salt: [u8; 16] = text(&mut rng, 16).try_into().unwrap();
        let plaintext = text(&mut rng, len);
        let body = ece::encrypt_with::<B>(&ikm, &salt, b"key-1", rs, &plaintext, padding).unwrap();
        cases.push(json!({"op": "ece_decrypt", "ikm": b64::encode_url(&ikm), "body": b64::encode_url(&body)}));
        expected.push(Ok(plaintext));
    }
    let results = python(&cases);
    for ((case, result), want) in cases.iter().zip(results).zip(expected) {
        match (result, want) {
            (Ok(got), Ok(want)) => assert_eq!(decode(&got), want, "{}", case["op"]),
            (Err(_), Err(())) => {}
            (got, want) => panic!("{}: got {got:?}, expected {want:?}", case["op"]),
        }
    }
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn python_decrypts_rustcrypto_output() {
    python_decrypts_our_messages::<RustCrypto>(1);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn python_decrypts_default_backend_output() {
    python_decrypts_our_messages::<xmpp_tether::push2_crypto::backend::Default>(2);
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn we_decrypt_http_ece_output() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut keys = Vec::new();
    let mut cases = Vec::new();
    for len in [1, 100, 3993] {
        let ua = UaKeys::generate(&mut rng).unwrap();
        let plaintext = text(&mut rng, len);
        cases.push(json!({
            "op": "webpush_encrypt",
            "ua_public": ua.public_key().to_base64url(),
            "auth": ua.auth_secret.to_base64url().as_str(),
            "plaintext": b64::encode_url(&plaintext),
        }));
        keys.push((ua, plaintext));
    }
    for ((ua, plaintext), result) in keys.iter().zip(python(&cases)) {
        let body = decode(&result.unwrap());
        assert_eq!(
            &webpush::decrypt_with::<RustCrypto>(ua, &body).unwrap(),
            plaintext
        );
        assert_eq!(&webpush::decrypt(ua, &body).unwrap(), plaintext);
    }
}

/// The `(r, n - s)` twin of a token's `r || s` signature (n is the P-256 group order).
fn high_s_twin(token: &str) -> String {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut signature = b64::decode(signature).unwrap();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        signature[32 + i] = u8::try_from(d + 256 * borrow).unwrap();
    }
    format!("{signed}.{}", b64::encode_url(&signature))
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
#[expect(
    clippy::disallowed_methods,
    reason = "PyJWT checks exp against the real clock"
)]
fn pyjwt_verifies_our_tokens() {
    let now = Now::new(Default::default(), SystemTime::now());
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let key = VapidKey::generate(&mut rng).unwrap();
    let other = VapidKey::generate(&mut rng).unwrap();
    let claims = Claims::for_endpoint("https://push.example.com/wpush/v2/gAAAA")
        .unwrap()
        .with_sub("mailto:ops@example.com")
        .with_claim("jti", "n\"1");
    let default_signer = VapidSigner::new(&key).unwrap();
    let rustcrypto_signer = VapidSigner::<RustCrypto>::with_backend(&key).unwrap();
    let mut cache = TokenCache::new();
    let tokens = [
        cache.token(now, &key, &claims).unwrap(),
        rustcrypto_signer
            .sign(now, &claims, Duration::from_secs(3600))
            .unwrap(),
        default_signer
            .sign(now, &claims, Duration::from_secs(86_400))
            .unwrap(),
    ];
    let verify = |token: &str, aud: &str, key: &VapidKey| {
        json!({"op": "jwt_verify", "token": token, "aud": aud,
               "public_key": key.public_key().to_base64url()})
    };
    let aud = "https://push.example.com";
    let mut cases: Vec<Value> = tokens
        .iter()
        .map(|t| verify(t.as_str(), aud, &key))
        .collect();
    // Under the wrong key, and with the wrong audience, PyJWT must refuse.
    cases.push(verify(tokens[0].as_str(), aud, &other));
    cases.push(verify(tokens[0].as_str(), "https://other.example", &key));
    // The high-S twin of our token: PyJWT takes it (as OpenSSL-based verifiers do), ours
    // refuses it unless the policy allows it.
    let twin = high_s_twin(tokens[0].as_str());
    cases.push(verify(&twin, aud, &key));
    let results = python(&cases);
    for (token, result) in tokens.iter().zip(&results) {
        let claims = result
            .as_ref()
            .unwrap_or_else(|e| panic!("PyJWT refused {token:?}: {e}"));
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        assert_eq!(claims["jti"], "n\"1");
        let ours = jwt::verify(now, token.as_str(), key.public_key(), &Policy::new()).unwrap();
        assert_eq!(claims["exp"], ours.exp);
    }
    for (result, error) in results[3..5]
        .iter()
        .zip(["InvalidSignatureError", "InvalidAudienceError"])
    {
        assert!(result.as_ref().unwrap_err().contains(error), "{result:?}");
    }
    assert_eq!(results[5].as_ref().unwrap()["aud"], aud);
    assert_eq!(
        jwt::verify(now, &twin, key.public_key(), &Policy::new()),
        Err(JwtError::HighS)
    );
    let lenient = Policy::new().with_high_s_allowed().with_audience(aud);
    assert!(jwt::verify(now, &twin, key.public_key(), &lenient).is_ok());
}

/// A push2 notification as a server builds it (envelope, padded to the RFC 8291 bound,
/// encrypted) decrypts with http_ece and with the hand-written RFC 8291 decryption, to an
/// envelope this crate parses back.
#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn python_decrypts_padded_envelopes() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let now = Now::new(
        Default::default(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    );
    let mut cases = Vec::new();
    let mut envelopes = Vec::new();
    for (body_len, padding) in [
        (10, Padding::fill()),
        (3000, Padding::fill()),
        (200, Padding::random_up_to_fit()),
        (200, Padding::random(64).within(1024)),
    ] {
        let device = UaKeys::generate(&mut rng).unwrap();
        let message = Message::new(Some("juliet@capulet.lit".parse().unwrap()))
            .with_body(Lang::default(), "x".repeat(body_len));
        let envelope = Envelope::new(Forwarded {
            delay: None,
            message,
        })
        .with_time(now);
        let plaintext = envelope.to_padded_bytes(&mut rng, padding).unwrap();
        assert!(plaintext.len() <= padding.limit());
        let body = xmpp_tether::push2_crypto::encrypt(
            &mut rng,
            device.public_key(),
            &device.auth_secret,
            &plaintext,
        )
        .unwrap();
        for op in ["webpush_decrypt", "webpush_decrypt_by_hand"] {
            cases.push(json!({
                "op": op,
                "ua_private": b64::encode_url(device.key_pair.private_bytes()),
                "auth": device.auth_secret.to_base64url().as_str(),
                "body": b64::encode_url(&body),
            }));
            envelopes.push(envelope.clone());
        }
    }
    for (result, envelope) in python(&cases).into_iter().zip(envelopes) {
        let mut parsed = Envelope::from_bytes(&decode(&result.unwrap())).unwrap();
        parsed.rpad = None;
        assert_eq!(parsed, envelope);
    }
}

#[test]
#[ignore = "real peer: run by ./ci.sh"]
fn cryptography_loads_our_key_exports() {
    let key = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(5)).unwrap();
    let cases = [
        json!({"op": "load_pem", "pem": key.to_pkcs8_pem().unwrap().as_str()}),
        json!({"op": "load_der_b64", "der": key.to_push2().unwrap().as_str()}),
    ];
    for result in python(&cases) {
        assert_eq!(result.unwrap(), key.public_key().to_base64url());
    }
}
