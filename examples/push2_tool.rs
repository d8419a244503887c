//! `push2_tool`: Push 2.0 / Web Push crypto from the command line, for push operators.
//!
//! ```text
//! cargo run --example push2_tool -- keygen
//! echo hello | cargo run --example push2_tool -- encrypt --ua-public B64 --auth-secret B64
//! cargo run --example push2_tool -- decrypt --ua-private B64 --auth-secret B64 < body.b64
//! cargo run --example push2_tool -- jwt --key @vapid.pem --aud https://push.example.com --sub mailto:ops@example.com
//! cargo run --example push2_tool -- verify-jwt --public-key B64 --aud https://push.example.com TOKEN
//! ```
//! Every subcommand takes `--help`. Errors are one line on stderr with a non-zero exit: 2 for
//! bad usage, 1 for bad input. This program owns the real clock and the OS random source; the
//! library takes both as arguments.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use xmpp_tether::push2_crypto::keys::{AuthSecret, EcKeyPair, EcPublicKey, UaKeys, VapidKey};
use xmpp_tether::push2_crypto::vapid::{Claims, VapidSigner};
use xmpp_tether::push2_crypto::{b64, jwt, webpush};

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
usage: push2_tool jwt --key KEY --aud ORIGIN [--sub URI] [--ttl SECONDS] [--claim NAME=VALUE]...
                      [--authorization]

Signs an ES256 VAPID token valid for --ttl seconds (default 43200, at most 86400).
KEY is the push2 form (base64 PKCS#8 without armour), PEM text, or @FILE holding either.
--authorization prints the whole `vapid t=..., k=...` header value instead of the token.";

const HELP_VERIFY: &str = "\
usage: push2_tool verify-jwt (--public-key B64 TOKEN | --authorization 'vapid t=..., k=...')
                             [--aud ORIGIN]

Verifies signature, alg, exp (after now, at most 24 h ahead) and, with --aud, the audience.
Prints the claims as JSON.";

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
        "jwt" => (&["key", "aud", "sub", "ttl", "claim"], &["authorization"]),
        "verify-jwt" => (&["public-key", "aud", "authorization"], &[]),
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

#[expect(
    clippy::disallowed_methods,
    reason = "the command-line tool owns the real clock"
)]
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    let body = webpush::encrypt(&mut os_rng()?, &ua_public, &auth, &plaintext)
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
    let plaintext = webpush::decrypt(
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
    let key = VapidKey::from_text(&key_text).map_err(input("--key"))?;
    let mut claims = Claims::new(options.need("aud")?);
    if let Some(sub) = options.get("sub") {
        claims = claims.with_sub(sub);
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
    let signer = VapidSigner::new(&key).map_err(input("--key"))?;
    let now = now();
    let exp = now.saturating_add(ttl);
    let out = if options.flag("authorization") {
        signer.authorization(&claims, exp, now)
    } else {
        signer.sign(&claims, exp, now)
    };
    println!("{}", out.map_err(input("jwt"))?);
    Ok(())
}

fn verify_jwt(options: &Options) -> Result<(), Failure> {
    let aud = options.get("aud");
    let claims = if let Some(value) = options.get("authorization") {
        options.no_positional()?;
        jwt::verify_authorization(value, now(), aud)
            .map_err(input("verify"))?
            .0
    } else {
        let key =
            EcPublicKey::from_base64(options.need("public-key")?).map_err(input("--public-key"))?;
        let [token] = options.positional.as_slice() else {
            return Err(usage("verify-jwt takes exactly one TOKEN (try --help)"));
        };
        jwt::verify(token, &key, now(), aud).map_err(input("verify"))?
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
}
