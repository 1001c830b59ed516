//! Timestamps read without format strings.
//!
//! SQLite keeps timestamps as text, and diesel reads each one by trying chrono format strings
//! in turn: about 2,700 instructions a value, 14 % of all the instructions of a request listing
//! 20 users (callgrind, four timestamps a row). The text Castellan and SQLite write,
//! `YYYY-MM-DD HH:MM:SS` with an optional fraction, is read here directly; any other text goes
//! to diesel's reader, so nothing it accepts is refused. PostgreSQL sends timestamps in binary
//! and is read by diesel as before.
//!
//! A model field opts in with `#[diesel(deserialize_as = Stamp)]`.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// A non-null timestamp column, decoded as described in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct Stamp(pub NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(
        mut value: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        if let Some(at) = parse(value.read_text()) {
            return Ok(Stamp(at));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(
        value: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

/// `YYYY-MM-DD HH:MM:SS`, then optionally `.` and 1 to 9 digits; `None` for anything else,
/// including dates and times that do not exist.
pub fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(0, 4)?).ok()?,
        digits(5, 7)?,
        digits(8, 10)?,
    )?;
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(20, b.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let time =
        NaiveTime::from_hms_nano_opt(digits(11, 13)?, digits(14, 16)?, digits(17, 19)?, nanos)?;
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    /// What diesel's reader makes of the same text, for the forms [`parse`] accepts.
    fn chrono(text: &str) -> Option<NaiveDateTime> {
        ["%F %T%.f", "%F %T"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    }

    #[test]
    fn reads_what_castellan_and_sqlite_write() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_micro_opt(15, 4, 5, 123_456)
            .unwrap();
        assert_eq!(parse("2026-11-22 15:04:05.123456"), Some(at));
        assert_eq!(parse(&at.format("%F %T%.f").to_string()), Some(at));
        assert_eq!(parse("2026-11-22 15:04:05"), at.with_nanosecond(0));
    }

    #[test]
    fn agrees_with_chrono_and_leaves_other_forms_to_diesel() {
        // Text this reader refuses goes to diesel's reader, so a refusal is never wrong; a value
        // it reads must be the one chrono reads.
        let odd = [
            "2026-02-29 00:00:00", // no such day
            "2024-02-29 23:59:59.999999999",
            "2026-13-01 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01 00:60:00",
            "2026-01-01 00:00:00.",
            "2026-01-01 00:00:00.1234567890",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01 00:00:00+02:00",
            "2026-1-01 00:00:00",
            "+026-01-01 00:00:00",
            "2026-01-01 0a:00:00",
            "2460000.5",
            "",
        ];
        for text in odd {
            if let Some(at) = parse(text) {
                assert_eq!(Some(at), chrono(text), "{text}");
            }
        }
        assert_eq!(parse("2026-02-29 00:00:00"), None);
        assert_eq!(parse("2026-01-01 24:00:00"), None);
        // The form Castellan writes, with every fraction length and a spread of dates and
        // times: always read here, always as chrono reads it.
        let mut written: Vec<String> = (1..=9)
            .map(|digits| format!("1999-12-31 23:59:58.{}", &"987654321"[..digits]))
            .collect();
        for i in 0..2_000u32 {
            let (y, m, d) = (1970 + i % 90, 1 + i % 12, 1 + (i * 7) % 28);
            let (h, mi, s) = (i % 24, (i * 13) % 60, (i * 17) % 60);
            written.push(format!(
                "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:06}",
                i * 499
            ));
            written.push(format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}"));
        }
        for text in &written {
            assert!(parse(text).is_some(), "{text} is not read");
            assert_eq!(parse(text), chrono(text), "{text}");
        }
    }
}
