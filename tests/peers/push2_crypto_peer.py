"""Independent RFC 8188/8291/8292 implementations for tests/push2_crypto_python.rs.

Reads a JSON list of cases on stdin and writes a JSON list of results on stdout, one per
case, in order: {"ok": ...} or {"error": "..."}. Uses http_ece, cryptography and PyJWT from
./.venv (scripts/setup-peers.sh); nothing here knows the Rust code.
"""

import base64
import json
import os
import sys

import http_ece
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_key(raw):
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def public_bytes(key):
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def webpush_decrypt_by_hand(ua_private, auth, body):
    """RFC 8291 sections 3.3 and 3.4 over RFC 8188 section 2, written from the RFCs with
    the cryptography package only; single record, as RFC 8291 section 4 mandates."""
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    as_public = body[21 : 21 + idlen]
    record = body[21 + idlen :]
    if idlen != 65 or len(record) > rs:
        raise ValueError("not a single-record RFC 8291 body")
    key = private_key(ua_private)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    secret = key.exchange(ec.ECDH(), peer)
    ikm = hkdf(auth, secret, b"WebPush: info\x00" + public_bytes(key) + as_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, record, None).rstrip(b"\x00")
    if not padded.endswith(b"\x02"):
        raise ValueError("last record lacks delimiter 2")
    return padded[:-1]


def run(case):
    op = case["op"]
    if op == "webpush_decrypt":
        return b64(
            http_ece.decrypt(
                unb64(case["body"]),
                private_key=private_key(unb64(case["ua_private"])),
                auth_secret=unb64(case["auth"]),
                version="aes128gcm",
            )
        )
    if op == "webpush_decrypt_by_hand":
        return b64(
            webpush_decrypt_by_hand(
                unb64(case["ua_private"]), unb64(case["auth"]), unb64(case["body"])
            )
        )
    if op == "ece_decrypt":
        return b64(http_ece.decrypt(unb64(case["body"]), key=unb64(case["ikm"]), version="aes128gcm"))
    if op == "webpush_encrypt":
        sender = ec.generate_private_key(ec.SECP256R1())
        return b64(
            http_ece.encrypt(
                unb64(case["plaintext"]),
                salt=os.urandom(16),
                private_key=sender,
                dh=unb64(case["ua_public"]),
                auth_secret=unb64(case["auth"]),
                version="aes128gcm",
            )
        )
    if op == "jwt_verify":
        point = unb64(case["public_key"])
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        return jwt.decode(
            case["token"],
            key=key,
            algorithms=["ES256"],
            audience=case["aud"],
            options={"require": ["exp", "aud"]},
        )
    if op == "load_pem":
        key = serialization.load_pem_private_key(case["pem"].encode(), password=None)
        return b64(public_bytes(key))
    if op == "load_der_b64":
        der = base64.b64decode(case["der"], validate=True)
        return b64(public_bytes(serialization.load_der_private_key(der, password=None)))
    raise ValueError("unknown op " + op)


def main():
    results = []
    for case in json.load(sys.stdin):
        try:
            results.append({"ok": run(case)})
        except Exception as error:  # every failure is reported to the Rust side, by type
            results.append({"error": type(error).__name__ + ": " + str(error)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
