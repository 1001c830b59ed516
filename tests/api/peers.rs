//! Real peer processes the tests talk to on loopback, installed from the npm registry into
//! `tests/peers` (`npm ci`, once, on first use).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{free_port, http_client};
use serde_json::Value;

/// sift's verdict on each (query, document) pair, in one node process; a query sift refuses
/// (or that throws on the document) gives sift's message.
pub fn sift_pairs(pairs: &[(Value, Value)]) -> Vec<Result<bool, String>> {
    let input =
        serde_json::json!({ "pairs": pairs.iter().map(|(q, d)| [q, d]).collect::<Vec<_>>() });
    let verdicts = sift_eval(&input);
    assert_eq!(verdicts.len(), pairs.len());
    verdicts
        .into_iter()
        .map(|v| v.as_bool().ok_or_else(|| v["error"].to_string()))
        .collect()
}

/// What `tests/peers/sift-eval.js` answers to `input` (`{pairs}` or `{queries, documents}`):
/// one verdict per pair, `true`, `false` or `{error}`. One node process per call.
pub fn sift_eval(input: &Value) -> Vec<Value> {
    use std::io::Write as _;
    ensure_npm_peers();
    let mut child = Command::new("node")
        .arg(peers_dir().join("sift-eval.js"))
        .current_dir(peers_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs tests/peers/sift-eval.js");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to sift-eval.js");
    let output = child.wait_with_output().expect("sift-eval.js runs");
    assert!(output.status.success(), "sift-eval.js failed");
    serde_json::from_slice(&output.stdout).expect("JSON verdicts")
}

pub fn peers_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"))
}

/// Installs the npm peers once (`npm ci`), across test threads and test processes.
pub fn ensure_npm_peers() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = peers_dir();
        // The installed sift must be the pinned one: it is the reference of the filter tests.
        let version = |path: PathBuf, pointer: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .and_then(|json| {
                    json.pointer(pointer)
                        .and_then(Value::as_str)
                        .map(String::from)
                })
        };
        // Every pinned package installed at its pinned version (a checkout that added one
        // installs again).
        let pinned: Vec<String> = std::fs::read_to_string(dir.join("package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|json| json.get("dependencies").and_then(Value::as_object).cloned())
            .map(|deps| deps.keys().cloned().collect())
            .unwrap_or_default();
        let ready = || {
            dir.join("node_modules/.package-lock.json").exists()
                && dir.join("node_modules/maildev").exists()
                && pinned.iter().all(|name| {
                    version(dir.join("package.json"), &format!("/dependencies/{}", name.replace('/', "~1")))
                        == version(dir.join("node_modules").join(name).join("package.json"), "/version")
                })
        };
        if ready() {
            return;
        }
        let lock = dir.join(".installing");
        let mut waited = 0;
        while std::fs::create_dir(&lock).is_err() {
            std::thread::sleep(Duration::from_millis(200));
            waited += 1;
            if ready() {
                return;
            }
            assert!(
                waited < 900,
                "another process holds {} for three minutes; remove it if stale",
                lock.display()
            );
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status();
        let _ = std::fs::remove_dir(&lock);
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => panic!("`npm ci` in tests/peers failed ({status})"),
            Err(e) => {
                panic!("the test peers need Node.js and npm (apt-get install nodejs npm): {e}")
            }
        }
    });
}

/// A maildev SMTP server: mails sent to it can be read back over its HTTP API.
pub struct MailDev {
    pub smtp_port: u16,
    web_port: u16,
    child: Child,
    /// For maildev's web API. It may be used before any server of the test installed the TLS
    /// provider reqwest needs, which `http_client` installs.
    http: reqwest::Client,
}

impl MailDev {
    pub async fn start() -> Self {
        tokio::task::spawn_blocking(ensure_npm_peers)
            .await
            .expect("npm peers");
        let (smtp_port, web_port) = (free_port(), free_port());
        let child = Command::new("node")
            .arg(peers_dir().join("node_modules/maildev/bin/maildev"))
            .args([
                "--smtp",
                &smtp_port.to_string(),
                "--web",
                &web_port.to_string(),
                "--ip",
                "127.0.0.1",
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs maildev");
        let maildev = Self {
            smtp_port,
            web_port,
            child,
            http: http_client(Duration::from_secs(5)),
        };
        for _ in 0..200 {
            let smtp_up = tokio::net::TcpStream::connect(("127.0.0.1", smtp_port))
                .await
                .is_ok();
            if smtp_up && maildev.http.get(maildev.api("/email")).send().await.is_ok() {
                return maildev;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("maildev did not start on ports {smtp_port}/{web_port}");
    }

    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.web_port)
    }

    /// The raw source of a mail `mail_to` returned, as the SMTP server received it.
    pub async fn source(&self, mail: &Value) -> String {
        let id = mail["id"].as_str().expect("a mail id");
        self.http
            .get(self.api(&format!("/email/{id}/source")))
            .send()
            .await
            .expect("maildev API")
            .text()
            .await
            .expect("source")
    }

    /// The `n`-th mail (from 0) received for `to`, waiting up to ten seconds.
    pub async fn mail_to(&self, to: &str, n: usize) -> Value {
        for _ in 0..200 {
            let mails: Value = self
                .http
                .get(self.api("/email"))
                .send()
                .await
                .expect("maildev API")
                .json()
                .await
                .expect("JSON");
            let found = mails
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| {
                    m["to"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r["address"] == to)
                })
                .nth(n)
                .cloned();
            if let Some(mail) = found {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("maildev received no mail #{n} for {to}");
    }
}

impl Drop for MailDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OpenID Connect / OAuth2 provider (oauth2-mock-server) on loopback.
pub struct OAuthProvider {
    pub port: u16,
    child: Child,
}

/// How the provider behaves.
#[derive(Debug, Clone, Default)]
pub struct ProviderBehaviour {
    /// What its userinfo endpoint answers.
    pub profile: Option<Value>,
    /// The status of its token endpoint (500 to simulate a failure).
    pub token_status: Option<u16>,
    /// Whether the user refuses consent.
    pub deny: bool,
}

impl OAuthProvider {
    pub async fn start(behaviour: ProviderBehaviour) -> Self {
        tokio::task::spawn_blocking(ensure_npm_peers)
            .await
            .expect("npm peers");
        let port = free_port();
        let mut command = Command::new("node");
        command
            .arg(peers_dir().join("oauth-provider.mjs"))
            .current_dir(peers_dir())
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(profile) = &behaviour.profile {
            command.env("PROFILE", profile.to_string());
        }
        if let Some(status) = behaviour.token_status {
            command.env("TOKEN_STATUS", status.to_string());
        }
        if behaviour.deny {
            command.env("DENY", "1");
        }
        let mut child = command.spawn().expect("node runs the OAuth provider");
        let stdout = child.stdout.take().expect("stdout");
        let ready = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            std::io::BufReader::new(stdout)
                .lines()
                .next()
                .and_then(Result::ok)
        })
        .await
        .expect("reading the provider");
        assert_eq!(
            ready.as_deref(),
            Some("ready"),
            "the OAuth provider did not start"
        );
        Self { port, child }
    }

    /// The issuer, as the provider names itself.
    pub fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port)
    }
}

impl Drop for OAuthProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
