//! Bundle signatures, and which signers a host trusts.
//!
//! A signature is Ed25519 over [`CONTEXT`] followed by `manifest.json`'s
//! bytes exactly as stored; the manifest lists every file's SHA-256 and
//! size, and unpacking checks each file against it, so the signature covers
//! every byte that is unpacked. It lives in the gzip header's extra field
//! (RFC 1952 §2.3.1.1) as one subfield `MS`: a version byte, the signer's
//! 32-byte public key and the 64-byte signature. A host that predates
//! signing skips the extra field, as every gzip reader does, and runs a
//! signed bundle as before; `tar tzf` still lists it.
//!
//! The public key travels with the signature so that any host can check the
//! signature and name its key id; whether that key is *trusted* is the
//! host's own list ([`TrustedKeys`], `service_config.trusted_keys` or
//! `bundle verify --trust`). Verification is `verify_strict`.

use super::keys::{KeyId, PublicKey, SecretKey};
use super::BundleError;
use ed25519_dalek::{Signature, Signer};

/// What is signed before the manifest's bytes, so that a bundle signing key
/// signs nothing that could be taken for something else.
pub const CONTEXT: &[u8] = b"moobius-host bundle manifest v1\n";
/// The gzip extra subfield that holds the signature.
const SUBFIELD: [u8; 2] = *b"MS";
const BLOCK_VERSION: u8 = 1;
const BLOCK_LEN: usize = 1 + 32 + 64;

/// A signature as found in a bundle (not yet checked).
#[derive(Debug, Clone)]
pub(crate) struct SignatureBlock {
    key: PublicKey,
    signature: Signature,
}

impl SignatureBlock {
    pub(crate) fn sign(secret: &SecretKey, manifest: &[u8]) -> Self {
        SignatureBlock {
            key: secret.public().clone(),
            signature: secret.signing_key().sign(&message(manifest)),
        }
    }

    pub(crate) fn key_id(&self) -> KeyId {
        self.key.id()
    }

    /// The gzip header's extra field holding this signature.
    pub(crate) fn to_gzip_extra(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + BLOCK_LEN);
        out.extend_from_slice(&SUBFIELD);
        out.extend_from_slice(&(BLOCK_LEN as u16).to_le_bytes());
        out.push(BLOCK_VERSION);
        out.extend_from_slice(self.key.verifying_key().as_bytes());
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// The signature in a gzip header's extra field, if there is one. Other
    /// subfields are skipped; a malformed `MS` subfield refuses the bundle.
    pub(crate) fn from_gzip_extra(extra: Option<&[u8]>) -> Result<Option<Self>, BundleError> {
        let bad = |why: &str| Err(BundleError::BadSignature(why.to_string()));
        let mut rest = extra.unwrap_or_default();
        let mut found = None;
        while rest.len() >= 4 {
            let id = [rest[0], rest[1]];
            let len = u16::from_le_bytes([rest[2], rest[3]]) as usize;
            let Some(data) = rest.get(4..4 + len) else {
                break;
            };
            rest = &rest[4 + len..];
            if id != SUBFIELD {
                continue;
            }
            if found.is_some() {
                return bad("the gzip header holds two signatures");
            }
            if len != BLOCK_LEN || data[0] != BLOCK_VERSION {
                return bad("the signature block has an unknown version or length (signed by a newer host?)");
            }
            let mut key = [0u8; 32];
            key.copy_from_slice(&data[1..33]);
            let key = PublicKey::from_bytes(&key)
                .map_err(|e| BundleError::BadSignature(format!("its public key: {e}")))?;
            let mut sig = [0u8; 64];
            sig.copy_from_slice(&data[33..]);
            found = Some(SignatureBlock {
                key,
                signature: Signature::from_bytes(&sig),
            });
        }
        Ok(found)
    }

    /// Whether the signature is the key's over these manifest bytes.
    pub(crate) fn matches(&self, manifest: &[u8]) -> bool {
        self.key
            .verifying_key()
            .verify_strict(&message(manifest), &self.signature)
            .is_ok()
    }
}

fn message(manifest: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + manifest.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(manifest);
    m
}

/// The keys whose bundles a host accepts. Empty: any bundle, signed or not
/// (a signature present is still checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    pub fn new(keys: Vec<PublicKey>) -> Self {
        TrustedKeys(keys)
    }

    /// The list `service_config.trusted_keys` holds: public key lines
    /// (`ed25519:...`); `null` or absent is none. An error gives the index
    /// of the entry at fault, and never repeats an entry (it may be a
    /// secret key pasted by mistake).
    pub fn from_json(value: Option<&serde_json::Value>) -> Result<Self, (Option<usize>, String)> {
        use serde_json::Value;
        let items = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err((
                    None,
                    "expected a list of public keys (\"ed25519:...\")".into(),
                ))
            }
        };
        let mut keys = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::String(text) = item else {
                return Err((Some(i), "expected a public key string".into()));
            };
            let key = PublicKey::parse(text).map_err(|e| (Some(i), e.to_string()))?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        Ok(TrustedKeys(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }

    /// The key ids, `a, b` (for messages).
    pub fn ids(&self) -> String {
        let ids: Vec<String> = self.0.iter().map(|k| k.id().to_string()).collect();
        ids.join(", ")
    }

    /// Checks a bundle's signature (if any) over its manifest bytes, then
    /// whether this list accepts it. Returns the signer's key id.
    pub(crate) fn check(
        &self,
        block: Option<&SignatureBlock>,
        manifest: &[u8],
    ) -> Result<Option<KeyId>, BundleError> {
        let Some(block) = block else {
            if self.is_empty() {
                return Ok(None);
            }
            return Err(BundleError::Unsigned {
                trusted: self.ids(),
            });
        };
        if !block.matches(manifest) {
            return Err(BundleError::SignatureMismatch(block.key_id()));
        }
        if !self.is_empty() && !self.0.contains(&block.key) {
            return Err(BundleError::UntrustedSigner {
                key: block.key_id(),
                trusted: self.ids(),
            });
        }
        Ok(Some(block.key_id()))
    }
}

/// What `inspect` says of a bundle's signature (nothing is trusted there).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureInfo {
    pub key_id: KeyId,
    /// The signature is this key's over the stored manifest.
    pub matches_manifest: bool,
}

impl SignatureInfo {
    pub(crate) fn of(block: &SignatureBlock, manifest: &[u8]) -> Self {
        SignatureInfo {
            key_id: block.key_id(),
            matches_manifest: block.matches(manifest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::generate().unwrap()
    }

    #[test]
    fn a_signature_round_trips_through_the_extra_field_and_covers_the_manifest() {
        let k = key();
        let block = SignatureBlock::sign(&k, b"{\"a\":1}\n");
        let extra = [b"XY\x01\x00z".as_slice(), &block.to_gzip_extra()].concat();
        let back = SignatureBlock::from_gzip_extra(Some(&extra))
            .unwrap()
            .unwrap();
        assert_eq!(back.key_id(), k.public().id());
        assert!(back.matches(b"{\"a\":1}\n"));
        assert!(!back.matches(b"{\"a\":2}\n"));
        assert!(SignatureBlock::from_gzip_extra(None).unwrap().is_none());
        let twice = [block.to_gzip_extra(), block.to_gzip_extra()].concat();
        assert!(SignatureBlock::from_gzip_extra(Some(&twice)).is_err());
    }

    #[test]
    fn trust_refuses_unsigned_and_other_keys_and_names_them() {
        let (a, b) = (key(), key());
        let manifest = b"m";
        let by_b = SignatureBlock::sign(&b, manifest);
        let any = TrustedKeys::default();
        assert_eq!(any.check(None, manifest).unwrap(), None);
        assert_eq!(
            any.check(Some(&by_b), manifest).unwrap(),
            Some(b.public().id())
        );
        let only_a = TrustedKeys::new(vec![a.public().clone()]);
        let err = only_a.check(None, manifest).unwrap_err().to_string();
        assert!(err.contains(&a.public().id().to_string()), "{err}");
        let err = only_a.check(Some(&by_b), manifest).unwrap_err().to_string();
        assert!(err.contains(&b.public().id().to_string()), "{err}");
        assert!(err.contains(&a.public().id().to_string()), "{err}");
        assert!(matches!(
            any.check(Some(&by_b), b"other"),
            Err(BundleError::SignatureMismatch(_))
        ));
    }
}
