//! A mail catcher: an SMTP server on this machine that accepts every message and keeps it (in
//! memory, and as `.eml` files when given a directory), for the e-mail tests and for the local
//! stack's reports (`deploy/dev up` runs it as `colloquy-mailsink`). It speaks the plain SMTP a
//! client needs (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), offers neither STARTTLS nor AUTH,
//! and is never for a network others can reach.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Longest message accepted, in bytes.
const MAX_MESSAGE: usize = 10 << 20;

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message: headers, a blank line, the body (dot-stuffing undone, CRLF line ends).
    pub data: String,
}

impl Mail {
    /// The value of the first header `name` (unfolded), if any.
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(head(&self.data), name)
    }

    /// The decoded body of the first part of type `content_type` (`text/plain`, `text/html`),
    /// in a single-part or multipart message.
    pub fn part(&self, content_type: &str) -> Option<String> {
        parts(&self.data)
            .into_iter()
            .find(|p| {
                header_in(head(p), "content-type")
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with(content_type))
            })
            .map(decode)
    }
}

fn head(entity: &str) -> &str {
    entity.split("\r\n\r\n").next().unwrap_or_default()
}

fn body(entity: &str) -> &str {
    entity.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn header_in(head: &str, name: &str) -> Option<String> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The entity itself and, for a multipart one, each of its parts (one level down).
fn parts(entity: &str) -> Vec<&str> {
    let mut all = vec![entity];
    let boundary = header_in(head(entity), "content-type").and_then(|t| {
        let at = t.to_ascii_lowercase().find("boundary=")?;
        Some(
            t[at + 9..]
                .split(';')
                .next()?
                .trim()
                .trim_matches('"')
                .to_owned(),
        )
    });
    if let Some(boundary) = boundary {
        let delimiter = format!("--{boundary}");
        all.extend(
            body(entity)
                .split(delimiter.as_str())
                .skip(1)
                .filter(|p| !p.starts_with("--"))
                .map(|p| p.trim_start_matches("\r\n")),
        );
    }
    all
}

/// A part's body under its `Content-Transfer-Encoding` (7bit, 8bit, quoted-printable, base64).
fn decode(part: &str) -> String {
    let encoding = header_in(head(part), "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let raw = body(part);
    let bytes = match encoding.as_str() {
        "quoted-printable" => quoted_printable(raw),
        "base64" => base64(raw),
        _ => raw.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
}

fn quoted_printable(raw: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn base64(raw: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(raw.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in raw.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue; // line breaks and padding
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[derive(Debug, Default)]
struct Inbox {
    mails: Mutex<Vec<Mail>>,
    arrived: Notify,
    /// Answer every RCPT with a permanent failure (a server refusing the message).
    refusing: Mutex<bool>,
}

/// A running mail catcher; it stops with the runtime.
#[derive(Debug, Clone)]
pub struct MailSink {
    pub addr: std::net::SocketAddr,
    inbox: Arc<Inbox>,
}

impl MailSink {
    /// Listens on `addr` (port 0 for any); with `dir`, each message is also written there.
    pub async fn start(addr: &str, dir: Option<PathBuf>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let sink = Self {
            addr: listener.local_addr()?,
            inbox: Arc::default(),
        };
        if let Some(dir) = &dir {
            tokio::fs::create_dir_all(dir).await?;
        }
        let inbox = sink.inbox.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (inbox, dir) = (inbox.clone(), dir.clone());
                tokio::spawn(async move {
                    if let Err(error) = session(stream, &inbox, dir).await {
                        tracing::debug!(%error, "mail session ended");
                    }
                });
            }
        });
        Ok(sink)
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.inbox
            .mails
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Waits until at least `n` messages arrived, or `timeout` passed; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inbox.arrived.notified();
            let mails = self.mails();
            if mails.len() >= n || tokio::time::Instant::now() >= deadline {
                return mails;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }

    /// From now on, refuse (or again accept) every recipient.
    pub fn refuse(&self, refusing: bool) {
        if let Ok(mut r) = self.inbox.refusing.lock() {
            *r = refusing;
        }
    }
}

async fn session(stream: TcpStream, inbox: &Inbox, dir: Option<PathBuf>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 colloquy-mailsink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let argument = |c: &str| {
            c.split_once(':')
                .map(|(_, a)| {
                    a.trim()
                        .trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
                .unwrap_or_default()
        };
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-colloquy-mailsink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 colloquy-mailsink\r\n",
            "MAIL" => {
                from = argument(command);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" if inbox.refusing.lock().is_ok_and(|r| *r) => b"550 mailbox unavailable\r\n",
            "RCPT" => {
                to.push(argument(command));
                b"250 OK\r\n"
            }
            "DATA" if to.is_empty() => b"503 no recipients\r\n",
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(unstuffed.trim_end_matches(['\r', '\n']));
                    data.push_str("\r\n");
                    if data.len() > MAX_MESSAGE {
                        write.write_all(b"552 message too large\r\n").await?;
                        return Ok(());
                    }
                }
                let mail = Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                };
                keep(inbox, mail, dir.as_deref()).await?;
                b"250 OK queued\r\n"
            }
            "RSET" => {
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

async fn keep(inbox: &Inbox, mail: Mail, dir: Option<&std::path::Path>) -> std::io::Result<()> {
    let n = {
        let mut mails = inbox
            .mails
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        mails.push(mail.clone());
        mails.len()
    };
    if let Some(dir) = dir {
        let name = format!("{}-{n:04}.eml", epoch_seconds());
        tokio::fs::write(dir.join(name), mail.data.as_bytes()).await?;
    }
    inbox.arrived.notify_waiters();
    Ok(())
}

/// Seconds since the epoch, so that files sort by arrival across restarts.
fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_decoded_from_quoted_printable_and_base64() {
        assert_eq!(
            quoted_printable("a=3Db=\r\nc =E2=80=93"),
            "a=bc –".as_bytes()
        );
        assert_eq!(base64("aGVs\r\nbG8="), b"hello");
    }

    #[test]
    fn the_parts_of_a_multipart_message_are_found_by_type() {
        let data = "Subject: Hi\r\nContent-Type: multipart/alternative;\r\n boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--XX--\r\n";
        let mail = Mail {
            from: "a@b.example".into(),
            to: vec![],
            data: data.into(),
        };
        assert_eq!(mail.header("subject").as_deref(), Some("Hi"));
        assert_eq!(mail.part("text/plain").as_deref(), Some("hello"));
        assert_eq!(mail.part("text/html").as_deref(), Some("<p>hello</p>\n"));
    }
}
