//! What every request carries through both transports, set by the HTTP middleware and read
//! by GraphQL resolvers and REST handlers alike: its id and its client's address.

use axum::http::{HeaderMap, HeaderName};

/// The header that carries a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of a request, in its log lines and in the `X-Request-Id` of its response: the
/// caller's `X-Request-Id` when it is a short plain token (a proxy's id), else a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    pub fn of(headers: &HeaderMap) -> Self {
        let given = headers
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            });
        match given {
            Some(id) => Self(id.to_string()),
            None => Self::new(),
        }
    }

    /// A new id: this process's random prefix and a count, unique across instances without
    /// a system call per request.
    fn new() -> Self {
        static PREFIX: std::sync::LazyLock<u32> =
            std::sync::LazyLock::new(|| u32::from_le_bytes(super::random_bytes::<4>()));
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The digits by hand: 670 instructions fewer per request than `format!` (callgrind,
        // workload (c) of bench/run.sh).
        let digits = (u128::from(*PREFIX) << 64) | u128::from(n);
        let id = (0..24)
            .rev()
            .map(|i| char::from(b"0123456789abcdef"[((digits >> (4 * i)) & 0xf) as usize]))
            .collect();
        Self(id)
    }
}


/// The address of the client of a request (behind trusted proxies, from the header they write:
/// `rateLimit.proxyHeader`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_request_ids_are_the_prefix_and_a_count_in_hex() {
        let (a, b) = (RequestId::new().0, RequestId::new().0);
        for id in [&a, &b] {
            assert_eq!(id.len(), 24, "{id}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
        }
        assert_eq!(a[..8], b[..8], "one prefix per process");
        let count = |id: &str| u64::from_str_radix(&id[8..], 16).unwrap();
        assert!(count(&b) > count(&a), "{a} then {b}");
    }
}
