//! [`SessionDate`]: a calendar date parsed from `YYYY-MM-DD` and stored in four
//! bytes as `yyyymmdd`, so that it orders like the text and prints back
//! exactly as it came.

use std::fmt;

/// A validated `YYYY-MM-DD` date.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionDate(u32);

impl SessionDate {
    /// Parses `YYYY-MM-DD` (a real calendar date, years 0001..=9999).
    pub fn parse(text: &str) -> Option<SessionDate> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        SessionDate::from_ymd(year, month, day)
    }

    /// Builds a date from its parts, if they name a real calendar day.
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<SessionDate> {
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1..=9999).contains(&year) && (1..=days_in_month).contains(&day))
            .then_some(SessionDate(year * 10_000 + month * 100 + day))
    }

    /// Year, month and day.
    pub fn ymd(self) -> (u32, u32, u32) {
        (self.0 / 10_000, self.0 / 100 % 100, self.0 % 100)
    }

    /// Days since 1970-01-01 (Arrow's `Date32`).
    pub fn days_since_epoch(self) -> i32 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = self.ymd();
        let (y, m, d) = (i64::from(y), i64::from(m), i64::from(d));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        i32::try_from(era * 146_097 + doe - 719_468).expect("years 1..=9999 fit in i32 days")
    }
}

impl SessionDate {
    /// The date `days` after 1970-01-01, if it is in years 0001..=9999.
    pub fn from_days_since_epoch(days: i64) -> Option<SessionDate> {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        SessionDate::from_ymd(u32::try_from(year).ok()?, month as u32, day as u32)
    }
}

impl fmt::Display for SessionDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for SessionDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for SessionDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SessionDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let packed = <u32 as serde::Deserialize>::deserialize(deserializer)?;
        SessionDate::from_ymd(packed / 10_000, packed / 100 % 100, packed % 100)
            .ok_or_else(|| serde::de::Error::custom("invalid packed date"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_epoch_round_trips() {
        for days in (-719_162..=2_932_896)
            .step_by(97)
            .chain([0, 19_723, 20_417, 2_932_896])
        {
            let date = SessionDate::from_days_since_epoch(days).expect("years 1..=9999");
            assert_eq!(i64::from(date.days_since_epoch()), days, "{date}");
        }
        assert_eq!(
            SessionDate::from_days_since_epoch(0).map(|d| d.to_string()),
            Some("1970-01-01".into())
        );
        assert_eq!(SessionDate::from_days_since_epoch(-719_163), None);
        assert_eq!(SessionDate::from_days_since_epoch(2_932_897), None);
    }

    #[test]
    fn parses_and_prints_back() {
        for text in ["2026-05-24", "2024-02-29", "0001-01-01", "9999-12-31"] {
            let date = SessionDate::parse(text).expect(text);
            assert_eq!(date.to_string(), text);
        }
    }

    #[test]
    fn rejects_non_dates() {
        for text in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "26-01-01",
            "2026/01/01",
            "2026-1-01",
            "0000-01-01",
            "abcd-ef-gh",
            "2026-01-011",
            "",
        ] {
            assert!(SessionDate::parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn epoch_days() {
        assert_eq!(
            SessionDate::parse("1970-01-01").map(SessionDate::days_since_epoch),
            Some(0)
        );
        assert_eq!(
            SessionDate::parse("2026-05-24").map(SessionDate::days_since_epoch),
            Some(20597)
        );
    }
}
