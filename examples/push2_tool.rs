//! `push2_tool`: Push 2.0 / Web Push crypto from the command line, for push operators.
//!
//! ```text
//! cargo run --example push2_tool -- keygen
//! echo hello | cargo run --example push2_tool -- encrypt --ua-public B64 --auth-secret B64
//! cargo run --example push2_tool -- decrypt --ua-private B64 --auth-secret B64 < body.b64
//! cargo run --example push2_tool -- jwt --key @vapid.pem --endpoint https://push.example.com/x --sub mailto:ops@example.com
//! cargo run --example push2_tool -- verify-jwt --public-key B64 --aud https://push.example.com TOKEN
//! ```
//! Every subcommand takes `--help`. Errors are one line on stderr with a non-zero exit: 2 for
//! bad usage, 1 for bad input. This program owns the real clock and the OS random source; the
//! library takes both as arguments.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_tether::push2_crypto::hazmat::b64;
use xmpp_tether::push2_crypto::jwt::{self, Policy};
use xmpp_tether::push2_crypto::{
    AuthSecret, Claims, EcKeyPair, EcPublicKey, Now, UaKeys, VapidKey, VapidSigner, vapid,
};

const USAGE: &str = "\
usage: push2_tool <command> [options]   (push2_tool <command> --help for each)

commands:
  keygen       new client keys (ua-public, ua-private, auth-secret) and a VAPID key
  encrypt      RFC 8291-encrypt stdin for a client; prints the base64 body
  decrypt      decrypt a base64 body from stdin with the client's keys; prints the plaintext
  jwt          sign a VAPID (RFC 8292) token
  verify-jwt   verify a VAPID token the way a push service does";

const HELP_KEYGEN: &str = "\
usage: push2_tool keygen

Prints a client's Web Push keys and a VAPID signing key, in the forms the push2
<send xmlns='urn:xmpp:push2:send:sce+rfc8291+rfc8292:0'> element carries:
  ua-public    base64 of the uncompressed P-256 point      (publish)
  ua-private   base64 of the 32-octet private scalar      (keep on the device)
  auth-secret  base64 of 16 random octets                 (share with the server only)
  jwt-key      PKCS#8 DER in base64, no PEM armour        (the <jwt-key/> element)
  jwt-public   base64url of the VAPID public key          (what push services see as k)";

const HELP_ENCRYPT: &str = "\
usage: push2_tool encrypt --ua-public B64 --auth-secret B64   < plaintext

Encrypts stdin (at most 3993 octets) with a fresh ephemeral key and salt, one record of
rs 4096 (RFC 8291), and prints the body as standard base64, as <payload/> carries it.
Keys are accepted in either base64 alphabet, padded or not.";

const HELP_DECRYPT: &str = "\
usage: push2_tool decrypt --ua-private B64 --auth-secret B64   < base64-body

Decrypts an RFC 8291 body (base64 on stdin, either alphabet) and writes the plaintext
to stdout.";

const HELP_JWT: &str = "\
usage: push2_tool jwt --key KEY (--endpoint URL | --aud ORIGIN) [--sub URI] [--ttl SECONDS]
                      [--claim NAME=VALUE]... [--authorization]

Signs an ES256 VAPID token valid for --ttl seconds (default 43200, at most 86400).
KEY is the push2 form (base64 PKCS#8 without armour), PEM text, or @FILE holding either.
The aud claim is the origin of the push resource (RFC 8292 section 2): --endpoint derives it
from the push endpoint URL; --aud takes it as is and must already be an origin
(https://push.example.com, no path). --sub is the contact URI (mailto: or https:): RFC 8292
makes it optional, but push services commonly refuse tokens without it, so the tool warns
when it is missing.
--authorization prints the whole `vapid t=..., k=...` header value instead of the token.";

const HELP_VERIFY: &str = "\
usage: push2_tool verify-jwt (--public-key B64 TOKEN | --authorization 'vapid t=..., k=...')
                             [--aud ORIGIN] [--allow-high-s]

Verifies signature, alg, exp (after now, at most 24 h ahead) and, with --aud, the audience.
Signatures must be in low-S form unless --allow-high-s (OpenSSL-based signers, Prosody's
mod_push2 among them, emit the other form half the time). Prints the claims as JSON.";

/// A failure: the message and whether it was bad usage (exit 2) or bad input (exit 1).
#[derive(Debug, PartialEq)]
struct Failure {
    message: String,
    usage: bool,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        usage: true,
    }
}

fn input<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> Failure + '_ {
    move |e| Failure {
        message: format!("{what}: {e}"),
        usage: false,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, usage }) => {
            eprintln!("push2_tool: {message}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Err(usage(
            "a command is needed: keygen, encrypt, decrypt, jwt or verify-jwt (try --help)",
        ));
    };
    let help = match command.as_str() {
        "keygen" => HELP_KEYGEN,
        "encrypt" => HELP_ENCRYPT,
        "decrypt" => HELP_DECRYPT,
        "jwt" => HELP_JWT,
        "verify-jwt" => HELP_VERIFY,
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        other => return Err(usage(format!("unknown command {other:?} (try --help)"))),
    };
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        println!("{help}");
        return Ok(());
    }
    let options = Options::parse(command, rest)?;
    match command.as_str() {
        "keygen" => keygen(&options),
        "encrypt" => encrypt(&options),
        "decrypt" => decrypt(&options),
        "jwt" => sign_jwt(&options),
        _ => verify_jwt(&options),
    }
}

/// The options a command takes: those with a value, and bare flags.
fn spec(command: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match command {
        "encrypt" => (&["ua-public", "auth-secret"], &[]),
        "decrypt" => (&["ua-private", "auth-secret"], &[]),
        "jwt" => (
            &["key", "aud", "endpoint", "sub", "ttl", "claim"],
            &["authorization"],
        ),
        "verify-jwt" => (&["public-key", "aud", "authorization"], &["allow-high-s"]),
        _ => (&[], &[]),
    }
}

/// Options that may be given more than once.
const REPEATABLE: &[&str] = &["claim"];

/// `--name value` pairs, `--flag`s and positional arguments, checked against the command's
/// [`spec`]: an unknown option, a missing value or a repeated option is bad usage.
#[derive(Debug, PartialEq)]
struct Options {
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
    positional: Vec<String>,
}

impl Options {
    fn parse(command: &str, args: &[String]) -> Result<Self, Failure> {
        let (valued, flags) = spec(command);
        let mut options = Self {
            pairs: Vec::new(),
            flags: Vec::new(),
            positional: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                options.positional.push(arg.clone());
                continue;
            };
            if flags.contains(&name) {
                options.flags.push(name.to_owned());
            } else if valued.contains(&name) {
                let value = args
                    .next()
                    .ok_or_else(|| usage(format!("{arg} needs a value (try {command} --help)")))?;
                if !REPEATABLE.contains(&name) && options.get(name).is_some() {
                    return Err(usage(format!("{arg} given twice")));
                }
                options.pairs.push((name.to_owned(), value.clone()));
            } else {
                return Err(usage(format!(
                    "unknown option {arg} for {command} (try {command} --help)"
                )));
            }
        }
        Ok(options)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| usage(format!("--{name} is required (try --help)")))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn no_positional(&self) -> Result<(), Failure> {
        match self.positional.first() {
            Some(extra) => Err(usage(format!("unexpected argument {extra:?}"))),
            None => Ok(()),
        }
    }
}

fn os_rng() -> Result<ChaCha20Rng, Failure> {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).map_err(input("OS random source"))?;
    Ok(ChaCha20Rng::from_seed(seed))
}

/// The clocks, read once: a one-shot program, so its monotonic epoch is now.
#[expect(
    clippy::disallowed_methods,
    reason = "the command-line tool owns the real clock"
)]
fn now() -> Now {
    Now::new(Default::default(), SystemTime::now())
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(input("reading stdin"))?;
    Ok(bytes)
}

fn keygen(options: &Options) -> Result<(), Failure> {
    options.no_positional()?;
    let mut rng = os_rng()?;
    let ua = UaKeys::generate(&mut rng).map_err(input("key generation"))?;
    let vapid = VapidKey::generate(&mut rng).map_err(input("key generation"))?;
    println!("ua-public: {}", ua.public_key().to_base64());
    println!(
        "ua-private: {}",
        b64::encode_std(ua.key_pair.private_bytes())
    );
    println!("auth-secret: {}", ua.auth_secret.to_base64().as_str());
    println!(
        "jwt-key: {}",
        vapid.to_push2().map_err(input("jwt-key"))?.as_str()
    );
    println!("jwt-public: {}", vapid.public_key().to_base64url());
    Ok(())
}

fn encrypt(options: &Options) -> Result<(), Failure> {
    options.no_positional()?;
    let ua_public =
        EcPublicKey::from_base64(options.need("ua-public")?).map_err(input("--ua-public"))?;
    let auth =
        AuthSecret::from_base64(options.need("auth-secret")?).map_err(input("--auth-secret"))?;
    let plaintext = read_stdin()?;
    let body = xmpp_tether::push2_crypto::encrypt(&mut os_rng()?, &ua_public, &auth, &plaintext)
        .map_err(input("encrypt"))?;
    println!("{}", b64::encode_std(&body));
    Ok(())
}

fn decrypt(options: &Options) -> Result<(), Failure> {
    options.no_positional()?;
    let private = b64::decode(options.need("ua-private")?).map_err(input("--ua-private"))?;
    let key_pair = EcKeyPair::from_private_bytes(&private).map_err(input("--ua-private"))?;
    let auth_secret =
        AuthSecret::from_base64(options.need("auth-secret")?).map_err(input("--auth-secret"))?;
    let body_text = String::from_utf8(read_stdin()?).map_err(input("stdin"))?;
    let body = b64::decode(&body_text).map_err(input("body on stdin"))?;
    let plaintext = xmpp_tether::push2_crypto::decrypt(
        &UaKeys {
            key_pair,
            auth_secret,
        },
        &body,
    )
    .map_err(input("decrypt"))?;
    std::io::stdout()
        .write_all(&plaintext)
        .map_err(input("writing stdout"))
}

fn sign_jwt(options: &Options) -> Result<(), Failure> {
    options.no_positional()?;
    let key_arg = options.need("key")?;
    let key_text = match key_arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(input(path))?,
        None => key_arg.to_owned(),
    };
    let (out, warnings) = make_jwt(options, &key_text, now())?;
    for warning in warnings {
        eprintln!("push2_tool: warning: {warning}");
    }
    println!("{out}");
    Ok(())
}

/// The token (or header value) `jwt` prints, and the warnings it writes to stderr first.
fn make_jwt(options: &Options, key_text: &str, now: Now) -> Result<(String, Vec<String>), Failure> {
    let mut claims = match (options.get("endpoint"), options.get("aud")) {
        (Some(endpoint), None) => Claims::for_endpoint(endpoint).map_err(input("--endpoint"))?,
        (None, Some(aud)) => {
            // RFC 8292 section 2: the origin of the push resource, nothing else.
            match vapid::origin(aud) {
                Ok(origin) if origin == aud => Claims::new(aud),
                Ok(origin) => {
                    return Err(input("--aud")(format!(
                        "{aud:?} is not an origin (did you mean {origin}? or pass the push \
                         endpoint as --endpoint)"
                    )));
                }
                Err(error) => return Err(input("--aud")(format!("not an origin: {error}"))),
            }
        }
        (Some(_), Some(_)) => return Err(usage("give --endpoint or --aud, not both")),
        (None, None) => return Err(usage("--endpoint or --aud is required (try --help)")),
    };
    let mut warnings = Vec::new();
    match options.get("sub") {
        Some(sub) => claims = claims.with_sub(sub),
        None => warnings.push(
            "no --sub: push services commonly refuse VAPID tokens without a contact URI \
             (mailto: or https:)"
                .to_owned(),
        ),
    }
    for (_, value) in options.pairs.iter().filter(|(n, _)| n == "claim") {
        let (claim, text) = value
            .split_once('=')
            .ok_or_else(|| usage(format!("--claim {value:?} is not NAME=VALUE")))?;
        claims = claims.with_claim(claim, text);
    }
    let ttl: u64 = match options.get("ttl") {
        Some(ttl) => ttl
            .parse()
            .map_err(|_| usage(format!("--ttl {ttl:?} is not a number of seconds")))?,
        None => 12 * 60 * 60,
    };
    let key = VapidKey::from_text(key_text).map_err(input("--key"))?;
    let signer = VapidSigner::new(&key).map_err(input("--key"))?;
    let token = signer
        .sign(now, &claims, Duration::from_secs(ttl))
        .map_err(input("jwt"))?;
    let out = if options.flag("authorization") {
        token.authorization()
    } else {
        token.as_str()
    };
    Ok((out.to_owned(), warnings))
}

fn verify_jwt(options: &Options) -> Result<(), Failure> {
    let mut policy = Policy::new();
    if let Some(aud) = options.get("aud") {
        policy = policy.with_audience(aud);
    }
    if options.flag("allow-high-s") {
        policy = policy.with_high_s_allowed();
    }
    let claims = if let Some(value) = options.get("authorization") {
        options.no_positional()?;
        jwt::verify_authorization(now(), value, &policy)
            .map_err(input("verify"))?
            .0
    } else {
        let key =
            EcPublicKey::from_base64(options.need("public-key")?).map_err(input("--public-key"))?;
        let [token] = options.positional.as_slice() else {
            return Err(usage("verify-jwt takes exactly one TOKEN (try --help)"));
        };
        jwt::verify(now(), token, &key, &policy).map_err(input("verify"))?
    };
    println!("{}", serde_json::Value::Object(claims.all));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &[&str]) -> Vec<String> {
        text.iter().map(|&a| a.to_owned()).collect()
    }

    fn usage_error(command_line: &[&str]) -> String {
        match run(&args(command_line)) {
            Err(Failure {
                message,
                usage: true,
            }) => message,
            other => panic!("{command_line:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_options_are_usage_errors() {
        for line in [
            &["keygen", "--verbose"][..],
            &["encrypt", "--ua-public", "x", "--auth-secert", "y"],
            &["jwt", "--key", "k", "--aud", "a", "--public-key", "p"],
            &["verify-jwt", "--endpoint", "e", "TOKEN"],
            &["verify-jwt", "--sub", "s", "TOKEN"],
        ] {
            let message = usage_error(line);
            assert!(
                message.starts_with("unknown option --"),
                "{line:?}: {message}"
            );
        }
    }

    #[test]
    fn a_missing_value_names_its_option() {
        assert_eq!(
            usage_error(&["verify-jwt", "--authorization"]),
            "--authorization needs a value (try verify-jwt --help)"
        );
        assert_eq!(
            usage_error(&[
                "verify-jwt",
                "--aud",
                "https://a.example",
                "--authorization"
            ]),
            "--authorization needs a value (try verify-jwt --help)"
        );
        assert_eq!(
            usage_error(&["encrypt", "--ua-public"]),
            "--ua-public needs a value (try encrypt --help)"
        );
        assert_eq!(
            usage_error(&["verify-jwt", "TOKEN"]),
            "--public-key is required (try --help)"
        );
    }

    #[test]
    fn flags_values_and_repeats() {
        let jwt = Options::parse(
            "jwt",
            &args(&[
                "--authorization",
                "--claim",
                "a=1",
                "--claim",
                "b=2",
                "--aud",
                "x",
            ]),
        );
        let jwt = jwt.unwrap();
        assert!(jwt.flag("authorization"));
        assert_eq!(jwt.get("aud"), Some("x"));
        assert_eq!(jwt.pairs.iter().filter(|(n, _)| n == "claim").count(), 2);
        // For verify-jwt, --authorization takes the header value, whatever it looks like.
        let verify = Options::parse("verify-jwt", &args(&["--authorization", "vapid t=a, k=b"]));
        assert_eq!(verify.unwrap().get("authorization"), Some("vapid t=a, k=b"));
        assert_eq!(
            usage_error(&["jwt", "--aud", "x", "--aud", "y"]),
            "--aud given twice"
        );
        assert_eq!(
            usage_error(&["keygen", "extra"]),
            "unexpected argument \"extra\""
        );
    }

    #[test]
    fn bad_input_is_exit_1_not_usage() {
        let result = run(&args(&["verify-jwt", "--public-key", "AAAA", "TOKEN"]));
        assert!(
            matches!(result, Err(Failure { usage: false, .. })),
            "{result:?}"
        );
    }

    fn jwt_with(extra: &[&str]) -> Result<(String, Vec<String>), Failure> {
        let key = VapidKey::generate(&mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        let mut line = vec!["--key", "@unused"];
        line.extend_from_slice(extra);
        let options = Options::parse("jwt", &args(&line)).unwrap();
        let now = Now::new(
            Default::default(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        make_jwt(&options, key.to_push2().unwrap().as_str(), now)
    }

    #[test]
    fn jwt_aud_must_be_an_origin() {
        for bad in [
            "https://push.example.com/path",
            "https://push.example.com/",
            "not a url",
        ] {
            let result = jwt_with(&["--aud", bad, "--sub", "mailto:a@b.example"]);
            match result {
                Err(Failure {
                    message,
                    usage: false,
                }) => {
                    assert!(message.starts_with("--aud: "), "{bad}: {message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let hint = jwt_with(&["--aud", "https://Push.Example.com:443/x"]).unwrap_err();
        assert!(
            hint.message
                .contains("did you mean https://push.example.com?"),
            "{}",
            hint.message
        );
        let (token, _) = jwt_with(&[
            "--aud",
            "https://push.example.com",
            "--sub",
            "mailto:a@b.example",
        ])
        .unwrap();
        let (_, derived) =
            jwt_with(&["--endpoint", "https://push.example.com/wpush/v2/x"]).unwrap();
        assert!(derived.len() == 1 && token.split('.').count() == 3);
        assert_eq!(
            usage_error(&[
                "jwt",
                "--key",
                "k",
                "--aud",
                "https://a.example",
                "--endpoint",
                "https://a.example/x"
            ]),
            "give --endpoint or --aud, not both"
        );
        assert_eq!(
            usage_error(&["jwt", "--key", "k"]),
            "--endpoint or --aud is required (try --help)"
        );
    }

    #[test]
    fn jwt_without_sub_warns() {
        let (_, warnings) = jwt_with(&["--endpoint", "https://push.example.com/x"]).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("no --sub: push services commonly refuse"),
            "{warnings:?}"
        );
        let (_, none) = jwt_with(&[
            "--endpoint",
            "https://push.example.com/x",
            "--sub",
            "mailto:a@b.example",
        ])
        .unwrap();
        assert!(none.is_empty());
        assert!(HELP_JWT.contains("push services commonly refuse tokens without it"));
    }
}
