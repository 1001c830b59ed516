//! Rate limiting of the operations attackers repeat: sign-in, sign-up, password and
//! confirmation emails, provider logins. Fixed windows per client address, per identifier and
//! per account, counted in memory, or in Redis so that several instances share the counts.
//!
//! A counter is named by a SHA-256 digest of the operation and what it counts (an address, an
//! account id, or an identifier trimmed and lower-cased), so a key has the same 32 bytes
//! whatever a client sends. In memory, the counts of a window are dropped when the next
//! window starts, and the table never holds more than `max_entries` counters: when it is full,
//! the counter first counted in the window is dropped to make room for the new one. A full
//! table therefore neither refuses new clients (which would let anyone lock everyone out by
//! filling it) nor stops counting (which would let anyone stop the limits by filling it): it
//! forgets the oldest counts, which costs an attacker `max_entries` requests for each counter
//! they make us forget.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

pub use crate::config::{ProxyHeader, RateLimitConfig};

/// What one counter counts.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    Address(IpAddr),
    /// An email or username as the client typed it.
    Identifier(&'a str),
    /// A user's id.
    Account(i32),
}

/// The name of a counter: a digest of the operation and the subject, 32 bytes whatever their
/// size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 32]);

impl Key {
    fn new(operation: &str, subject: Subject<'_>) -> Self {
        let mut digest = Sha256::new();
        digest.update(operation.as_bytes());
        digest.update([0]);
        match subject {
            Subject::Address(IpAddr::V4(ip)) => {
                digest.update(b"ip4\0");
                digest.update(ip.octets());
            }
            Subject::Address(IpAddr::V6(ip)) => {
                digest.update(b"ip6\0");
                digest.update(ip.octets());
            }
            Subject::Identifier(identifier) => {
                digest.update(b"id\0");
                update_normalised(&mut digest, identifier);
            }
            Subject::Account(id) => {
                digest.update(b"account\0");
                digest.update(id.to_be_bytes());
            }
        }
        Self(digest.finalize().into())
    }
}

/// Feeds `identifier`, trimmed and lower-cased, to `digest` through a small buffer on the
/// stack: nothing the size of the identifier is allocated, however long it is. ASCII runs are
/// lower-cased a buffer at a time; other characters one by one (`char::to_lowercase`).
fn update_normalised(digest: &mut Sha256, identifier: &str) {
    let mut buffer = [0u8; 256];
    let mut rest = identifier.trim();
    while !rest.is_empty() {
        let mut end = rest.len().min(buffer.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, after) = rest.split_at(end);
        if chunk.is_ascii() {
            let lower = &mut buffer[..end];
            lower.copy_from_slice(chunk.as_bytes());
            lower.make_ascii_lowercase();
            digest.update(lower);
        } else {
            for c in chunk.chars().flat_map(char::to_lowercase) {
                digest.update(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        rest = after;
    }
}

/// The in-memory counters of the current window.
#[derive(Default)]
struct Table {
    /// Start of the window the counts belong to, in seconds since the limiter started.
    window: u64,
    counts: HashMap<Key, u64>,
    /// The keys in the order they were first counted in the window: who is dropped first when
    /// the table is full.
    order: VecDeque<Key>,
    /// Whether the table was full in this window (said once a window in the log).
    overflowed: bool,
}

impl Table {
    /// Counts one attempt on `key` in the window starting at `window`; the new count.
    fn hit(&mut self, key: Key, window: u64, max_entries: usize) -> u64 {
        if self.window != window {
            // Every count belongs to a past window: new maps give their memory back.
            *self = Self {
                window,
                ..Self::default()
            };
        }
        if let Some(count) = self.counts.get_mut(&key) {
            *count += 1;
            return *count;
        }
        while self.counts.len() >= max_entries.max(1) {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.counts.remove(&oldest);
            if !self.overflowed {
                self.overflowed = true;
                tracing::warn!(
                    max_entries,
                    "rate-limit table full: the oldest counters of this window are dropped \
                     (raise rateLimit.maxEntries or set REDIS_URL)"
                );
            }
        }
        self.counts.insert(key, 1);
        self.order.push_back(key);
        1
    }
}

enum Counter {
    Memory(Mutex<Table>),
    Redis(redis::aio::ConnectionManager),
}

pub struct RateLimiter {
    config: RateLimitConfig,
    counter: Counter,
    /// The origin of the in-memory windows (a monotonic clock: no jumps).
    started: Instant,
}

impl RateLimiter {
    pub async fn new(config: RateLimitConfig) -> anyhow::Result<Self> {
        let counter = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| {
                    anyhow::anyhow!("REDIS_URL must look like redis://host:6379: {e}")
                })?;
                Counter::Redis(redis::aio::ConnectionManager::new(client).await?)
            }
            None => Counter::Memory(Mutex::default()),
        };
        Ok(Self {
            config,
            counter,
            started: Instant::now(),
        })
    }

    /// The name of the header the trusted proxies write (see [`Self::client_address`]).
    pub fn proxy_header(&self) -> &'static str {
        self.config.proxy_header.name()
    }

    /// The client of a request: the peer, or — when the peer is a trusted proxy — the
    /// rightmost entry of the proxy header (`rateLimit.proxyHeader`; `lines` are all its lines,
    /// in order) that is not a trusted proxy.
    ///
    /// Every line counts, joined in order, as HTTP says; entries are addresses with or without
    /// a port (`192.0.2.43`, `192.0.2.43:47011`, `2001:db8::1`, `[2001:db8::1]`,
    /// `[2001:db8::1]:4711`, and in `Forwarded` the same in quotes). The walk from the right
    /// stops at the first entry that is not a trusted proxy: if it is no address (`unknown`,
    /// an obfuscated `_name`, garbage), the client cannot be told and the request counts
    /// under the proxy's own address — never under an entry further left, which the client
    /// may have written. With no entry but trusted proxies, the peer counts.
    pub fn client_address<'a>(
        &self,
        peer: Option<IpAddr>,
        lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut entries = Vec::new();
        for line in lines {
            match std::str::from_utf8(line) {
                Ok(line) => match self.config.proxy_header {
                    ProxyHeader::XForwardedFor => entries.extend(
                        line.split(',')
                            .map(|entry| parse_node(entry).map(|ip| ip.to_canonical())),
                    ),
                    ProxyHeader::Forwarded => {
                        forwarded_for(line, &mut entries);
                    }
                },
                Err(_) => entries.push(None),
            }
        }
        Some(
            entries
                .into_iter()
                .rev()
                .find(|entry| !entry.is_some_and(|ip| self.is_trusted(ip)))
                .flatten()
                .unwrap_or(peer),
        )
    }

    /// Whether `ip` (canonical: `::ffff:a.b.c.d` is `a.b.c.d`) is one of the trusted proxies,
    /// however they are written.
    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.config
            .trusted_proxies
            .iter()
            .any(|proxy| proxy.to_canonical() == ip)
    }

    /// Counts one attempt of `operation` from `address` on `identifier`; over the limit, a
    /// `RateLimitError` with the seconds to wait.
    pub async fn check(
        &self,
        operation: &str,
        address: Option<IpAddr>,
        identifier: Option<&str>,
    ) -> AppResult<()> {
        if !self.config.enabled {
            return Ok(());
        }
        if let Some(address) = address {
            self.hit(
                operation,
                Subject::Address(address),
                self.config.max_per_address,
            )
            .await?;
        }
        if let Some(identifier) = identifier.filter(|i| !i.trim().is_empty()) {
            self.hit(
                operation,
                Subject::Identifier(identifier),
                self.config.max_per_identifier,
            )
            .await?;
        }
        Ok(())
    }

    /// Counts one sign-in attempt on `identifier` and, when it names an account, on the
    /// account (`rateLimit.maxPerIdentifier` each): an account's email and username share one
    /// count. An identifier that names no account counts on its own, as one that does, so a
    /// limited unknown account answers as a limited known one.
    pub async fn check_account(
        &self,
        operation: &str,
        identifier: &str,
        account: Option<i32>,
    ) -> AppResult<()> {
        if !self.config.enabled {
            return Ok(());
        }
        let max = self.config.max_per_identifier;
        if !identifier.trim().is_empty() {
            self.hit(operation, Subject::Identifier(identifier), max)
                .await?;
        }
        if let Some(id) = account {
            self.hit(operation, Subject::Account(id), max).await?;
        }
        Ok(())
    }

    async fn hit(&self, operation: &str, subject: Subject<'_>, max: u64) -> AppResult<()> {
        let key = Key::new(operation, subject);
        let window = self.config.window.as_secs().max(1);
        let (count, retry_after) = match &self.counter {
            Counter::Memory(table) => {
                let now = self.started.elapsed().as_secs();
                let start = now - now % window;
                let count = table.lock().unwrap_or_else(|p| p.into_inner()).hit(
                    key,
                    start,
                    self.config.max_entries,
                );
                (count, start + window - now)
            }
            Counter::Redis(manager) => {
                let mut conn = manager.clone();
                let key = format!(
                    "{}:{operation}:{}",
                    self.config.key_prefix,
                    crate::util::hex(&key.0)
                );
                let (count, ttl): (u64, i64) = redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(0)
                    .arg("NX")
                    .arg("EX")
                    .arg(window)
                    .ignore()
                    .cmd("INCR")
                    .arg(&key)
                    .cmd("TTL")
                    .arg(&key)
                    .query_async::<(u64, i64)>(&mut conn)
                    .await
                    .map_err(|e| {
                        AppError::internal(anyhow::anyhow!("rate-limit counter in Redis: {e}"))
                    })?;
                (count, u64::try_from(ttl).unwrap_or(window))
            }
        };
        if count > max {
            return Err(AppError::RateLimited {
                retry_after_secs: retry_after.max(1),
            });
        }
        Ok(())
    }
}

/// One node of a forwarding header: an IPv4 or IPv6 address, with or without a port
/// (`192.0.2.43:47011`, `[2001:db8::1]:4711`, `[2001:db8::1]`), surrounding whitespace
/// ignored; `None` for anything else (`unknown`, `_hidden`, a name, garbage).
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = inside.parse().ok()?;
        return (after.is_empty() || after.strip_prefix(':').is_some_and(is_port))
            .then_some(IpAddr::V6(ip));
    }
    let (host, port) = node.split_once(':')?;
    let ip: Ipv4Addr = host.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(ip))
}

/// A port of RFC 7239: digits, or an obfuscated `_name`.
fn is_port(port: &str) -> bool {
    port.parse::<u16>().is_ok()
        || port.strip_prefix('_').is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// The `for=` node of each element of one `Forwarded` line (RFC 7239), in order: `None` for an
/// element without exactly one `for`, or whose node is no address.
fn forwarded_for(line: &str, entries: &mut Vec<Option<IpAddr>>) {
    for element in split_unquoted(line, ',') {
        let mut node = None;
        let mut fors = 0;
        for pair in split_unquoted(element, ';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("for") {
                fors += 1;
                node = unquote(value.trim()).as_deref().and_then(parse_node);
            }
        }
        entries.push(if fors == 1 { node } else { None }.map(|ip| ip.to_canonical()));
    }
}

/// `text` split at each `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    parts.push(&text[start..]);
    parts.into_iter()
}

/// A token as it is, or the content of a quoted string with its escapes undone; `None` for an
/// unterminated quote.
fn unquote(value: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.into());
    };
    let inner = inner.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(inner.into());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter_with(trusted: &[&str], proxy_header: ProxyHeader) -> RateLimiter {
        let config = RateLimitConfig {
            max_per_address: 2,
            max_per_identifier: 2,
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            proxy_header,
            ..Default::default()
        };
        RateLimiter {
            config,
            counter: Counter::Memory(Mutex::default()),
            started: Instant::now(),
        }
    }

    fn limiter(trusted: &[&str]) -> RateLimiter {
        limiter_with(trusted, ProxyHeader::XForwardedFor)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn is_limited(result: AppResult<()>) -> bool {
        matches!(result, Err(AppError::RateLimited { .. }))
    }

    #[tokio::test]
    async fn counts_per_address_and_per_identifier() {
        let limiter = limiter(&[]);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check("login", Some(a), Some("x")).await.is_ok());
        assert!(limiter.check("login", Some(a), Some("y")).await.is_ok());
        assert!(matches!(
            limiter.check("login", Some(a), Some("z")).await,
            Err(AppError::RateLimited { .. })
        ));
        assert!(
            limiter.check("register", Some(a), None).await.is_ok(),
            "operations count apart"
        );
        assert!(limiter.check("login", Some(b), Some("X")).await.is_ok());
        assert!(
            matches!(
                limiter.check("login", Some(b), Some("x")).await,
                Err(AppError::RateLimited { .. })
            ),
            "x: its third attempt, from any address"
        );
    }

    #[tokio::test]
    async fn an_account_counts_once_whichever_identifier_names_it() {
        let limiter = limiter(&[]);
        assert!(
            limiter
                .check_account("login", "ann@example.com", Some(7))
                .await
                .is_ok()
        );
        assert!(limiter.check_account("login", "ann", Some(7)).await.is_ok());
        assert!(
            is_limited(
                limiter
                    .check_account("login", "ANN@example.com ", Some(7))
                    .await
            ),
            "the account's third attempt"
        );
        assert!(limiter.check_account("login", "bob", Some(8)).await.is_ok());
        assert!(limiter.check_account("login", "nobody", None).await.is_ok());
        assert!(limiter.check_account("login", "Nobody", None).await.is_ok());
        assert!(
            is_limited(limiter.check_account("login", " NOBODY", None).await),
            "an unknown identifier is limited as a known one"
        );
    }

    #[test]
    fn keys_have_a_fixed_size_and_normalise_identifiers() {
        let long = "A".repeat(1 << 20);
        let key = |s: &str| Key::new("login", Subject::Identifier(s));
        assert_eq!(std::mem::size_of::<Key>(), 32);
        assert_eq!(key(&long), key(&format!("  {}\t", long.to_lowercase())));
        assert_ne!(
            key(&long),
            key(&format!("{long}b")),
            "the whole identifier counts"
        );
        assert_eq!(key("Ünïcode ÉMAIL"), key("ünïcode émail"));
        assert_ne!(key("x"), Key::new("register", Subject::Identifier("x")));
        assert_ne!(
            Key::new("login", Subject::Account(1)),
            Key::new("login", Subject::Identifier("1"))
        );
    }

    fn key(n: u32) -> Key {
        Key::new("test", Subject::Account(n as i32))
    }

    #[test]
    fn counts_of_past_windows_are_dropped_when_the_next_window_starts() {
        let mut table = Table::default();
        for n in 0..1_000 {
            assert_eq!(table.hit(key(n), 0, 10_000), 1);
        }
        assert_eq!(table.hit(key(0), 0, 10_000), 2);
        assert_eq!(table.counts.len(), 1_000);
        assert_eq!(
            table.hit(key(0), 60, 10_000),
            1,
            "a new window counts afresh"
        );
        assert_eq!(table.counts.len(), 1, "the past window's counters are gone");
        assert!(
            table.counts.capacity() < 1_000,
            "and their memory given back"
        );
    }

    #[test]
    fn a_full_table_drops_the_oldest_counter_and_never_grows() {
        let mut table = Table::default();
        for n in 0..3 {
            table.hit(key(n), 0, 3);
        }
        assert_eq!(
            table.hit(key(0), 0, 3),
            2,
            "a counted key goes on counting when full"
        );
        assert_eq!(table.hit(key(3), 0, 3), 1);
        assert_eq!(table.counts.len(), 3, "never past the cap");
        assert!(
            !table.counts.contains_key(&key(0)),
            "the first counted is dropped"
        );
        for n in 4..100 {
            table.hit(key(n), 0, 3);
            assert_eq!(table.counts.len(), 3);
            assert_eq!(table.order.len(), 3);
        }
        assert_eq!(table.hit(key(99), 0, 3), 2, "the newest counts are kept");
    }

    #[tokio::test]
    async fn the_memory_limiter_holds_at_most_max_entries() {
        let mut limiter = limiter(&[]);
        limiter.config.max_entries = 50;
        for n in 0..500 {
            let identifier = format!("{n}{}", "x".repeat(10_000));
            let _ = limiter.check("login", None, Some(&identifier)).await;
        }
        let Counter::Memory(table) = &limiter.counter else {
            unreachable!()
        };
        assert_eq!(table.lock().unwrap().counts.len(), 50);
    }

    #[test]
    fn nodes_are_read_in_every_form() {
        for (node, expected) in [
            ("192.0.2.43", Some("192.0.2.43")),
            ("  192.0.2.43\t", Some("192.0.2.43")),
            ("192.0.2.43:47011", Some("192.0.2.43")),
            ("192.0.2.43:_port", Some("192.0.2.43")),
            ("2001:db8::1", Some("2001:db8::1")),
            (" [2001:db8::1] ", Some("2001:db8::1")),
            ("[2001:db8::1]:4711", Some("2001:db8::1")),
            ("::ffff:192.0.2.1", Some("::ffff:192.0.2.1")),
            ("unknown", None),
            ("_hidden", None),
            ("", None),
            ("192.0.2.43:", None),
            ("192.0.2.43:99999", None),
            ("[2001:db8::1]x", None),
            ("[192.0.2.43]", None),
            ("example.com", None),
        ] {
            assert_eq!(parse_node(node), expected.map(ip), "{node:?}");
        }
    }

    fn through(limiter: &RateLimiter, lines: &[&str]) -> Option<IpAddr> {
        limiter.client_address(Some(ip("127.0.0.1")), lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let direct = limiter(&[]);
        let proxy = ip("127.0.0.1");
        assert_eq!(
            through(&direct, &["1.2.3.4"]),
            Some(proxy),
            "a forged header is ignored"
        );
        let behind = limiter(&["127.0.0.1", "10.0.0.9"]);
        assert_eq!(
            through(&behind, &["6.6.6.6, 1.2.3.4, 10.0.0.9"]),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(through(&behind, &[]), Some(proxy));
        assert_eq!(
            through(&behind, &["10.0.0.9"]),
            Some(proxy),
            "only proxies: the peer"
        );
        assert_eq!(
            behind.client_address(Some(ip("::ffff:127.0.0.1")), [b"1.2.3.4".as_slice()]),
            Some(ip("1.2.3.4")),
            "a proxy's IPv4 address seen through an IPv6 socket is trusted"
        );
        let mapped = limiter(&["::ffff:127.0.0.1"]);
        assert_eq!(
            through(&mapped, &["1.2.3.4"]),
            Some(ip("1.2.3.4")),
            "and so is a trusted proxy written as a mapped address"
        );
    }

    #[test]
    fn every_x_forwarded_for_line_and_form_is_read_from_the_right() {
        let behind = limiter(&["127.0.0.1", "10.0.0.9", "2001:db8::9"]);
        for (lines, expected) in [
            (&["6.6.6.6", "1.2.3.4"][..], "1.2.3.4"),
            (&["6.6.6.6", "1.2.3.4, 10.0.0.9"], "1.2.3.4"),
            (&["6.6.6.6, 7.7.7.7", "1.2.3.4", "10.0.0.9:443"], "1.2.3.4"),
            (&["6.6.6.6, 1.2.3.4:5555"], "1.2.3.4"),
            (
                &["6.6.6.6, [2001:db8::1]:4711, [2001:db8::9]"],
                "2001:db8::1",
            ),
            (&["6.6.6.6, [2001:db8::1]"], "2001:db8::1"),
            (&["6.6.6.6,2001:db8::1 , 10.0.0.9"], "2001:db8::1"),
            (&["6.6.6.6, ::ffff:1.2.3.4"], "1.2.3.4"),
            // An entry that is no address where the client should be: the proxy counts.
            (&["6.6.6.6, unknown"], "127.0.0.1"),
            (&["6.6.6.6, _hidden, 10.0.0.9"], "127.0.0.1"),
            (&["6.6.6.6, "], "127.0.0.1"),
            (&["6.6.6.6", ""], "127.0.0.1"),
        ] {
            assert_eq!(through(&behind, lines), Some(ip(expected)), "{lines:?}");
        }
        assert_eq!(
            behind.client_address(
                Some(ip("127.0.0.1")),
                [b"6.6.6.6".as_slice(), b"\xff\xfe".as_slice()]
            ),
            Some(ip("127.0.0.1")),
            "a line that is not text is no address"
        );
    }

    #[test]
    fn forwarded_is_read_in_every_form() {
        let behind = limiter_with(
            &["127.0.0.1", "10.0.0.9", "2001:db8::9"],
            ProxyHeader::Forwarded,
        );
        for (lines, expected) in [
            (&["for=192.0.2.43"][..], "192.0.2.43"),
            (&["For=\"192.0.2.43:47011\";proto=https"], "192.0.2.43"),
            (&["for=192.0.2.43:47011"], "192.0.2.43"),
            (&["for=\"[2001:db8::1]:4711\""], "2001:db8::1"),
            (&["for=\"[2001:db8::1]\";by=10.0.0.9"], "2001:db8::1"),
            (
                &["for=6.6.6.6, for=192.0.2.43;proto=http, for=10.0.0.9"],
                "192.0.2.43",
            ),
            (
                &["for=6.6.6.6", "for=192.0.2.43", "for=\"[2001:db8::9]:80\""],
                "192.0.2.43",
            ),
            (&["proto=\"a,b;for=6.6.6.6\";for=192.0.2.43"], "192.0.2.43"),
            (&[" for = 192.0.2.43 ; host=example.com "], "192.0.2.43"),
            // Obfuscated or unknown nodes, elements without a `for`, garbage: the proxy counts.
            (&["for=6.6.6.6, for=unknown"], "127.0.0.1"),
            (&["for=6.6.6.6, for=_hidden, for=10.0.0.9"], "127.0.0.1"),
            (&["for=6.6.6.6, proto=https"], "127.0.0.1"),
            (&["for=6.6.6.6, for=1.1.1.1;for=2.2.2.2"], "127.0.0.1"),
            (&["for=6.6.6.6, for=\"192.0.2.43"], "127.0.0.1"),
        ] {
            assert_eq!(through(&behind, lines), Some(ip(expected)), "{lines:?}");
        }
    }

    #[test]
    fn the_proxy_header_setting_names_one_of_two_headers() {
        assert_eq!(
            "X-Forwarded-For".parse::<ProxyHeader>().unwrap(),
            ProxyHeader::XForwardedFor
        );
        assert_eq!(
            "forwarded".parse::<ProxyHeader>().unwrap(),
            ProxyHeader::Forwarded
        );
        assert!("X-Real-IP".parse::<ProxyHeader>().is_err());
        assert_eq!(limiter(&[]).proxy_header(), "x-forwarded-for");
        assert_eq!(
            limiter_with(&[], ProxyHeader::Forwarded).proxy_header(),
            "forwarded"
        );
    }
}
