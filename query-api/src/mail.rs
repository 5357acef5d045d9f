//! Sending e-mail over SMTP (the weekly reports), with lettre. Configured by the variables the
//! product's first backend read (`EMAIL_HOST`, `EMAIL_PORT`, `EMAIL_USER`, `EMAIL_PASSWORD`),
//! plus `EMAIL_FROM` and `EMAIL_TLS`.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use runtime::config::{ConfigError, Source};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `starttls` (the default): plain connection upgraded with STARTTLS, which the server must
    /// offer; credentials and mail never cross unencrypted.
    StartTls,
    /// `tls`: TLS from the first byte (usually port 465).
    Tls,
    /// `none`: no encryption, for a mail catcher on this machine only.
    None,
}

impl std::str::FromStr for Security {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            "none" => Ok(Security::None),
            _ => Err("expected starttls, tls or none"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// `EMAIL_USER` and `EMAIL_PASSWORD`; none when the server takes mail without logging in.
    pub credentials: Option<(String, String)>,
    pub from: String,
    /// How long one SMTP exchange may take.
    pub timeout: Duration,
}

impl MailConfig {
    /// Plain SMTP, without logging in, to a mail catcher at `addr` on this machine
    /// (`runtime::mailsink`): what the tests and the local stack send to.
    pub fn catcher(addr: std::net::SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
            security: Security::None,
            credentials: None,
            from: "Colloquy <reports@colloquy.example>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The configuration, or none when `EMAIL_HOST` is unset (reports are then not sent).
    pub fn from_source(env: &impl Source) -> Result<Option<Self>, ConfigError> {
        let host = env.string_or("EMAIL_HOST", "");
        if host.is_empty() {
            return Ok(None);
        }
        let security: Security = env.parse_or("EMAIL_TLS", Security::StartTls)?;
        let default_port = if security == Security::Tls { 465 } else { 587 };
        let user = env.string_or("EMAIL_USER", "");
        let credentials = (!user.is_empty()).then(|| (user, env.string_or("EMAIL_PASSWORD", "")));
        let from = env.string_or("EMAIL_FROM", "Colloquy <reports@colloquy.localhost>");
        if let Err(e) = from.parse::<Mailbox>() {
            return Err(ConfigError::Invalid {
                name: "EMAIL_FROM".into(),
                message: format!("{from:?} is not an address (such as Name <a@b.example>): {e}"),
            });
        }
        Ok(Some(Self {
            host,
            port: env.parse_or("EMAIL_PORT", default_port)?,
            security,
            credentials,
            from,
            timeout: Duration::from_secs(env.parse_or("EMAIL_TIMEOUT_S", 30)?),
        }))
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("cannot set up the SMTP client: {0}")]
    Setup(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("the SMTP server did not take the message: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// An SMTP client for one server and sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| MailError::Setup(e.to_string()))
        };
        let security = match config.security {
            Security::StartTls => Tls::Required(tls(&config.host)?),
            Security::Tls => Tls::Wrapper(tls(&config.host)?),
            Security::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(security)
            .timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Setup(e.to_string()))?;
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends one message, in plain text and HTML, to every recipient at once.
    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        text: String,
        html: String,
    ) -> Result<(), MailError> {
        let mut message = Message::builder().from(self.from.clone()).subject(subject);
        for recipient in to {
            let mailbox: Mailbox =
                recipient
                    .parse()
                    .map_err(|e: lettre::address::AddressError| {
                        MailError::Message(format!("{recipient}: {e}"))
                    })?;
            message = message.to(mailbox);
        }
        let message = message
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport.send(message).await?;
        Ok(())
    }
}
