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
        let reused = idle.is_some();
        let mut connection = match idle {
            Some(c) => c,
            None => Connection::open(&self.address).await?,
        };
        let mut answer = self
            .exchange(&mut connection, method, path, credential)
            .await;
        // A server may close a kept-alive connection while it idles here (an idle or
        // header-read timeout): a GET on one that closed before answering anything is sent
        // again on a new connection, as HTTP clients do, rather than counted as the service
        // failing. A POST is not: it might have been taken.
        let stale = reused
            && matches!(method, Method::Get)
            && connection.read.is_empty()
            && answer
                .as_ref()
                .is_err_and(|error| error.downcast_ref::<Closed>().is_some());
        if stale {
            connection = Connection::open(&self.address).await?;
            answer = self
                .exchange(&mut connection, method, path, credential)
                .await;
        }
        let answer = answer?;
        // A connection that failed is dropped; one that answered is used again.
        self.lock().push(connection);
        Ok(answer)
    }

    async fn exchange(
        &self,
        connection: &mut Connection,
        method: Method<'_>,
        path: &str,
        credential: (&str, &str),
    ) -> anyhow::Result<Answer> {
        tokio::time::timeout(
            TIMEOUT,
            connection.round_trip(&self.address, method, path, credential),
        )
        .await
        .context("no answer within 30 s")?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The connection broke (closed, reset) instead of answering.
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server closed the connection")
    }
}

impl std::error::Error for Closed {}

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
        self.stream
            .write_all(&self.write)
            .await
            .map_err(|_| Closed)?;
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
        let n = self.stream.read(&mut chunk).await.map_err(|_| Closed)?;
        if n == 0 {
            return Err(Closed.into());
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

    /// A server that answers one GET per connection, then closes it without a word.
    async fn one_answer_per_connection() -> (String, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let mut connections = 0;
            while connections < 2 {
                let (mut stream, _) = listener.accept().await.unwrap();
                connections += 1;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    stream.read_exact(&mut byte).await.unwrap();
                    head.push(byte[0]);
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                stream.write_all(answer).await.unwrap();
            }
            connections
        });
        (address, server)
    }

    #[tokio::test]
    async fn a_get_on_a_kept_connection_the_server_closed_is_sent_again() {
        let (address, server) = one_answer_per_connection().await;
        let client = Client::new(&format!("http://{address}")).unwrap();
        for _ in 0..2 {
            let answer = client.get("/", "token").await.unwrap();
            assert_eq!(
                (answer.status, answer.body.as_slice()),
                (200, b"ok".as_slice())
            );
        }
        // The second GET found the first connection closed and took a new one.
        assert_eq!(server.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_post_on_a_closed_connection_fails_rather_than_being_sent_twice() {
        let (address, _server) = one_answer_per_connection().await;
        let client = Client::new(&format!("http://{address}")).unwrap();
        assert_eq!(client.post("/", "key", b"[]").await.unwrap().status, 200);
        let Err(error) = client.post("/", "key", b"[]").await else {
            panic!("a POST on a closed connection was answered");
        };
        assert!(error.downcast_ref::<Closed>().is_some(), "{error:#}");
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
