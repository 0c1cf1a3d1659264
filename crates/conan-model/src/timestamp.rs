//! Revision times: UTC instants with microsecond precision.
//!
//! A revision's time is set once, when the revision is committed, and never changes. The Conan
//! client parses it with `dateutil.isoparse` and compares it across remotes, so it is always
//! rendered the same way: RFC 3339, UTC, six fraction digits and a `Z` zone
//! (`2024-12-17T09:16:40.334123Z`). A naive time (no zone) would be read in the client's local
//! zone, so there is no way to build or render one here.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;
use ::time::macros::format_description;

/// Why a revision time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The text is not an RFC 3339 time with a zone.
    #[error(
        "invalid time {0:?}: expected RFC 3339 with a zone, such as 2024-12-17T09:16:40.334123Z"
    )]
    Syntax(String),
    /// The instant is outside years 0000 to 9999, which RFC 3339 cannot express.
    #[error(
        "time out of range: {micros} microseconds since the Unix epoch is not in years 0000-9999"
    )]
    OutOfRange {
        /// The refused instant.
        micros: i64,
    },
}

/// An instant in UTC with microsecond precision, ordered in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RevisionTime(i64);

/// `0000-01-01T00:00:00Z` in microseconds since the Unix epoch.
const MIN_MICROS: i64 = -62_167_219_200_000_000;
/// `9999-12-31T23:59:59.999999Z` in microseconds since the Unix epoch.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

impl RevisionTime {
    /// The earliest representable time, `0000-01-01T00:00:00.000000Z`.
    pub const MIN: Self = Self(MIN_MICROS);
    /// The latest representable time, `9999-12-31T23:59:59.999999Z`.
    pub const MAX: Self = Self(MAX_MICROS);

    /// Builds a time from microseconds since the Unix epoch (the storage form).
    pub fn from_unix_micros(micros: i64) -> Result<Self, TimeError> {
        if (MIN_MICROS..=MAX_MICROS).contains(&micros) {
            Ok(Self(micros))
        } else {
            Err(TimeError::OutOfRange { micros })
        }
    }

    /// Converts a system time, truncating to whole microseconds. The caller reads the clock;
    /// this crate does no IO.
    pub fn from_system_time(time: SystemTime) -> Result<Self, TimeError> {
        let micros = match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            // Before the epoch: round down so that truncation stays monotonic.
            Err(before) => {
                let duration = before.duration();
                let whole = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
                let partial = i64::from(duration.subsec_nanos() % 1_000 != 0);
                whole.saturating_add(partial).saturating_neg()
            }
        };
        Self::from_unix_micros(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub fn unix_micros(self) -> i64 {
        self.0
    }

    /// Seconds since the Unix epoch with a fraction, the form Conan's own caches store.
    #[must_use]
    #[expect(
        clippy::cast_precision_loss,
        reason = "f64 keeps microseconds until year 2255"
    )]
    pub fn unix_seconds_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    fn to_offset_date_time(self) -> OffsetDateTime {
        // In range by construction, so the conversion cannot fail; the fallback is unreachable.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Display for RevisionTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let text = self
            .to_offset_date_time()
            .format(&format)
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl FromStr for RevisionTime {
    type Err = TimeError;

    /// Parses RFC 3339 with any zone offset (converted to UTC); fraction digits beyond
    /// microseconds are truncated toward the past.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // The Unix timestamp already accounts for the offset. Converting to UTC first would
        // panic when the UTC date leaves time's year range (9999-12-31T21:00-03:00).
        let parsed = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| TimeError::Syntax(text.to_owned()))?;
        let nanos = parsed.unix_timestamp_nanos();
        let micros = i64::try_from(nanos.div_euclid(1_000))
            .map_err(|_| TimeError::Syntax(text.to_owned()))?;
        Self::from_unix_micros(micros)
    }
}

crate::macros::display_serde!(RevisionTime);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn renders_rfc3339_utc_with_micros_and_zone() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1_734_427_000_334_000, "2024-12-17T09:16:40.334000Z"),
            (1_734_427_000_334_123, "2024-12-17T09:16:40.334123Z"),
            (-1, "1969-12-31T23:59:59.999999Z"),
            (MIN_MICROS, "0000-01-01T00:00:00.000000Z"),
            (MAX_MICROS, "9999-12-31T23:59:59.999999Z"),
        ];
        for (micros, text) in cases {
            let time = RevisionTime::from_unix_micros(micros).unwrap();
            assert_eq!(time.to_string(), text);
            assert_eq!(text.parse::<RevisionTime>().unwrap(), time);
        }
    }

    #[test]
    fn parses_what_clients_and_servers_write() {
        let expected = RevisionTime::from_unix_micros(1_734_427_000_334_000).unwrap();
        for text in [
            "2024-12-17T09:16:40.334Z",
            "2024-12-17T09:16:40.334000Z",
            "2024-12-17T09:16:40.334000+00:00",
            "2024-12-17T10:16:40.334+01:00",
            "2024-12-17T09:16:40.334000999Z",
            "2024-12-17t09:16:40.334z",
        ] {
            assert_eq!(text.parse::<RevisionTime>().unwrap(), expected, "{text}");
        }
        let whole = "2026-11-21T21:46:58Z".parse::<RevisionTime>().unwrap();
        assert_eq!(whole.to_string(), "2026-11-21T21:46:58.000000Z");
    }

    #[test]
    fn naive_and_malformed_times_are_refused() {
        for text in [
            "",
            "2024-12-17T09:16:40.334",
            "2024-12-17 09:16:40",
            "2024-12-17",
            "1734427000.334",
            "2024-13-17T09:16:40Z",
            "yesterday",
        ] {
            let error = text.parse::<RevisionTime>().unwrap_err();
            assert!(
                error.to_string().contains("expected RFC 3339"),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn out_of_range_instants_are_refused() {
        assert!(RevisionTime::from_unix_micros(MAX_MICROS + 1).is_err());
        assert!(RevisionTime::from_unix_micros(MIN_MICROS - 1).is_err());
        assert!(RevisionTime::from_unix_micros(i64::MAX).is_err());
    }

    #[test]
    fn system_time_truncates_to_micros() {
        let time = SystemTime::UNIX_EPOCH + Duration::new(1_734_427_000, 334_123_999);
        let revision_time = RevisionTime::from_system_time(time).unwrap();
        assert_eq!(revision_time.unix_micros(), 1_734_427_000_334_123);
        let before = SystemTime::UNIX_EPOCH - Duration::from_nanos(1_500);
        assert_eq!(
            RevisionTime::from_system_time(before)
                .unwrap()
                .unix_micros(),
            -2
        );
    }

    #[test]
    fn ordering_follows_time_and_serde_uses_the_string() {
        let earlier = RevisionTime::from_unix_micros(1).unwrap();
        let later = RevisionTime::from_unix_micros(2).unwrap();
        assert!(earlier < later);
        assert_eq!(
            serde_json::to_string(&later).unwrap(),
            "\"1970-01-01T00:00:00.000002Z\""
        );
        assert!((later.unix_seconds_f64() - 0.000_002).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn render_parse_round_trip(micros in MIN_MICROS..=MAX_MICROS) {
            let time = RevisionTime::from_unix_micros(micros).unwrap();
            let text = time.to_string();
            prop_assert!(text.ends_with('Z'));
            prop_assert_eq!(text.len(), "2024-12-17T09:16:40.334123Z".len());
            prop_assert_eq!(text.parse::<RevisionTime>().unwrap(), time);
        }

        #[test]
        fn rendering_preserves_order(a in MIN_MICROS..=MAX_MICROS, b in MIN_MICROS..=MAX_MICROS) {
            let (a, b) = (RevisionTime::from_unix_micros(a).unwrap(), RevisionTime::from_unix_micros(b).unwrap());
            // Fixed-width rendering sorts like the instants for years 0000-9999.
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = text.parse::<RevisionTime>();
        }
    }
}
