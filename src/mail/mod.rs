//! Outgoing email: the templates, and delivery through SMTP, the log, or (in tests) memory.

pub mod template;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// One email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub from_name: String,
    pub from_email: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub html: String,
}

/// Mails kept in memory instead of sent, for tests.
#[derive(Debug, Clone, Default)]
pub struct Outbox(Arc<Mutex<Vec<Mail>>>);

impl Outbox {
    pub fn mails(&self) -> Vec<Mail> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
    fn push(&self, mail: Mail) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(mail);
    }
}

pub use crate::config::MailTransport;

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log { show_content: bool },
    Memory(Outbox),
}

impl Mailer {
    /// `show_content`: whether the log transport may print messages (development only: they
    /// carry one-time codes).
    pub fn new(transport: &MailTransport, show_content: bool) -> anyhow::Result<Self> {
        Ok(match transport {
            MailTransport::Smtp(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .with_context(|| "SMTP_URL must look like smtp://host:port, smtp://user:password@host:587?tls=required or smtps://host:465")?
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                Self::Smtp(transport)
            }
            MailTransport::Log => Self::Log { show_content },
            MailTransport::Memory => Self::Memory(Outbox::default()),
        })
    }

    /// The mails kept, when this mailer keeps them in memory.
    pub fn outbox(&self) -> Option<&Outbox> {
        match self {
            Self::Memory(outbox) => Some(outbox),
            _ => None,
        }
    }

    pub async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        match self {
            Self::Smtp(transport) => {
                transport
                    .send(message(mail)?)
                    .await
                    .context("SMTP delivery")?;
            }
            Self::Log { show_content: true } => {
                tracing::info!(to = %mail.to, subject = %mail.subject, html = %mail.html, "email (no SMTP_URL: written to the log)");
            }
            Self::Log {
                show_content: false,
            } => {
                tracing::warn!(to = %mail.to, subject = %mail.subject, "email not delivered: SMTP_URL is not set");
            }
            Self::Memory(outbox) => outbox.push(mail.clone()),
        }
        Ok(())
    }
}

/// The message as sent: `Date`, a `Message-ID` on the sender's domain, and the HTML with a plain
/// text alternative derived from it (`multipart/alternative`): mail filters mark HTML-only mail
/// without these as likely spam.
fn message(mail: &Mail) -> anyhow::Result<Message> {
    let from = Mailbox::new(
        Some(mail.from_name.clone()),
        mail.from_email.parse().context("shipper email")?,
    );
    let domain = from.email.domain().to_string();
    let id = crate::util::hex(&crate::util::random_bytes::<16>());
    let mut builder = Message::builder()
        .from(from)
        .to(mail.to.parse().context("recipient")?)
        .subject(&mail.subject)
        .date_now()
        .message_id(Some(format!("<{id}@{domain}>")));
    if let Some(reply_to) = mail.reply_to.as_deref().filter(|r| !r.is_empty()) {
        builder = builder.reply_to(reply_to.parse().context("response email")?);
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(
        text_of_html(&mail.html),
        mail.html.clone(),
    ))?)
}

/// A plain-text rendering of an email's HTML: tags dropped (with `<style>`, `<script>` and
/// `<head>` content), blocks and `<br>` as line breaks, a link as its text followed by its
/// address in parentheses (so a reset link stays usable), the common entities decoded, runs of
/// blank space collapsed.
pub fn text_of_html(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut link: Option<String> = None;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = &after[..end];
        rest = &after[end + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let closing = tag.starts_with('/');
        match name.as_str() {
            "style" | "script" | "head" | "title" if !closing => {
                let close = format!("</{name}");
                let lower = rest.to_ascii_lowercase();
                rest = match lower.find(&close) {
                    Some(at) => &rest[at..],
                    None => "",
                };
            }
            "br" => out.push('\n'),
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "tr" | "table" | "ul"
            | "ol" => out.push_str("\n\n"),
            "li" if !closing => out.push_str("\n- "),
            "a" if !closing => link = attribute(tag, "href"),
            "a" => {
                if let Some(href) = link.take().filter(|h| !out.trim_end().ends_with(h.as_str()))
                {
                    out.push_str(&format!(" ({href})"));
                }
            }
            _ => {}
        }
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    let mut text = String::new();
    let mut blank = 0;
    for line in decoded.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !text.is_empty() {
            text.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        text.push_str(&line);
    }
    text.push('\n');
    text
}

/// The value of `name="…"` (or `'…'`) in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let value = &tag[at..];
    let quote = value.chars().next()?;
    let inner = if quote == '"' || quote == '\'' {
        value[1..].split(quote).next()?
    } else {
        value.split_whitespace().next()?
    };
    Some(decode_entities(inner))
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Sends `mail` without making the caller wait: a few attempts, a log line when all fail.
/// The log line names the recipient and the error, never the content (it carries codes).
pub fn send_in_background(mailer: Arc<Mailer>, mail: Mail) {
    tokio::spawn(async move {
        let delays = [Duration::from_secs(2), Duration::from_secs(10)];
        for attempt in 0..=delays.len() {
            match mailer.send(&mail).await {
                Ok(()) => return,
                Err(error) if attempt < delays.len() => {
                    tracing::warn!(to = %mail.to, attempt = attempt + 1, error = format!("{error:#}"), "email not sent yet, retrying");
                    tokio::time::sleep(delays[attempt]).await;
                }
                Err(error) => {
                    tracing::error!(to = %mail.to, error = format!("{error:#}"), "email could not be delivered");
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_part_keeps_the_words_and_the_links() {
        let html = "<html><head><style>p { color: red }</style></head><body>\
            <p>Hello <b>Alice</b> &amp; team,</p><p>Reset it here:<br>\
            <a href=\"https://app.example/reset?code=ab&amp;x=1\">reset my password</a></p>\
            <ul><li>one</li><li>two</li></ul></body></html>";
        assert_eq!(
            text_of_html(html),
            "Hello Alice & team,\n\nReset it here:\nreset my password \
             (https://app.example/reset?code=ab&x=1)\n\n- one\n- two\n"
        );
    }

    #[test]
    fn a_link_shown_as_its_address_is_not_repeated() {
        assert_eq!(
            text_of_html("<a href=\"https://x.example/a\">https://x.example/a</a>"),
            "https://x.example/a\n"
        );
    }

    #[test]
    fn messages_carry_date_message_id_and_both_parts() {
        let mail = Mail {
            to: "bob@example.com".into(),
            from_name: "Team".into(),
            from_email: "no-reply@castellan.example".into(),
            reply_to: None,
            subject: "Hi".into(),
            html: "<p>Hi <a href=\"https://a.example/x\">there</a></p>".into(),
        };
        let text = String::from_utf8(message(&mail).unwrap().formatted()).unwrap();
        assert!(text.contains("\r\nDate: "), "{text}");
        assert!(text.contains("@castellan.example>\r\n"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Content-Type: text/plain; charset=utf-8"), "{text}");
        assert!(text.contains("Content-Type: text/html; charset=utf-8"), "{text}");
    }
}
