//! The destination URL: HTTPS, or plain HTTP only to a loopback address.

use super::{ConfigError, Protocol};

/// A checked base URL and the request URL derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Where requests go, query included.
    pub url: String,
}

impl Endpoint {
    /// Parses `host` and derives the request URL for `protocol`.
    pub fn parse(host: &str, protocol: Protocol, gzip: bool) -> Result<Self, ConfigError> {
        let bad = |problem: String| Err(ConfigError::new("host", problem));
        let host = host.trim();
        // Credentials in the URL: refused before any message echoes the URL.
        let after_scheme = host.split_once("://").map_or(host, |(_, rest)| rest);
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
        let (scheme, rest) = match host.split_once("://") {
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
            "http" if is_loopback(hostname) => {}
            "http" => {
                return bad(format!(
                    "plain http to `{hostname}` would send events and the key unencrypted: use https (http is allowed only to loopback)"
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

fn hostname_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
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
        Endpoint::parse(host, p, gzip)
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
}
