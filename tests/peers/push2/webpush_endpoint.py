"""A small Web Push endpoint (RFC 8030 push resource) for tests/push2_webpush.rs.

It listens on 127.0.0.1 (an ephemeral port, printed as the first stdout line,
"listening PORT"), knows the subscriptions given as arguments, and for each POST:

- /sub/NAME: checks the request the way a push service does, then decrypts it the way the
  device would: `Authorization: vapid t=..., k=...` verified with PyJWT (ES256 under the key
  in k, `aud` the origin of this endpoint, `exp` present and in the future, `sub` present),
  `Content-Encoding: aes128gcm`, the body decrypted with http_ece using the subscription's
  private key and auth secret; answers 201 on success, 400 or 401 otherwise;
- /gone/NAME: answers 410 Gone (an expired subscription), checking nothing.

Each request is reported as one JSON line on stdout: {"path", "status", "plaintext" (base64,
when decrypted), "claims", "headers", "error"}. Arguments: one NAME=UA_PRIVATE:AUTH per
subscription (base64url raw P-256 scalar, base64url 16-octet secret). It exits when stdin
closes (the test holds it open) or after --for SECONDS (default 120).
"""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_vapid(value):
    if not value or not value.startswith("vapid "):
        raise ValueError("Authorization is not vapid: %r" % value)
    params = {}
    for part in value[len("vapid "):].split(","):
        name, _, v = part.strip().partition("=")
        params[name] = v.strip('"')
    return params["t"], params["k"]


class Handler(BaseHTTPRequestHandler):
    subscriptions = {}
    origin = ""

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        report = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        status = 201
        try:
            kind, _, name = self.path.strip("/").partition("/")
            if kind == "gone":
                status = 410
            elif kind == "sub" and name in self.subscriptions:
                token, k = parse_vapid(self.headers.get("Authorization"))
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(k))
                try:
                    claims = jwt.decode(
                        token,
                        key=key,
                        algorithms=["ES256"],
                        audience=self.origin,
                        options={"require": ["exp", "aud", "sub"]},
                    )
                except jwt.PyJWTError as e:
                    status = 401
                    raise ValueError("VAPID: %s" % e)
                report["claims"] = claims
                if self.headers.get("Content-Encoding") != "aes128gcm":
                    status = 400
                    raise ValueError("Content-Encoding is not aes128gcm")
                private, auth = self.subscriptions[name]
                plaintext = http_ece.decrypt(
                    body, private_key=private, auth_secret=auth, version="aes128gcm"
                )
                report["plaintext"] = base64.b64encode(plaintext).decode()
            else:
                status = 404
        except Exception as e:  # reported, and answered with the status chosen above
            if status == 201:
                status = 400
            report["error"] = str(e)
        report["status"] = status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print(json.dumps(report), flush=True)


def main():
    args = sys.argv[1:]
    run_for = 120.0
    if "--for" in args:
        i = args.index("--for")
        run_for = float(args[i + 1])
        del args[i : i + 2]
    for arg in args:
        name, _, keys = arg.partition("=")
        private, _, auth = keys.partition(":")
        scalar = int.from_bytes(unb64(private), "big")
        Handler.subscriptions[name] = (ec.derive_private_key(scalar, ec.SECP256R1()), unb64(auth))
    server = HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    Handler.origin = "http://127.0.0.1:%d" % port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("listening %d" % port, flush=True)
    deadline = time.monotonic() + run_for

    def watch_stdin():
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not any(t.name != "MainThread" and t.is_alive() for t in threading.enumerate()):
            break
    server.shutdown()


if __name__ == "__main__":
    main()
