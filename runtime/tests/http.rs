//! The HTTP server against slow and idle clients: a request head sent too slowly loses its
//! connection, a body sent too slowly gets 408, and idle connections do not keep anyone else
//! from being served.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use runtime::http::HttpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_READ: Duration = Duration::from_millis(300);
const REQUEST: Duration = Duration::from_millis(600);

async fn spawn_app() -> SocketAddr {
    let router = Router::new().route("/echo", post(|body: Bytes| async move { body }));
    let server = HttpServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), router)
        .await
        .unwrap()
        .with_timeouts(HEADER_READ, REQUEST);
    let addr = server.local_addr();
    tokio::spawn(server.run_until_stopped(std::future::pending()));
    addr
}

/// Everything the server sends until it closes the connection (bounded by a generous wait, so
/// a server that never closes fails the test instead of hanging it).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_that_never_ends_loses_its_connection() {
    let addr = spawn_app().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let addr = spawn_app().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten..")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn hundreds_of_idle_connections_do_not_keep_a_client_from_being_served() {
    let addr = spawn_app().await;
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/echo"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello");
    // And a well-behaved request on a fresh connection, sent in pieces within the limits.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(HEADER_READ / 3).await;
    stream
        .write_all(b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(idle);
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_the_server_keeps_serving() {
    let addr = spawn_app().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let huge = "a".repeat(1024 * 1024);
    let head =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\nContent-Length: 2\r\n\r\nok");
    // The server may stop reading before the whole head is written.
    let _ = stream.write_all(head.as_bytes()).await;
    let answer = read_to_close(&mut stream).await;
    // 431 Request Header Fields Too Large, when the answer gets out before the connection is
    // reset under the client's feet; never a success.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/echo"))
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "still here");
}
