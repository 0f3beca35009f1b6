//! Encryption at rest of session state: XChaCha20-Poly1305, with key ids so
//! keys can be rotated. The first key seals; every key opens.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::SessionError;
use crate::error::Error;
use crate::kernel::ids::random_bytes;

/// Bytes of nonce stored in front of each sealed state.
const NONCE_LEN: usize = 24;

/// The keys an engine seals and opens session state with.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

/// One key as hosts pass it: `{ id, key: Uint8Array }`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    id: String,
    key: crate::kernel::bytes::Bytes,
}

impl<'de> serde::Deserialize<'de> for Keyring {
    /// Reads `[{ id, key }]`, newest first, with the checks of [`Keyring::new`].
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let specs = Vec::<KeySpec>::deserialize(d)?;
        Keyring::new(specs.into_iter().map(|k| (k.id, k.key.0)))
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

impl Keyring {
    /// A keyring from `(id, key)` pairs, newest first: the first key seals
    /// new writes, and all of them open old ones. Keys are 32 bytes; ids are
    /// 1 to 64 bytes and unique.
    pub fn new<I, K>(keys: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (String, K)>,
        K: AsRef<[u8]>,
    {
        let mut ring = Vec::new();
        for (id, key) in keys {
            if id.is_empty() || id.len() > 64 {
                return Err(Error::invalid("sessions.keys.id", "must be 1 to 64 bytes"));
            }
            if ring.iter().any(|(seen, _)| *seen == id) {
                return Err(Error::invalid(
                    "sessions.keys.id",
                    format!("{id:?} appears twice"),
                ));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref())
                .map_err(|_| Error::invalid("sessions.keys.key", "must be exactly 32 bytes"))?;
            ring.push((id, cipher));
        }
        Ok(Self { keys: ring })
    }

    /// Whether no key was given (state is stored as plaintext JSON).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Seals `plaintext` with the newest key, bound to `aad` (the session
    /// id, so sealed state cannot be moved to another session). Returns the
    /// key id and `nonce || ciphertext`, or `None` without keys.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Option<(String, Vec<u8>)> {
        let (id, cipher) = self.keys.first()?;
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Some((id.clone(), out))
    }

    /// Opens what [`Keyring::seal`] produced with key `key_id`.
    pub fn open(&self, key_id: &str, blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, SessionError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .ok_or_else(|| SessionError::KeyMissing {
                key_id: key_id.to_owned(),
            })?;
        let failed = || SessionError::DecryptionFailed {
            key_id: key_id.to_owned(),
        };
        if blob.len() < NONCE_LEN {
            return Err(failed());
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| failed())?;
        cipher
            .decrypt(&nonce, Payload { msg: sealed, aad })
            .map_err(|_| failed())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::error::ErrorCode;

    fn ring(keys: &[(&str, u8)]) -> Keyring {
        Keyring::new(keys.iter().map(|(id, b)| (id.to_string(), [*b; 32]))).unwrap()
    }

    #[test]
    fn seals_with_the_newest_and_opens_with_any() {
        let old = ring(&[("k1", 1)]);
        let (id, blob) = old.seal(b"{\"cart\":[1]}", b"sid").unwrap();
        assert_eq!(id, "k1");
        assert!(!blob.windows(4).any(|w| w == b"cart"), "plaintext leaked");
        let rotated = ring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(
            rotated.open("k1", &blob, b"sid").unwrap(),
            b"{\"cart\":[1]}"
        );
        assert_eq!(rotated.seal(b"x", b"sid").unwrap().0, "k2");
    }

    #[test]
    fn wrong_key_tampering_and_other_sessions_fail_typed() {
        let r = ring(&[("k1", 1)]);
        let (_, blob) = r.seal(b"secret", b"sid").unwrap();
        let wrong = ring(&[("k1", 9)]);
        assert_eq!(
            wrong.open("k1", &blob, b"sid").unwrap_err().code(),
            "DECRYPTION_FAILED"
        );
        assert_eq!(
            r.open("k1", &blob, b"other").unwrap_err().code(),
            "DECRYPTION_FAILED"
        );
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            r.open("k1", &tampered, b"sid").unwrap_err().code(),
            "DECRYPTION_FAILED"
        );
        assert_eq!(
            r.open("k1", &blob[..10], b"sid").unwrap_err().code(),
            "DECRYPTION_FAILED"
        );
        assert_eq!(
            r.open("k0", &blob, b"sid").unwrap_err().code(),
            "KEY_MISSING"
        );
    }

    #[test]
    fn bad_keys_are_invalid_input() {
        let short = Keyring::new([("k".to_string(), vec![0u8; 31])]);
        assert_eq!(short.unwrap_err().code(), "INVALID_INPUT");
        let twice = Keyring::new([("k".to_string(), [0u8; 32]), ("k".to_string(), [1u8; 32])]);
        assert_eq!(twice.unwrap_err().code(), "INVALID_INPUT");
        let no_id = Keyring::new([(String::new(), [0u8; 32])]);
        assert_eq!(no_id.unwrap_err().code(), "INVALID_INPUT");
    }
}
