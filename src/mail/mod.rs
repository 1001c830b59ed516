//! Outgoing email: the templates, and delivery through SMTP, the log, or (in tests) memory.

pub mod template;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
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

fn message(mail: &Mail) -> anyhow::Result<Message> {
    let from = Mailbox::new(
        Some(mail.from_name.clone()),
        mail.from_email.parse().context("shipper email")?,
    );
    let mut builder = Message::builder()
        .from(from)
        .to(mail.to.parse().context("recipient")?)
        .subject(&mail.subject);
    if let Some(reply_to) = mail.reply_to.as_deref().filter(|r| !r.is_empty()) {
        builder = builder.reply_to(reply_to.parse().context("response email")?);
    }
    Ok(builder
        .header(ContentType::TEXT_HTML)
        .body(mail.html.clone())?)
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
