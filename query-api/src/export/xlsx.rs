//! Excel exports: the same rows as the other formats, written into a workbook a row at a time
//! in `rust_xlsxwriter`'s constant-memory mode (each row goes to a temporary file as it is
//! written), zipped into a second temporary file, and sent from it. Memory stays bounded
//! whatever the number of rows; the file on disk is about a tenth of the CSV.
//!
//! Cells are typed: numbers are numbers, times are Excel dates in the wall-clock time of the
//! row's website (or the request's `tz`; the `*_local` columns of [`crate::store::exports`]),
//! and text is always a string cell, so no value can become a formula. The header row is
//! frozen and filtered.

use std::time::Duration;

use axum::body::{Body, Bytes};
use chrono::{NaiveDate, NaiveDateTime};
use futures::StreamExt;
use rust_xlsxwriter::{Format as CellFormat, Workbook, Worksheet, XlsxError};
use sqlx::postgres::PgRow;
use sqlx::{Column, Row, TypeInfo};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::cells::{Cell, Kind};
use super::{CHUNK, Exported, Format, attachment};
use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::store::exports::Export;

pub(super) const CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Rows an Excel sheet holds below its header row (1,048,576 in all).
pub const MAX_ROWS: u32 = 1_048_575;

/// The characters (UTF-16 code units) an Excel cell holds; a longer text is cut there.
const MAX_CELL_UNITS: usize = 32_767;

/// Where a column of the export is in the rows, and for a time its local twin.
struct Placed {
    index: usize,
    kind: Kind,
    local: Option<usize>,
}

/// Writes the export's rows as a workbook and answers with it. A query Postgres refuses, or an
/// export with more rows than a sheet holds, is an error before any byte is sent.
pub(super) async fn respond(
    state: &AppState,
    admin: &Admin,
    name: &str,
    export: Export,
) -> Result<Exported, ApiError> {
    let Export { mut query, columns } = export;
    let pass = state.exports.enter(&admin.token)?;
    let mut workbook = Workbook::new();
    let formats = Formats::new();
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(failed)?;
    for (c, column) in columns.iter().enumerate() {
        sheet
            .write_string_with_format(0, col(c), *column, &formats.header)
            .map_err(failed)?;
        sheet.set_column_width(col(c), 18).map_err(failed)?;
    }
    let mut rows = query.build().fetch(&state.pool);
    let mut layout: Vec<Placed> = Vec::new();
    let mut written: u32 = 0;
    let counted = Format::Xlsx.rows_counter(state);
    while let Some(row) = rows.next().await {
        let row = row?;
        if written == MAX_ROWS {
            return Err(ApiError::BadRequest(format!(
                "format=xlsx: the export has more than {MAX_ROWS} rows, as many as an Excel sheet \
                 holds below its header; narrow it (website_id, from/to, or the list's other \
                 filters) or take format=csv"
            )));
        }
        if layout.is_empty() {
            layout = lay_out(&row, columns)?;
        }
        written += 1;
        counted.inc();
        write_row(sheet, &formats, written, &row, &layout)?;
    }
    drop(rows);
    if written > 0 {
        sheet
            .autofilter(0, 0, written, col(columns.len().saturating_sub(1)))
            .map_err(failed)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(failed)?;
    // Zipping is CPU work and file I/O: off the async threads.
    let file = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let file = tempfile::NamedTempFile::new()
            .map_err(|e| ApiError::TryLater(format!("no temporary file for the export: {e}")))?;
        workbook.save(file.path()).map_err(failed)?;
        Ok(file)
    })
    .await
    .map_err(|e| ApiError::TryLater(format!("the export failed: {e}")))??;
    let mut reader = tokio::fs::File::open(file.path())
        .await
        .map_err(|e| ApiError::TryLater(format!("the export file is gone: {e}")))?;
    let stall = state.export_stall;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        // The slot and the file are held until the client has the whole workbook.
        let (_pass, _file) = (pass, file);
        loop {
            let mut buf = vec![0; CHUNK];
            let chunk = match reader.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            match tokio::time::timeout(stall, tx.send(chunk)).await {
                Ok(Ok(())) if !failed => {}
                _ => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(attachment(Body::from_stream(stream), Format::Xlsx, name))
}

/// The cell formats: a bold header, and dates.
struct Formats {
    header: CellFormat,
    time: CellFormat,
}

impl Formats {
    fn new() -> Self {
        Self {
            header: CellFormat::new().set_bold(),
            time: CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        }
    }
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

fn failed(error: XlsxError) -> ApiError {
    ApiError::TryLater(format!("the Excel file could not be written: {error}"))
}

/// Where each of `columns` is in the rows, by name, and the local twin of each time.
fn lay_out(row: &PgRow, columns: &[&str]) -> Result<Vec<Placed>, ApiError> {
    columns
        .iter()
        .map(|name| {
            let column = row.try_column(*name).map_err(|_| {
                ApiError::TryLater(format!("the export's query has no column {name}"))
            })?;
            let type_name = column.type_info().name();
            let kind = Kind::of(type_name).ok_or_else(|| {
                ApiError::TryLater(format!(
                    "column {name} has type {type_name}, not exportable"
                ))
            })?;
            let local = row
                .try_column(format!("{name}_local").as_str())
                .ok()
                .map(|c| c.ordinal());
            Ok(Placed {
                index: column.ordinal(),
                kind,
                local,
            })
        })
        .collect()
}

fn write_row(
    sheet: &mut Worksheet,
    formats: &Formats,
    r: u32,
    row: &PgRow,
    layout: &[Placed],
) -> Result<(), ApiError> {
    for (c, column) in layout.iter().enumerate() {
        let c = col(c);
        let cell = column.kind.decode(row, column.index)?;
        let local = match (cell, column.local) {
            (Cell::Time(_), Some(i)) => Kind::LocalTime.decode(row, i)?,
            _ => Cell::Null,
        };
        match (cell, local) {
            (Cell::Null, _) => {}
            (Cell::Text(s), _) => {
                sheet.write_string(r, c, cut(s)).map_err(failed)?;
            }
            (Cell::Int(v), _) => {
                sheet.write_number(r, c, v as f64).map_err(failed)?;
            }
            (Cell::Float(v), _) if v.is_finite() => {
                sheet.write_number(r, c, v).map_err(failed)?;
            }
            (Cell::Float(_), _) => {}
            (Cell::Bool(v), _) => {
                sheet.write_boolean(r, c, v).map_err(failed)?;
            }
            (Cell::Time(_), Cell::LocalTime(t)) | (Cell::LocalTime(t), _) => {
                sheet
                    .write_number_with_format(r, c, serial(t), &formats.time)
                    .map_err(failed)?;
            }
            (Cell::Time(t), _) => {
                sheet
                    .write_number_with_format(r, c, serial(t.naive_utc()), &formats.time)
                    .map_err(failed)?;
            }
            (Cell::Uuid(u), _) => {
                sheet
                    .write_string(r, c, u.hyphenated().to_string())
                    .map_err(failed)?;
            }
        }
    }
    Ok(())
}

/// A wall-clock time as Excel's date number: days since 1899-12-30, the fraction the time.
fn serial(t: NaiveDateTime) -> f64 {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    (t - epoch).num_milliseconds() as f64 / Duration::from_secs(86_400).as_millis() as f64
}

/// `s`, cut to what a cell holds.
fn cut(s: &str) -> &str {
    let mut units = 0;
    for (i, ch) in s.char_indices() {
        units += ch.len_utf16();
        if units > MAX_CELL_UNITS {
            return &s[..i];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_excel_day_numbers() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        // Excel's own numbers for these days.
        assert_eq!(serial(t("1900-03-01 00:00:00")), 61.0);
        assert_eq!(serial(t("2026-11-10 00:00:00")), 46_336.0);
        assert_eq!(serial(t("2026-11-10 18:00:00")), 46_336.75);
    }

    #[test]
    fn a_text_is_cut_to_what_a_cell_holds_on_a_character_boundary() {
        let long = "é".repeat(MAX_CELL_UNITS + 5);
        assert_eq!(cut(&long).chars().count(), MAX_CELL_UNITS);
        // An emoji is two UTF-16 units: never split.
        let emoji = "😀".repeat(MAX_CELL_UNITS);
        assert_eq!(cut(&emoji).encode_utf16().count(), MAX_CELL_UNITS - 1);
        assert_eq!(cut("short"), "short");
    }
}
