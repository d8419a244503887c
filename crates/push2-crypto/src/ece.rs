//! RFC 8188 "Encrypted Content-Encoding for HTTP", the `aes128gcm` coding, both directions.
//!
//! ```text
//! header  = salt (16) || rs (u32 big-endian) || idlen (1) || keyid (idlen)     section 2.1
//! CEK     = HKDF-SHA-256(salt, IKM, "Content-Encoding: aes128gcm" || 0x00, 16)  section 2.2
//! NONCE_i = HKDF-SHA-256(salt, IKM, "Content-Encoding: nonce" || 0x00, 12) XOR i (96-bit BE)
//! record  = AES-128-GCM(CEK, NONCE_i, data || delimiter || 0x00*)              section 2
//! ```
//! Every record but the last is exactly `rs` octets and carries delimiter 0x01; the last
//! carries 0x02 and may be shorter. The record size is not authenticated (section 4.4): a
//! changed `rs` only shows when it moves record boundaries.

use zeroize::Zeroizing;

use crate::backend::{self, Backend, HkdfOutput};
use crate::error::{DecryptError, EncryptError, KeyError};

/// Salt length (section 2.1).
pub const SALT_LEN: usize = 16;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// The smallest record size: a tag, a delimiter and one octet (section 2.1).
pub const MIN_RECORD_SIZE: u32 = 18;
/// Header length without the key id.
pub const HEADER_LEN: usize = SALT_LEN + 4 + 1;

const CEK_INFO: &[u8] = b"Content-Encoding: aes128gcm\0";
const NONCE_INFO: &[u8] = b"Content-Encoding: nonce\0";
const DELIMITER: u8 = 0x01;
const LAST_DELIMITER: u8 = 0x02;

/// The `aes128gcm` header (section 2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The 16-octet salt.
    pub salt: [u8; SALT_LEN],
    /// The record size.
    pub rs: u32,
    /// The key id; RFC 8291 puts the sender's public key here.
    pub keyid: &'a [u8],
}

impl<'a> Header<'a> {
    /// Reads the header at the start of `body`; returns it and the records that follow.
    ///
    /// # Errors
    /// [`DecryptError::ShortHeader`], [`DecryptError::RecordSizeTooSmall`].
    pub fn parse(body: &'a [u8]) -> Result<(Self, &'a [u8]), DecryptError> {
        let short = DecryptError::ShortHeader { len: body.len() };
        let (fixed, rest) = body.split_at_checked(HEADER_LEN).ok_or(short.clone())?;
        let (salt, fixed) = fixed.split_at(SALT_LEN);
        let (rs, idlen) = fixed.split_at(4);
        let rs = u32::from_be_bytes([rs[0], rs[1], rs[2], rs[3]]);
        let (keyid, records) = rest.split_at_checked(usize::from(idlen[0])).ok_or(short)?;
        if rs < MIN_RECORD_SIZE {
            return Err(DecryptError::RecordSizeTooSmall { rs });
        }
        let mut salt_array = [0; SALT_LEN];
        salt_array.copy_from_slice(salt);
        Ok((
            Self {
                salt: salt_array,
                rs,
                keyid,
            },
            records,
        ))
    }

    /// The encoded length.
    #[must_use]
    pub const fn len(&self) -> usize {
        HEADER_LEN + self.keyid.len()
    }

    /// Always false: a header has at least 21 octets.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), EncryptError> {
        let idlen = u8::try_from(self.keyid.len()).map_err(|_| EncryptError::KeyIdTooLong {
            len: self.keyid.len(),
        })?;
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.rs.to_be_bytes());
        out.push(idlen);
        out.extend_from_slice(self.keyid);
        Ok(())
    }
}

/// The content-encryption key and nonce base derived from IKM and salt (sections 2.2, 2.3).
pub(crate) struct ContentKeys {
    cek: Zeroizing<[u8; 16]>,
    nonce_base: Zeroizing<[u8; 12]>,
}

impl ContentKeys {
    pub(crate) fn derive<B: Backend>(ikm: &[u8], salt: &[u8; SALT_LEN]) -> Result<Self, KeyError> {
        let mut cek = Zeroizing::new([0; 16]);
        let mut nonce_base = Zeroizing::new([0; 12]);
        B::hkdf_sha256(
            salt,
            ikm,
            &mut [
                HkdfOutput {
                    info: &[CEK_INFO],
                    okm: cek.as_mut(),
                },
                HkdfOutput {
                    info: &[NONCE_INFO],
                    okm: nonce_base.as_mut(),
                },
            ],
        )?;
        Ok(Self { cek, nonce_base })
    }

    /// The nonce for record `seq`: the base XOR the 96-bit big-endian sequence number.
    fn nonce(&self, seq: u64) -> [u8; 12] {
        let mut nonce = *self.nonce_base;
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }
}

/// Encrypts `plaintext` with `padding` zero octets under the default backend.
///
/// # Errors
/// Caller misuse only: [`EncryptError::InvalidRecordSize`], [`EncryptError::KeyIdTooLong`],
/// [`EncryptError::TooLarge`].
pub fn encrypt(
    ikm: &[u8],
    salt: &[u8; SALT_LEN],
    keyid: &[u8],
    rs: u32,
    plaintext: &[u8],
    padding: usize,
) -> Result<Vec<u8>, EncryptError> {
    encrypt_with::<backend::Default>(ikm, salt, keyid, rs, plaintext, padding)
}

/// Encrypts `plaintext` followed by `padding` zero octets, in records of `rs` octets.
///
/// Padding goes into the earliest records, before any data: every record is filled to
/// capacity (`rs - 17` octets of content) except the last. This layout reproduces the
/// RFC 8188 section 3.2 example byte for byte. The salt must never repeat for one IKM.
///
/// # Errors
/// As [`encrypt`].
pub fn encrypt_with<B: Backend>(
    ikm: &[u8],
    salt: &[u8; SALT_LEN],
    keyid: &[u8],
    rs: u32,
    plaintext: &[u8],
    padding: usize,
) -> Result<Vec<u8>, EncryptError> {
    if rs < MIN_RECORD_SIZE {
        return Err(EncryptError::InvalidRecordSize { rs });
    }
    let header = Header {
        salt: *salt,
        rs,
        keyid,
    };
    let keys = ContentKeys::derive::<B>(ikm, salt).map_err(|_| EncryptError::Backend)?;
    let capacity = usize::try_from(rs - 17).map_err(|_| EncryptError::TooLarge)?;
    let content = plaintext
        .len()
        .checked_add(padding)
        .ok_or(EncryptError::TooLarge)?;
    let records = content.div_ceil(capacity).max(1);
    let overhead = records.checked_mul(17).ok_or(EncryptError::TooLarge)?;
    let total = content
        .checked_add(overhead)
        .and_then(|n| n.checked_add(header.len()))
        .ok_or(EncryptError::TooLarge)?;
    // The caller chooses `padding`: an impossible allocation is an error, not an abort.
    let mut out = Vec::new();
    out.try_reserve_exact(total)
        .map_err(|_| EncryptError::TooLarge)?;
    header.write(&mut out)?;

    let (mut data, mut pad_left) = (plaintext, padding);
    for seq in 0..records {
        let last = seq + 1 == records;
        let room = capacity.min(data.len() + pad_left);
        let pad = pad_left.min(room);
        let (chunk, rest) = data.split_at(room - pad);
        let start = out.len();
        out.extend_from_slice(chunk);
        out.push(if last { LAST_DELIMITER } else { DELIMITER });
        out.resize(out.len() + pad, 0);
        let seq = u64::try_from(seq).map_err(|_| EncryptError::TooLarge)?;
        let tag = B::seal(&keys.cek, &keys.nonce(seq), &mut out[start..])
            .map_err(|_| EncryptError::Backend)?;
        out.extend_from_slice(&tag);
        data = rest;
        pad_left -= pad;
    }
    Ok(out)
}

/// Decrypts a whole `aes128gcm` body under the default backend.
///
/// # Errors
/// The [`DecryptError`] a malformed or altered body causes.
pub fn decrypt(ikm: &[u8], body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    decrypt_with::<backend::Default>(ikm, body)
}

/// Decrypts a whole `aes128gcm` body (header and any number of records).
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_with<B: Backend>(ikm: &[u8], body: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let (header, records) = Header::parse(body)?;
    let keys = ContentKeys::derive::<B>(ikm, &header.salt).map_err(|_| DecryptError::Backend)?;
    decrypt_records::<B>(&keys, header.rs, records)
}

/// Decrypts the records that follow a parsed header.
pub(crate) fn decrypt_records<B: Backend>(
    keys: &ContentKeys,
    rs: u32,
    records: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    if records.is_empty() {
        return Err(DecryptError::NoRecords);
    }
    // A record size beyond the address space means one record: chunks() then takes it whole.
    let rs = usize::try_from(rs).unwrap_or(usize::MAX);
    // Zeroized if decryption fails part-way: earlier records' plaintext must not linger.
    let mut out = Zeroizing::new(Vec::with_capacity(records.len()));
    let mut remaining = records;
    let mut index: u64 = 0;
    while !remaining.is_empty() {
        let (record, rest) = remaining.split_at(rs.min(remaining.len()));
        let last = rest.is_empty();
        if record.len() < TAG_LEN + 1 {
            return Err(DecryptError::TruncatedRecord { index });
        }
        let start = out.len();
        out.extend_from_slice(record);
        let plain_len = B::open(&keys.cek, &keys.nonce(index), &mut out[start..])
            .map_err(|()| DecryptError::Authentication { index })?;
        out.truncate(start + plain_len);
        // Section 2: strip trailing zeros; the octet before them is the delimiter.
        let delimiter_at = out[start..]
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(DecryptError::NoDelimiter { index })?;
        let delimiter = out[start + delimiter_at];
        match (delimiter, last) {
            (DELIMITER, false) | (LAST_DELIMITER, true) => {}
            _ => return Err(DecryptError::BadDelimiter { index, delimiter }),
        }
        out.truncate(start + delimiter_at);
        remaining = rest;
        index += 1;
    }
    Ok(core::mem::take(&mut *out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RustCrypto;
    use crate::hazmat::b64;

    fn unb64(text: &str) -> Vec<u8> {
        b64::decode(text).unwrap()
    }

    fn for_each_backend(check: impl Fn(&dyn Fn(&[u8], &[u8]) -> Result<Vec<u8>, DecryptError>)) {
        check(&|ikm, body| decrypt_with::<RustCrypto>(ikm, body));
        #[cfg(feature = "aws-lc-rs")]
        check(&|ikm, body| decrypt_with::<backend::AwsLc>(ikm, body));
    }

    // RFC 8188 section 3.1: one record, rs 4096, no key id, no padding.
    const IKM_3_1: &str = "yqdlZ-tYemfogSmv7Ws5PQ";
    const BODY_3_1: &str =
        "I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg";
    // RFC 8188 section 3.2: rs 25, key id "a1", two records, one octet of padding.
    const IKM_3_2: &str = "BO3ZVPxUlnLORbVGMpbT1Q";
    const BODY_3_2: &str = "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA";

    #[test]
    fn rfc8188_3_1_encrypts_byte_exact() {
        let body = unb64(BODY_3_1);
        let salt: [u8; 16] = body[..16].try_into().unwrap();
        let ours =
            encrypt_with::<RustCrypto>(&unb64(IKM_3_1), &salt, b"", 4096, b"I am the walrus", 0);
        assert_eq!(ours.unwrap(), body);
        #[cfg(feature = "aws-lc-rs")]
        assert_eq!(
            encrypt_with::<backend::AwsLc>(
                &unb64(IKM_3_1),
                &salt,
                b"",
                4096,
                b"I am the walrus",
                0
            )
            .unwrap(),
            body
        );
    }

    #[test]
    fn rfc8188_3_2_encrypts_byte_exact() {
        let body = unb64(BODY_3_2);
        let salt: [u8; 16] = body[..16].try_into().unwrap();
        let ours =
            encrypt_with::<RustCrypto>(&unb64(IKM_3_2), &salt, b"a1", 25, b"I am the walrus", 1);
        assert_eq!(ours.unwrap(), body);
        #[cfg(feature = "aws-lc-rs")]
        assert_eq!(
            encrypt_with::<backend::AwsLc>(
                &unb64(IKM_3_2),
                &salt,
                b"a1",
                25,
                b"I am the walrus",
                1
            )
            .unwrap(),
            body
        );
    }

    #[test]
    fn rfc8188_examples_decrypt() {
        for_each_backend(|decrypt| {
            assert_eq!(
                decrypt(&unb64(IKM_3_1), &unb64(BODY_3_1)).unwrap(),
                b"I am the walrus"
            );
            assert_eq!(
                decrypt(&unb64(IKM_3_2), &unb64(BODY_3_2)).unwrap(),
                b"I am the walrus"
            );
        });
    }

    #[test]
    fn header_is_parsed_as_the_rfc_says() {
        let body = unb64(BODY_3_2);
        let (header, records) = Header::parse(&body).unwrap();
        assert_eq!(
            (header.rs, header.keyid, header.len()),
            (25, &b"a1"[..], 23)
        );
        assert_eq!(records.len(), 25 + 25);
    }

    #[test]
    fn every_malformed_body_is_a_typed_error() {
        let ikm = unb64(IKM_3_2);
        let body = unb64(BODY_3_2);
        for_each_backend(|decrypt| {
            assert_eq!(
                decrypt(&ikm, &body[..20]),
                Err(DecryptError::ShortHeader { len: 20 })
            );
            // idlen says 2 but only one keyid octet is there.
            assert_eq!(
                decrypt(&ikm, &body[..22]),
                Err(DecryptError::ShortHeader { len: 22 })
            );
            assert_eq!(decrypt(&ikm, &body[..23]), Err(DecryptError::NoRecords));
            let mut small_rs = body.clone();
            small_rs[16..20].copy_from_slice(&17u32.to_be_bytes());
            assert_eq!(
                decrypt(&ikm, &small_rs),
                Err(DecryptError::RecordSizeTooSmall { rs: 17 })
            );
            // Cut inside the second record: too short to hold a tag and a delimiter.
            assert_eq!(
                decrypt(&ikm, &body[..23 + 25 + 10]),
                Err(DecryptError::TruncatedRecord { index: 1 })
            );
            // Cut inside the second record but long enough: its tag fails.
            assert_eq!(
                decrypt(&ikm, &body[..23 + 25 + 20]),
                Err(DecryptError::Authentication { index: 1 })
            );
            // Cut at the record boundary: the first record's delimiter 1 ends the body.
            assert_eq!(
                decrypt(&ikm, &body[..23 + 25]),
                Err(DecryptError::BadDelimiter {
                    index: 0,
                    delimiter: 1
                })
            );
            let mut flipped = body.clone();
            flipped[30] ^= 1;
            assert_eq!(
                decrypt(&ikm, &flipped),
                Err(DecryptError::Authentication { index: 0 })
            );
        });
    }

    #[test]
    fn a_record_after_the_last_is_rejected() {
        // Two records, each marked last: encrypt one-record bodies and splice the second in.
        let ikm = [7; 16];
        let salt = [9; 16];
        let keys = ContentKeys::derive::<RustCrypto>(&ikm, &salt).unwrap();
        let mut body = Vec::new();
        Header {
            salt,
            rs: 20,
            keyid: b"",
        }
        .write(&mut body)
        .unwrap();
        for seq in 0..2 {
            let mut record = vec![b'x', b'y', LAST_DELIMITER, 0];
            let tag = RustCrypto::seal(&keys.cek, &keys.nonce(seq), &mut record).unwrap();
            body.extend_from_slice(&record);
            body.extend_from_slice(&tag);
        }
        for_each_backend(|decrypt| {
            assert_eq!(
                decrypt(&ikm, &body),
                Err(DecryptError::BadDelimiter {
                    index: 0,
                    delimiter: 2
                })
            );
        });
    }

    #[test]
    fn all_zero_record_has_no_delimiter_and_bad_delimiters_are_named() {
        let ikm = [1; 16];
        let salt = [2; 16];
        let keys = ContentKeys::derive::<RustCrypto>(&ikm, &salt).unwrap();
        for (plain, want) in [
            (vec![0u8, 0, 0], DecryptError::NoDelimiter { index: 0 }),
            (
                vec![b'a', 7, 0],
                DecryptError::BadDelimiter {
                    index: 0,
                    delimiter: 7,
                },
            ),
        ] {
            let mut body = Vec::new();
            Header {
                salt,
                rs: 4096,
                keyid: b"",
            }
            .write(&mut body)
            .unwrap();
            let mut record = plain;
            let tag = RustCrypto::seal(&keys.cek, &keys.nonce(0), &mut record).unwrap();
            body.extend_from_slice(&record);
            body.extend_from_slice(&tag);
            for_each_backend(|decrypt| assert_eq!(decrypt(&ikm, &body), Err(want.clone())));
        }
    }

    #[test]
    fn caller_misuse_is_reported_not_panicked() {
        assert_eq!(
            encrypt(b"k", &[0; 16], b"", 17, b"", 0),
            Err(EncryptError::InvalidRecordSize { rs: 17 })
        );
        assert_eq!(
            encrypt(b"k", &[0; 16], &[0; 256], 4096, b"", 0),
            Err(EncryptError::KeyIdTooLong { len: 256 })
        );
        assert_eq!(
            encrypt(b"k", &[0; 16], b"", 18, b"", usize::MAX),
            Err(EncryptError::TooLarge)
        );
    }
}
