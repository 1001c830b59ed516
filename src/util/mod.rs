//! Small helpers without a better home: randomness and encodings.

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

pub mod request;
pub mod secret;
