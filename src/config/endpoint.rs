//! The destination URL: HTTPS, or plain HTTP only to a loopback address
//! unless `allow_insecure_http` is set.

use super::{ConfigError, Protocol};

/// A checked base URL and the request URL derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Where requests go, query included.
    pub url: String,
}

impl Endpoint {
    /// Parses `host` and derives the request URL for `protocol`. Plain
    /// `http://` is refused unless the host is loopback or
    /// `allow_insecure_http` is set.
    pub fn parse(
        host: &str,
        protocol: Protocol,
        gzip: bool,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        let bad = |problem: String| Err(ConfigError::new("host", problem));
        let host = host.trim();
        // Credentials in the URL: refused before any message echoes the URL.
        let after_scheme = split_scheme(host).map_or(host, |(_, rest)| rest);
        if after_scheme
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .contains('@')
        {
            return bad(
                "credentials in the URL are not supported: use `api_key` or `headers`".into(),
            );
        }
        let (scheme, rest) = match split_scheme(host) {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => {
                return bad(format!(
                    "`{host}` has no scheme: write `https://{host}` (plain http is allowed only to loopback)"
                ));
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let hostname = hostname_of(authority);
        if hostname.is_empty() {
            return bad(format!("`{host}` has no host name"));
        }
        if authority.contains('@') {
            return bad(
                "credentials in the URL are not supported: use `api_key` or `headers`".into(),
            );
        }
        if rest.contains('#') {
            return bad(format!("`{host}` has a fragment (`#...`): remove it"));
        }
        match scheme.as_str() {
            "https" => {}
            "http" if allow_insecure_http || is_loopback(hostname) => {}
            "http" => {
                return bad(format!(
                    "plain http to `{hostname}` would send events and the key unencrypted: use https (http is allowed only to loopback, or with allow_insecure_http)"
                ));
            }
            other => return bad(format!("unsupported scheme `{other}`: use https")),
        }
        let base = format!("{scheme}://{}", rest.trim_end_matches('/'));
        let url = match protocol {
            Protocol::PostHogV0 if base.contains('?') => {
                return bad("a PostHog host must not carry a query string".into());
            }
            Protocol::PostHogV0 if gzip => format!("{base}/batch/?compression=gzip"),
            Protocol::PostHogV0 => format!("{base}/batch/"),
            Protocol::PostHogV1 if base.contains('?') => {
                return bad("a PostHog host must not carry a query string".into());
            }
            Protocol::PostHogV1 => format!("{base}/i/v1/analytics/events"),
            Protocol::Json => format!("{scheme}://{rest}"),
        };
        Ok(Endpoint { url })
    }
}

/// `host[:port]` of `host` if it is a plain `http://` URL to a host that
/// is not loopback (what `allow_insecure_http` lets through), else `None`.
/// Never the credentials, path or query.
pub(crate) fn insecure_host(host: &str) -> Option<&str> {
    let (scheme, rest) = split_scheme(host.trim())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostname = hostname_of(authority);
    let remote = !hostname.is_empty() && !is_loopback(hostname) && !authority.contains('@');
    (scheme.eq_ignore_ascii_case("http") && remote).then_some(authority)
}

/// `scheme://rest` split at the first `://` (a byte scan: a `&str`
/// pattern links a substring searcher into the wasm build).
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let at = s.as_bytes().windows(3).position(|w| w == b"://")?;
    Some((&s[..at], &s[at + 3..]))
}

fn hostname_of(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(v6) => up_to(v6, b']'),
        None => up_to(authority, b':'),
    }
}

/// `s` before the first `end`, by a byte scan: `str::split(char)` links a
/// char searcher into the wasm build.
fn up_to(s: &str, end: u8) -> &str {
    let at = s.bytes().position(|b| b == end).unwrap_or(s.len());
    s.get(..at).unwrap_or_default()
}

fn is_loopback(hostname: &str) -> bool {
    let h = hostname.to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") || h == "::1" {
        return true;
    }
    h.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(host: &str, p: Protocol, gzip: bool) -> Result<String, String> {
        Endpoint::parse(host, p, gzip, false)
            .map(|e| e.url)
            .map_err(|e| e.to_string())
    }

    fn url_insecure(host: &str, p: Protocol) -> Result<String, String> {
        Endpoint::parse(host, p, false, true)
            .map(|e| e.url)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn derives_protocol_paths() {
        let h = "https://eu.i.posthog.com/";
        assert_eq!(
            url(h, Protocol::PostHogV0, false).unwrap(),
            "https://eu.i.posthog.com/batch/"
        );
        assert_eq!(
            url(h, Protocol::PostHogV0, true).unwrap(),
            "https://eu.i.posthog.com/batch/?compression=gzip"
        );
        assert_eq!(
            url("https://x.dev/ingest", Protocol::PostHogV1, false).unwrap(),
            "https://x.dev/ingest/i/v1/analytics/events"
        );
        assert_eq!(
            url("https://x.dev/e?k=1", Protocol::Json, true).unwrap(),
            "https://x.dev/e?k=1"
        );
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(url("http://127.0.0.1:8080", Protocol::PostHogV0, false).is_ok());
        assert!(url("http://localhost:1", Protocol::PostHogV0, false).is_ok());
        assert!(url("http://[::1]:9/x", Protocol::Json, false).is_ok());
        let err = url("http://example.com", Protocol::PostHogV0, false).unwrap_err();
        assert!(err.contains("use https"), "{err}");
        assert!(
            url("example.com", Protocol::PostHogV0, false)
                .unwrap_err()
                .contains("no scheme")
        );
        assert!(url("ftp://x", Protocol::Json, false).is_err());
        assert!(url("https://", Protocol::Json, false).is_err());
        assert!(url("https://u:p@x.com", Protocol::Json, false).is_err());
        let err = url("user:secret@x.com", Protocol::PostHogV0, false).unwrap_err();
        assert!(!err.contains("secret"), "never echo credentials: {err}");
    }

    #[test]
    fn plain_http_to_any_host_only_with_the_opt_in() {
        let host = "http://posthog.internal:8000";
        let err = url(host, Protocol::PostHogV0, false).unwrap_err();
        assert!(
            err.contains("`posthog.internal`") && err.contains("allow_insecure_http"),
            "the refusal names the host and the opt-in: {err}"
        );
        assert_eq!(
            url_insecure(host, Protocol::PostHogV0).unwrap(),
            "http://posthog.internal:8000/batch/"
        );
        assert_eq!(
            url_insecure("HTTP://test-harness:8081/", Protocol::PostHogV1).unwrap(),
            "http://test-harness:8081/i/v1/analytics/events"
        );
        // Loopback and https are the same either way.
        for host in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "https://eu.i.posthog.com",
        ] {
            assert_eq!(
                url(host, Protocol::Json, false).unwrap(),
                url_insecure(host, Protocol::Json).unwrap()
            );
        }
        // The opt-in lifts the scheme rule only: the rest still applies.
        assert!(url_insecure("http://u:p@x.com", Protocol::Json).is_err());
        assert!(url_insecure("ftp://x.com", Protocol::Json).is_err());
        assert!(url_insecure("posthog:8000", Protocol::Json).is_err());
        assert!(url_insecure("http://", Protocol::Json).is_err());
    }

    #[test]
    fn names_host_and_port_of_plain_http_to_a_remote_host() {
        assert_eq!(insecure_host("http://posthog:8000"), Some("posthog:8000"));
        assert_eq!(
            insecure_host(" HTTP://Test-Harness:8081/x?k=secret "),
            Some("Test-Harness:8081")
        );
        assert_eq!(insecure_host("http://[fd00::1]:80/"), Some("[fd00::1]:80"));
        for host in [
            "https://posthog:8000",
            "http://localhost:8000",
            "http://app.localhost",
            "http://127.0.0.1",
            "http://[::1]:9",
            "http://u:secret@x.com",
            "http://",
            "posthog:8000",
        ] {
            assert_eq!(insecure_host(host), None, "{host}");
        }
    }
}
