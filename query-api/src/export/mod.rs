//! Streamed exports: rows are read from Postgres with a cursor and written to the response as
//! they come, in CSV (RFC 4180), JSON or NDJSON, so an export never holds all of its rows in
//! memory. A bounded channel between the reader and the response is the backpressure: a slow
//! client slows the query down instead of growing a buffer. Excel workbooks ([`xlsx`]) are
//! written a row at a time to a temporary file, then sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use runtime::documented::{Answer, response};
use schemars::SchemaGenerator;
use serde_json::{Map, Value, json};
use sqlx::postgres::PgRow;
use sqlx::{Column, PgPool, Postgres, QueryBuilder, Row, TypeInfo};
use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::store::exports::Export;

mod cells;
mod xlsx;
use cells::{Kind, push_csv_cell, push_csv_text, push_json_cell, push_json_string};

/// Bytes gathered before a chunk is sent.
const CHUNK: usize = 64 * 1024;

/// A streamed export: its rows in the format asked for, as an attachment.
pub struct Exported(Response);

impl IntoResponse for Exported {
    fn into_response(self) -> Response {
        self.0
    }
}

impl Answer for Exported {
    fn responses(_: &mut SchemaGenerator) -> Map<String, Value> {
        let row = json!({ "type": "object" });
        let mut out = response(
            "200",
            "the rows, streamed; a body cut short (no final chunk) if the export failed midway",
            Some(json!({
                "text/csv": { "schema": { "type": "string" } },
                "application/json": { "schema": { "type": "array", "items": row } },
                "application/x-ndjson": { "schema": { "type": "string" } },
                xlsx::CONTENT_TYPE: { "schema": { "type": "string", "format": "binary" } },
            })),
        );
        out.insert(
            "400".into(),
            json!({
                "description": "a bad filter or format; or, for format=xlsx, more rows than an Excel sheet holds (1,048,575 below its header): narrow the filters or take CSV",
            }),
        );
        let retry = json!({ "Retry-After": { "schema": { "type": "integer", "minimum": 1 } } });
        out.insert(
            "429".into(),
            json!({
                "description": "the token runs its EXPORTS_PER_TOKEN exports already",
                "headers": retry,
            }),
        );
        out.insert(
            "503".into(),
            json!({
                "description": "Postgres did not answer, or the server runs EXPORTS_MAX exports already",
                "headers": retry,
            }),
        );
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv(CsvOptions),
    Json,
    Ndjson,
    /// An Excel workbook (`.xlsx`).
    Xlsx,
}

impl Format {
    /// Its `format=` name, as metrics label it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv(_) => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Xlsx => "xlsx",
        }
    }

    /// The counter of rows exported in this format (`query_api_export_rows_total`).
    pub(crate) fn rows_counter(
        self,
        state: &AppState,
    ) -> prometheus_client::metrics::counter::Counter {
        state
            .metrics
            .export_rows
            .get_or_create(&crate::metrics::FormatLabels {
                format: self.name(),
            })
            .clone()
    }
}

/// How a CSV export is written for the spreadsheet that opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Starts with a UTF-8 byte-order mark, which Excel needs to read UTF-8.
    pub bom: bool,
    /// `,` (RFC 4180), or `;` for spreadsheets in locales whose decimal comma takes `,`.
    pub separator: u8,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            bom: false,
            separator: b',',
        }
    }
}

impl Format {
    /// `format`, with the CSV options `bom` (`true`/`false`) and `separator` (`,` or `;`).
    pub fn parse(
        value: Option<&str>,
        bom: Option<&str>,
        separator: Option<&str>,
    ) -> Result<Self, ApiError> {
        let format = match value {
            None | Some("csv") => {
                let bom = match bom {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(_) => return Err(ApiError::BadRequest("bom: true or false".into())),
                };
                let separator = match separator {
                    None | Some(",") => b',',
                    Some(";") => b';',
                    Some(_) => {
                        return Err(ApiError::BadRequest("separator: , or ;".into()));
                    }
                };
                return Ok(Format::Csv(CsvOptions { bom, separator }));
            }
            Some("json") => Format::Json,
            Some("ndjson") => Format::Ndjson,
            Some("xlsx") => Format::Xlsx,
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "format: csv, json, ndjson or xlsx".into(),
                ));
            }
        };
        if bom.is_some() || separator.is_some() {
            return Err(ApiError::BadRequest(
                "bom and separator: only with format=csv".into(),
            ));
        }
        Ok(format)
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv(_) => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Xlsx => "xlsx",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv(_) => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Xlsx => xlsx::CONTENT_TYPE,
        }
    }
}

/// Writes rows in a format into the response, chunk by chunk.
struct Writer {
    format: Format,
    columns: &'static [&'static str],
    /// For each of `columns`, its index in the rows and its type: found from the first row.
    layout: Vec<(usize, Kind)>,
    tx: mpsc::Sender<Bytes>,
    /// How long the client may take to make room for the next chunk.
    stall: Duration,
    buf: Vec<u8>,
    rows: u64,
    /// `query_api_export_rows_total` for the format.
    counted: prometheus_client::metrics::counter::Counter,
}

impl Writer {
    fn start(&mut self) {
        match self.format {
            Format::Csv(options) => {
                if options.bom {
                    self.buf.extend_from_slice("\u{FEFF}".as_bytes());
                }
                for (i, c) in self.columns.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(options.separator);
                    }
                    push_csv_text(&mut self.buf, c, options.separator);
                }
                self.buf.extend_from_slice(b"\r\n");
            }
            Format::Json => self.buf.push(b'['),
            Format::Ndjson | Format::Xlsx => {}
        }
    }

    /// Where each column is in the rows and how to decode it.
    fn lay_out(&mut self, row: &PgRow) -> Result<(), String> {
        self.layout = self
            .columns
            .iter()
            .map(|name| {
                let column = row
                    .try_column(*name)
                    .map_err(|_| format!("the query has no column {name}"))?;
                let type_name = column.type_info().name();
                let kind = Kind::of(type_name)
                    .ok_or_else(|| format!("column {name} has type {type_name}, not exportable"))?;
                Ok((column.ordinal(), kind))
            })
            .collect::<Result<_, String>>()?;
        Ok(())
    }

    /// Adds a row holding at least `columns`; `Ok(false)` once the client has gone.
    async fn row(&mut self, row: &PgRow) -> Result<bool, String> {
        if self.layout.is_empty() {
            self.lay_out(row)?;
        }
        match self.format {
            Format::Csv(options) => {
                for (n, &(i, kind)) in self.layout.iter().enumerate() {
                    if n > 0 {
                        self.buf.push(options.separator);
                    }
                    let cell = kind.decode(row, i).map_err(|e| e.to_string())?;
                    push_csv_cell(&mut self.buf, cell, options.separator);
                }
                self.buf.extend_from_slice(b"\r\n");
            }
            // Written by `xlsx::respond`, never through a `Writer`.
            Format::Xlsx => {}
            Format::Json | Format::Ndjson => {
                if self.format == Format::Json && self.rows > 0 {
                    self.buf.push(b',');
                }
                self.buf.push(b'{');
                for (n, (&(i, kind), name)) in self.layout.iter().zip(self.columns).enumerate() {
                    if n > 0 {
                        self.buf.push(b',');
                    }
                    push_json_string(&mut self.buf, name);
                    self.buf.push(b':');
                    let cell = kind.decode(row, i).map_err(|e| e.to_string())?;
                    push_json_cell(&mut self.buf, cell);
                }
                self.buf.push(b'}');
                if self.format == Format::Ndjson {
                    self.buf.push(b'\n');
                }
            }
        }
        self.rows += 1;
        self.counted.inc();
        if self.buf.len() >= CHUNK {
            return Ok(self.flush().await);
        }
        Ok(true)
    }

    /// Sends what is gathered; `false` once the client has gone or stopped reading.
    async fn flush(&mut self) -> bool {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK + CHUNK / 4),
        ));
        match tokio::time::timeout(self.stall, self.tx.send(chunk)).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                tracing::warn!(
                    rows = self.rows,
                    stall_s = self.stall.as_secs_f64(),
                    "export ended: its client stopped reading"
                );
                false
            }
        }
    }

    /// Closes the document; `true` when the client was sent all of it.
    async fn finish(mut self) -> bool {
        if self.format == Format::Json {
            self.buf.push(b']');
        }
        self.flush().await
    }
}

/// Writes every row `query` selects through `writer`; `true` when the client was sent all of
/// them. The first row (or the query's error) is reported on `started` before anything else,
/// so that a request Postgres refuses is answered as an error rather than an empty download.
async fn write_rows(
    pool: &PgPool,
    mut query: QueryBuilder<'static, Postgres>,
    mut writer: Writer,
    started: oneshot::Sender<Result<(), sqlx::Error>>,
) -> bool {
    writer.start();
    let mut rows = query.build().fetch(pool);
    let first = match rows.next().await {
        Some(Err(error)) => {
            let _ = started.send(Err(error));
            return false;
        }
        first => {
            let _ = started.send(Ok(()));
            first
        }
    };
    let mut rows = futures::stream::iter(first).chain(rows);
    while let Some(row) = rows.next().await {
        let written = match row {
            Ok(row) => writer.row(&row).await,
            Err(error) => Err(error.to_string()),
        };
        match written {
            Ok(true) => {}
            Ok(false) => return false,
            Err(error) => {
                tracing::error!(%error, "export failed mid-stream");
                return false;
            }
        }
    }
    writer.finish().await
}

/// Streams the rows `export` selects, typed columns named as its `columns`, as a file download named
/// `name`.`ext`. The rows are decoded from Postgres' binary form and written straight into the
/// chunk: building each row as JSON in Postgres and parsing it back here cost 31 µs of
/// Postgres and 14 of query-api per conversation.
///
/// An export runs under the token's share of [`AppState::exports`] (refused when it has none
/// left) and holds a pooled connection only while its client keeps reading: a client that
/// takes no chunk for [`AppState::export_stall`] has its export ended, its connection returned
/// and its download cut short.
pub async fn respond(
    state: &AppState,
    admin: &Admin,
    format: Format,
    name: &str,
    export: Export,
) -> Result<Exported, ApiError> {
    if format == Format::Xlsx {
        return xlsx::respond(state, admin, name, export).await;
    }
    let Export { query, columns } = export;
    let pass = state.exports.enter(&admin.token)?;
    let pool = state.pool.clone();
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    let writer = Writer {
        format,
        columns,
        layout: Vec::new(),
        tx,
        stall: state.export_stall,
        buf: Vec::with_capacity(CHUNK + CHUNK / 4),
        rows: 0,
        counted: format.rows_counter(state),
    };
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    let (started_tx, started) = oneshot::channel();
    tokio::spawn(async move {
        // The slot is held for as long as the export reads from Postgres.
        let _pass = pass;
        if write_rows(&pool, query, writer, started_tx).await {
            done.store(true, Ordering::Release);
        }
    });
    started
        .await
        .map_err(|_| ApiError::TryLater("the export ended before it started".into()))??;
    // An export that did not finish ends its body with an error, so the client's download is
    // cut short (no final chunk) rather than complete-looking.
    let stream = futures::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(chunk))),
        Poll::Ready(None) if !finished.swap(true, Ordering::AcqRel) => Poll::Ready(Some(Err(
            std::io::Error::other("the export ended before its last row"),
        ))),
        Poll::Ready(None) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    });
    Ok(attachment(Body::from_stream(stream), format, name))
}

/// `body` as the download `name`.`ext` of `format`.
fn attachment(body: Body, format: Format, name: &str) -> Exported {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // Personal data: no cache along the way keeps a copy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let disposition = format!("attachment; filename=\"{name}.{}\"", format.extension());
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Exported(response)
}
