//! A minimal HTTP/1.1 client over kept-alive connections: exactly what the load generator
//! needs (POST a JSON body or GET, with one credential header; read the status and a
//! `Content-Length` body) and nothing else.
//!
//! The generator shares two cores with the service it measures, so its cost per request is
//! taken from the service's. With reqwest it spent about 63 µs of CPU per single-event request
//! (ingest then spent 85); writing one buffer and parsing only the status line and the length
//! brought that to about 33 µs (user + system time over 300,000 requests, less the time spent
//! building them).

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Client {
    /// `host:port`.
    address: String,
    idle: Mutex<Vec<Connection>>,
}

/// An answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Client {
    /// For a base URL such as `http://127.0.0.1:8080` (plain HTTP only).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .context("the URL must start with http:// (the load generator speaks plain HTTP)")?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            bail!("no host in {url:?}");
        }
        let address = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        Ok(Self {
            address,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// POSTs `body` as JSON to `path` with a write key, on an idle connection or a new one.
    pub async fn post(&self, path: &str, write_key: &str, body: &[u8]) -> anyhow::Result<Answer> {
        self.request(Method::Post(body), path, ("X-Write-Key", write_key))
            .await
    }

    /// GETs `path` with a bearer token (query-api's admin token).
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        let bearer = format!("Bearer {token}");
        self.request(Method::Get, path, ("Authorization", &bearer))
            .await
    }

    async fn request(
        &self,
        method: Method<'_>,
        path: &str,
        credential: (&str, &str),
    ) -> anyhow::Result<Answer> {
        let idle = self.lock().pop();
        let mut connection = match idle {
            Some(c) => c,
            None => Connection::open(&self.address).await?,
        };
        let answer = tokio::time::timeout(
            TIMEOUT,
            connection.round_trip(&self.address, method, path, credential),
        )
        .await
        .context("no answer within 30 s")??;
        // A connection that failed is dropped; one that answered is used again.
        self.lock().push(connection);
        Ok(answer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Clone, Copy)]
enum Method<'a> {
    Get,
    /// With its JSON body.
    Post(&'a [u8]),
}

struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet used.
    read: Vec<u8>,
    write: Vec<u8>,
}

impl Connection {
    async fn open(address: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            read: Vec::with_capacity(16 * 1024),
            write: Vec::with_capacity(16 * 1024),
        })
    }

    async fn round_trip(
        &mut self,
        host: &str,
        method: Method<'_>,
        path: &str,
        (name, value): (&str, &str),
    ) -> anyhow::Result<Answer> {
        self.write.clear();
        let head = match method {
            Method::Get => {
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{name}: {value}\r\n\r\n")
            }
            Method::Post(body) => format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\n{name}: {value}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
        };
        self.write.extend_from_slice(head.as_bytes());
        if let Method::Post(body) = method {
            self.write.extend_from_slice(body);
        }
        self.stream.write_all(&self.write).await?;
        let head_end = loop {
            if let Some(at) = find(&self.read, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let (status, length) = parse_head(&self.read[..head_end])?;
        while self.read.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.read[head_end..head_end + length].to_vec();
        self.read.drain(..head_end + length);
        Ok(Answer { status, body })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.read.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> anyhow::Result<(u16, usize)> {
    let head = std::str::from_utf8(head).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .context("the response has no Content-Length (chunked answers are not supported)")?;
    Ok((status, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_head_gives_its_status_and_length() {
        let head = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (503, 42));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert_eq!(
            Client::new("http://127.0.0.1:8080/").unwrap().address,
            "127.0.0.1:8080"
        );
        assert_eq!(Client::new("http://ingest").unwrap().address, "ingest:80");
        assert!(Client::new("https://ingest").is_err());
    }
}
