//! Small helpers without a better home: randomness and secrets kept on disk.

use std::io::Write;
use std::path::Path;

use crate::config::Secret;

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing is not something a server can work around.
    #[expect(
        clippy::expect_used,
        reason = "no randomness means no secure tokens at all"
    )]
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes
}

/// A random string of `len` characters from `[a-z0-9]`, without modulo bias.
pub fn random_alphanumeric(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<32>() {
            // 252 = 7 * 36: bytes above it would favour the first letters.
            if byte < 252 && out.len() < len {
                out.push(ALPHANUMERIC[usize::from(byte % 36)] as char);
            }
        }
    }
    out
}

/// A stable public id for a row, like Strapi's `documentId`: 24 characters of `[a-z0-9]`.
pub fn new_document_id() -> String {
    random_alphanumeric(24)
}

/// Hex encoding, lower case.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Reads a secret kept in `path`, or creates it (256 random bits, readable by the owner only).
pub fn read_or_create_secret(path: &Path) -> std::io::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Secret::new(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = hex(&random_bytes::<32>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            Ok(Secret::new(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Secret::new(std::fs::read_to_string(path)?.trim()))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_are_24_lowercase_alphanumerics_and_differ() {
        let a = new_document_id();
        let b = new_document_id();
        assert_eq!(a.len(), 24);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn hex_encodes_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
