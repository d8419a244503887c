//! Cross-implementation checks against Mozilla's `ece` crate (OpenSSL underneath): it
//! decrypts what we encrypt and we decrypt what it encrypts, with each of our backends.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use xmpp_push2_crypto::backend::{Backend, RustCrypto};
use xmpp_push2_crypto::keys::{AuthSecret, EcPublicKey, UaKeys};
use xmpp_push2_crypto::webpush;

const ROUNDS: usize = 16;

fn plaintext(rng: &mut ChaCha20Rng, round: usize) -> Vec<u8> {
    // From empty to the 3993-octet limit, with a few sizes in between.
    let len = match round {
        0 => 0,
        1 => webpush::MAX_PLAINTEXT_LEN,
        _ => usize::try_from(rng.next_u32()).unwrap() % webpush::MAX_PLAINTEXT_LEN,
    };
    let mut text = vec![0; len];
    rng.fill_bytes(&mut text);
    text
}

fn ece_decrypts_ours<B: Backend>() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for round in 0..ROUNDS {
        let (ua, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        let components = ua.raw_components().unwrap();
        let ua_public = EcPublicKey::from_bytes(components.public_key()).unwrap();
        let text = plaintext(&mut rng, round);
        let body =
            webpush::encrypt_with::<B>(&mut rng, &ua_public, &AuthSecret::from_bytes(auth), &text)
                .unwrap();
        assert_eq!(
            ece::decrypt(&components, &auth, &body).unwrap(),
            text,
            "round {round}"
        );
    }
}

fn we_decrypt_ece<B: Backend>() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    for round in 0..ROUNDS {
        let keys = UaKeys::generate_with::<B>(&mut rng).unwrap();
        // `ece` refuses to encrypt nothing; start at one octet.
        let mut text = plaintext(&mut rng, round);
        if text.is_empty() {
            text.push(0);
        }
        let body = ece::encrypt(
            keys.public_key().as_bytes(),
            keys.auth_secret.as_bytes(),
            &text,
        )
        .unwrap();
        assert_eq!(
            webpush::decrypt_with::<B>(&keys, &body).unwrap(),
            text,
            "round {round}"
        );
    }
}

#[test]
fn ece_crate_decrypts_rustcrypto_output() {
    ece_decrypts_ours::<RustCrypto>();
}

#[test]
fn rustcrypto_decrypts_ece_crate_output() {
    we_decrypt_ece::<RustCrypto>();
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn ece_crate_decrypts_aws_lc_output() {
    ece_decrypts_ours::<xmpp_push2_crypto::backend::AwsLc>();
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn aws_lc_decrypts_ece_crate_output() {
    we_decrypt_ece::<xmpp_push2_crypto::backend::AwsLc>();
}

#[test]
fn keys_from_the_ece_crate_read_back() {
    // A key pair exported by `ece` decrypts our messages when imported here.
    let (ua, auth) = ece::generate_keypair_and_auth_secret().unwrap();
    let components = ua.raw_components().unwrap();
    let keys = UaKeys {
        key_pair: xmpp_push2_crypto::keys::EcKeyPair::from_private_bytes(components.private_key())
            .unwrap(),
        auth_secret: AuthSecret::from_bytes(auth),
    };
    assert_eq!(
        keys.public_key().as_bytes().as_slice(),
        components.public_key()
    );
    let body = ece::encrypt(components.public_key(), &auth, b"hello").unwrap();
    assert_eq!(webpush::decrypt(&keys, &body).unwrap(), b"hello");
}
