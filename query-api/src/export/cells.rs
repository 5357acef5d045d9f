//! One row's cells: decoded from Postgres' binary form by their column's type, and written
//! as CSV (RFC 4180, formulas neutralised) or JSON.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};
use std::io::Write as _;
use uuid::Uuid;

/// One value of a row, decoded from Postgres' binary form by its column's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cell<'r> {
    Null,
    Text(&'r str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Time(DateTime<Utc>),
    /// A wall-clock time (`timestamp`): a time column's local twin, which Excel exports write.
    LocalTime(NaiveDateTime),
    Uuid(Uuid),
}

/// The Postgres types an export's columns may have; anything else is a bug in its query,
/// which ends the export before its first row.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Text,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Time,
    LocalTime,
    Uuid,
}

impl Kind {
    pub(super) fn of(type_name: &str) -> Option<Self> {
        Some(match type_name {
            "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => Kind::Text,
            "INT2" => Kind::Int2,
            "INT4" => Kind::Int4,
            "INT8" => Kind::Int8,
            "FLOAT4" => Kind::Float4,
            "FLOAT8" => Kind::Float8,
            "BOOL" => Kind::Bool,
            "TIMESTAMPTZ" => Kind::Time,
            "TIMESTAMP" => Kind::LocalTime,
            "UUID" => Kind::Uuid,
            _ => return None,
        })
    }

    pub(super) fn decode(self, row: &PgRow, i: usize) -> Result<Cell<'_>, sqlx::Error> {
        fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
            row: &'r PgRow,
            i: usize,
            cell: impl FnOnce(T) -> Cell<'r>,
        ) -> Result<Cell<'r>, sqlx::Error> {
            Ok(row.try_get::<Option<T>, _>(i)?.map_or(Cell::Null, cell))
        }
        match self {
            Kind::Text => get(row, i, Cell::Text),
            Kind::Int2 => get(row, i, |v: i16| Cell::Int(v.into())),
            Kind::Int4 => get(row, i, |v: i32| Cell::Int(v.into())),
            Kind::Int8 => get(row, i, Cell::Int),
            Kind::Float4 => get(row, i, |v: f32| Cell::Float(v.into())),
            Kind::Float8 => get(row, i, Cell::Float),
            Kind::Bool => get(row, i, Cell::Bool),
            Kind::Time => get(row, i, Cell::Time),
            Kind::LocalTime => get(row, i, Cell::LocalTime),
            Kind::Uuid => get(row, i, Cell::Uuid),
        }
    }
}

/// A time as Postgres writes a `timestamptz` in JSON with the session in UTC, which is what
/// exports wrote before they decoded rows themselves: `2026-09-01T10:00:00.25+00:00`, the
/// fraction only when there is one, without trailing zeros.
pub(super) fn push_time(buf: &mut Vec<u8>, t: DateTime<Utc>) {
    let (date, time) = (t.date_naive(), t.time());
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        date.month(),
        date.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    let (mut fraction, mut width) = (time.nanosecond() / 1_000 % 1_000_000, 6);
    if fraction != 0 {
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        let _ = write!(buf, ".{fraction:0width$}");
    }
    buf.extend_from_slice(b"+00:00");
}

/// A float as JSON and CSV readers take it: shortest round-trip digits, never an exponent;
/// not-a-number and infinities (which no export column holds) as empty.
pub(super) fn push_float(buf: &mut Vec<u8>, v: f64) -> bool {
    if v.is_finite() {
        let _ = write!(buf, "{v}");
        true
    } else {
        false
    }
}

/// Whether a spreadsheet could read `text` as a formula: it starts with a control character
/// (tab, carriage return, line feed), or its first character after any blanks and invisible
/// characters (spaces of every width, zero-width ones, a byte-order mark) is a sign a formula
/// starts with, in its ASCII or its full-width form (`=`, `+`, `-`, `@` and `＝`, `＋`, `－`,
/// `＠`), which spreadsheets trim and fold before they evaluate.
pub(super) fn formula_like(text: &str) -> bool {
    let invisible = |c: char| {
        c.is_whitespace()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}')
    };
    text.starts_with(['\t', '\r', '\n'])
        || text.trim_start_matches(invisible).starts_with([
            '=', '+', '-', '@', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
        ])
}

/// Writes a text CSV cell: quoted when it must be (RFC 4180, with `separator` between cells),
/// and with a leading `'` when a spreadsheet would otherwise read it as a formula
/// ([`formula_like`]).
pub(super) fn push_csv_text(buf: &mut Vec<u8>, text: &str, separator: u8) {
    let formula = formula_like(text);
    if text.contains(['"', '\n', '\r']) || text.as_bytes().contains(&separator) {
        buf.push(b'"');
        if formula {
            buf.push(b'\'');
        }
        for part in text.split_inclusive('"') {
            buf.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                buf.push(b'"');
            }
        }
        buf.push(b'"');
    } else {
        if formula {
            buf.push(b'\'');
        }
        buf.extend_from_slice(text.as_bytes());
    }
}

/// Writes one CSV cell. Numbers are written as they are: `-2` is a number, not a formula.
pub(super) fn push_csv_cell(buf: &mut Vec<u8>, cell: Cell<'_>, separator: u8) {
    match cell {
        Cell::Null => {}
        Cell::Text(s) => push_csv_text(buf, s, separator),
        Cell::Int(v) => {
            let _ = write!(buf, "{v}");
        }
        Cell::Float(v) => {
            push_float(buf, v);
        }
        Cell::Bool(v) => buf.extend_from_slice(if v { b"true" } else { b"false" }),
        Cell::Time(t) => push_time(buf, t),
        Cell::LocalTime(t) => {
            let _ = write!(buf, "{}", t.format("%Y-%m-%dT%H:%M:%S%.f"));
        }
        Cell::Uuid(u) => {
            let _ = write!(buf, "{}", u.hyphenated());
        }
    }
}

/// Writes one JSON value.
pub(super) fn push_json_cell(buf: &mut Vec<u8>, cell: Cell<'_>) {
    match cell {
        Cell::Null => buf.extend_from_slice(b"null"),
        Cell::Text(s) => push_json_string(buf, s),
        Cell::Float(v) => {
            if !push_float(buf, v) {
                buf.extend_from_slice(b"null");
            }
        }
        Cell::Int(_) | Cell::Bool(_) => push_csv_cell(buf, cell, b','),
        Cell::Time(_) | Cell::LocalTime(_) | Cell::Uuid(_) => {
            buf.push(b'"');
            push_csv_cell(buf, cell, b',');
            buf.push(b'"');
        }
    }
}

/// Writes a JSON string, with the line and paragraph separators (U+2028, U+2029) escaped: JSON
/// allows them raw, JavaScript before ES2019 and line-splitting readers do not.
pub(super) fn push_json_string(buf: &mut Vec<u8>, s: &str) {
    if s.contains(['\u{2028}', '\u{2029}']) {
        let escaped = serde_json::to_string(s)
            .unwrap_or_default()
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        buf.extend_from_slice(escaped.as_bytes());
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(cell: Cell<'_>) -> String {
        let mut buf = Vec::new();
        push_csv_cell(&mut buf, cell, b',');
        String::from_utf8(buf).unwrap_or_default()
    }

    fn json(cell: Cell<'_>) -> String {
        let mut buf = Vec::new();
        push_json_cell(&mut buf, cell);
        String::from_utf8(buf).unwrap_or_default()
    }

    #[test]
    fn cells_are_quoted_when_needed_and_formulas_neutralised() {
        assert_eq!(csv(Cell::Text("plain")), "plain");
        assert_eq!(csv(Cell::Text("a,b")), "\"a,b\"");
        assert_eq!(csv(Cell::Text("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv(Cell::Text("line\nbreak")), "\"line\nbreak\"");
        assert_eq!(csv(Cell::Text("=SUM(A1)")), "'=SUM(A1)");
        assert_eq!(csv(Cell::Text("=A1,\"x\"")), "\"'=A1,\"\"x\"\"\"");
        assert_eq!(csv(Cell::Text("+1 555")), "'+1 555");
        assert_eq!(csv(Cell::Text("-2")), "'-2");
        assert_eq!(csv(Cell::Text("@cmd")), "'@cmd");
        // What a spreadsheet trims or folds before it evaluates.
        for hidden in [
            " =1+1",
            "\u{200B}=1+1",
            "\u{FEFF}+1",
            "\u{00A0}@cmd",
            "\u{3000}-1",
            "\u{FF1D}1+1",
            "\u{FF0B}1",
            "\n=1",
        ] {
            assert!(
                csv(Cell::Text(hidden)).starts_with(['\'', '"']),
                "{hidden:?}"
            );
            assert!(csv(Cell::Text(hidden)).contains('\''), "{hidden:?}");
        }
        assert_eq!(csv(Cell::Text("a = b")), "a = b");
        assert_eq!(csv(Cell::Int(-2)), "-2");
        assert_eq!(csv(Cell::Float(2.5)), "2.5");
        assert_eq!(csv(Cell::Float(f64::NAN)), "");
        assert_eq!(csv(Cell::Bool(true)), "true");
        assert_eq!(csv(Cell::Null), "");
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped_in_json() {
        let written = json(Cell::Text("a\u{2028}b\u{2029}c\n"));
        assert_eq!(written, "\"a\\u2028b\\u2029c\\n\"");
        let back: String = serde_json::from_str(&written).unwrap_or_default();
        assert_eq!(back, "a\u{2028}b\u{2029}c\n");
    }

    #[test]
    fn times_are_written_as_postgres_writes_them_in_json() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        for (stored, written) in [
            ("2026-09-01T10:00:00Z", "2026-09-01T10:00:00+00:00"),
            ("2026-09-01T10:00:00.250Z", "2026-09-01T10:00:00.25+00:00"),
            (
                "2026-09-01T10:00:00.000001Z",
                "2026-09-01T10:00:00.000001+00:00",
            ),
        ] {
            assert_eq!(csv(Cell::Time(at(stored))), written, "{stored}");
        }
        assert_eq!(
            json(Cell::Time(at("2026-09-01T12:00:00+02:00"))),
            "\"2026-09-01T10:00:00+00:00\""
        );
    }

    #[test]
    fn json_cells_are_json() {
        assert_eq!(json(Cell::Text("a \"b\"\n")), r#""a \"b\"\n""#);
        assert_eq!(json(Cell::Null), "null");
        assert_eq!(json(Cell::Float(f64::INFINITY)), "null");
        assert_eq!(json(Cell::Int(7)), "7");
        assert_eq!(
            json(Cell::Uuid(Uuid::nil())),
            "\"00000000-0000-0000-0000-000000000000\""
        );
    }
}
