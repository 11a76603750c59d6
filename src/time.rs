//! Time as an input: a monotonic instant and a wall-clock reading, both given
//! by the adapter. The core never reads a clock.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point on the adapter's monotonic clock, measured from an origin the
/// adapter picks (usually when it started).
///
/// `std::time::Instant` cannot be built from a number and does not exist on
/// every wasm target, so the core uses this instead.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    /// The adapter's origin.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `since_origin` after the adapter's origin.
    pub const fn from_duration(since_origin: Duration) -> Self {
        Instant(since_origin)
    }

    /// The instant `millis` milliseconds after the adapter's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(Duration::from_millis(millis))
    }

    /// Time since the adapter's origin.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// `self + d`, saturating instead of overflowing on absurd durations.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", self.0)
    }
}

/// A wall-clock reading in milliseconds since the Unix epoch (UTC).
///
/// Only used for what goes on the wire (event timestamps, `sent_at`, uuid v7
/// prefixes) and for Retry-After dates; it may jump in either direction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WallTime(u64);

/// 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years, and a fixed width
/// keeps the batch envelope's byte size exact.
const MAX_WALL_MILLIS: u64 = 253_402_300_799_999;

impl WallTime {
    /// A reading of `millis` milliseconds since the Unix epoch, clamped to
    /// the years RFC 3339 can express.
    pub const fn from_unix_millis(millis: u64) -> Self {
        if millis > MAX_WALL_MILLIS {
            WallTime(MAX_WALL_MILLIS)
        } else {
            WallTime(millis)
        }
    }

    /// A reading from a `SystemTime` (times before 1970 clamp to the epoch).
    pub fn from_system_time(t: SystemTime) -> Self {
        let millis = t
            .duration_since(UNIX_EPOCH)
            .map(crate::time::whole_millis)
            .unwrap_or(0);
        Self::from_unix_millis(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.0
    }

    /// `2026-11-23T20:03:56.123Z`: always 24 bytes, always UTC with a `Z`.
    /// (Written digit by digit: the formatting machinery of a crate costs
    /// the wasm build about a kilobyte; tested against humantime.)
    pub fn to_rfc3339(self) -> String {
        let ms = self.0;
        let secs = ms / 1000;
        let (year, month, day) = civil_from_days(secs / 86_400);
        let of_day = secs % 86_400;
        let mut out = String::with_capacity(24);
        let mut put = |n: u64, digits: u32, after: char| {
            for i in (0..digits).rev() {
                out.push(char::from(b'0' + (n / 10u64.pow(i) % 10) as u8));
            }
            out.push(after);
        };
        put(year, 4, '-');
        put(month, 2, '-');
        put(day, 2, 'T');
        put(of_day / 3600, 2, ':');
        put(of_day / 60 % 60, 2, ':');
        put(of_day % 60, 2, '.');
        put(ms % 1000, 3, 'Z');
        out
    }

    /// Parses an RFC 3339 timestamp: UTC (`Z`), or with a numeric offset
    /// (`+05:30`, `-08:00`), converted to UTC as PostHog expects.
    ///
    /// ```
    /// use tidings::WallTime;
    /// let ist = WallTime::parse_rfc3339("2025-01-02T08:34:05+05:30").unwrap();
    /// assert_eq!(ist.to_rfc3339(), "2025-01-02T03:04:05.000Z");
    /// ```
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let s = s.trim();
        let (local, offset_secs) = split_offset(s)?;
        let utc = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
        let shifted = if offset_secs >= 0 {
            utc.checked_sub(Duration::from_secs(offset_secs.unsigned_abs()))?
        } else {
            utc.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))?
        };
        Some(Self::from_system_time(shifted))
    }

    #[cfg(any(test, feature = "http-date"))]
    pub(crate) fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }
}

/// The date-time of an RFC 3339 timestamp without its zone, and the zone's
/// offset east of UTC in seconds: `Z`, or `±HH:MM` within ±23:59.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(local) = s.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let at = s.len().checked_sub(6)?;
    let (local, zone) = (s.get(..at)?, s.get(at..)?.as_bytes());
    let sign = match zone[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |a: u8, b: u8| {
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
    };
    let (hours, minutes) = (two(zone[1], zone[2])?, two(zone[4], zone[5])?);
    (zone[3] == b':' && hours < 24 && minutes < 60)
        .then_some((local, sign * (hours * 3600 + minutes * 60)))
}

/// Year, month and day of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

impl fmt::Debug for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WallTime({})", self.to_rfc3339())
    }
}

/// Both clocks, sampled together by the adapter just before an input.
///
/// `monotonic` must never go backwards between calls (the core clamps it if
/// it does); `wall` may jump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Now {
    pub monotonic: Instant,
    pub wall: WallTime,
}

impl Now {
    /// Both readings at once.
    pub const fn new(monotonic: Instant, wall: WallTime) -> Self {
        Now { monotonic, wall }
    }
}

/// Whole milliseconds of `d`, saturating: u64 arithmetic only (the u128 of
/// `Duration::as_millis` links 128-bit division into the wasm build).
pub(crate) fn whole_millis(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_is_what_humantime_writes() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut cases = vec![0, 1, 999, 86_399_999, 951_782_400_000, 253_402_300_799_999];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x % 253_402_300_800_000);
        }
        for ms in cases {
            let wall = super::WallTime::from_unix_millis(ms);
            let expected = humantime::format_rfc3339_millis(wall.to_system_time()).to_string();
            assert_eq!(wall.to_rfc3339(), expected, "{ms}");
        }
    }

    use super::*;

    const RFC3339_LEN: usize = 24;

    #[test]
    fn rfc3339_is_fixed_width_utc() {
        for ms in [0, 1_763_928_236_123, u64::MAX] {
            let s = WallTime::from_unix_millis(ms).to_rfc3339();
            assert_eq!(s.len(), RFC3339_LEN, "{s}");
            assert!(s.ends_with('Z'));
        }
        assert_eq!(
            WallTime::from_unix_millis(1_763_928_236_123).to_rfc3339(),
            "2025-11-23T20:03:56.123Z"
        );
    }

    #[test]
    fn rfc3339_round_trips() {
        let t = WallTime::from_unix_millis(1_763_928_236_123);
        assert_eq!(WallTime::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(WallTime::parse_rfc3339("2025-11-23 20:03:56"), None);
        // Offsets are converted to UTC.
        let utc = WallTime::parse_rfc3339("2025-01-02T03:04:05.250Z").unwrap();
        for local in [
            "2025-01-02T08:34:05.250+05:30",
            "2025-01-01T19:04:05.250-08:00",
            "2025-01-02T03:04:05.250+00:00",
            "2025-01-02T03:04:05.250-00:00",
            " 2025-01-02T03:04:05.250z ",
        ] {
            assert_eq!(WallTime::parse_rfc3339(local), Some(utc), "{local}");
        }
        for bad in [
            "2025-01-02T03:04:05+24:00",
            "2025-01-02T03:04:05+05:60",
            "2025-01-02T03:04:05+0530",
            "2025-01-02T03:04:05*05:30",
            "2025-01-02T03:04:05",
            "+05:30",
            "",
        ] {
            assert_eq!(WallTime::parse_rfc3339(bad), None, "{bad}");
        }
    }
}
