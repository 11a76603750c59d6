//! `Retry-After`: delay-seconds or an HTTP-date, never overflowing.

use std::time::Duration;

use crate::time::WallTime;

/// How long the server asked us to wait, measured from `wall_now`.
/// `None` if the value is neither form. A date in the past is zero.
pub(crate) fn parse_retry_after(value: &str, wall_now: WallTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: saturate instead of overflowing.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    http_date(value, wall_now)
}

/// delay-seconds is whole digits (RFC 9110); anything else that is not an
/// HTTP-date (e.g. "1.5") is ignored and plain backoff applies.
#[cfg(feature = "http-date")]
fn http_date(value: &str, wall_now: WallTime) -> Option<Duration> {
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(wall_now.to_system_time())
            .unwrap_or(Duration::ZERO),
    )
}

/// Without the `http-date` feature the adapter converts dates to seconds.
#[cfg(not(feature = "http-date"))]
fn http_date(_value: &str, _wall_now: WallTime) -> Option<Duration> {
    None
}

#[cfg(all(test, feature = "http-date"))]
mod tests {
    use super::*;

    const NOW: WallTime = WallTime::from_unix_millis(1_445_412_480_000); // Wed, 21 Oct 2015 07:28:00 GMT

    #[test]
    fn seconds_and_dates() {
        assert_eq!(
            parse_retry_after("120", NOW),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", NOW), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", NOW), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", NOW),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", NOW),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn absurd_values_do_not_overflow() {
        assert_eq!(
            parse_retry_after("99999999999999999999999999", NOW),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("1e300", NOW), None);
        assert_eq!(parse_retry_after("-5", NOW), None);
        assert_eq!(parse_retry_after("NaN", NOW), None);
        assert_eq!(parse_retry_after("soon", NOW), None);
        assert_eq!(parse_retry_after("", NOW), None);
    }
}
