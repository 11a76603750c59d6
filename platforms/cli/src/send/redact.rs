//! Keeps secrets out of what `send` prints: `--header` values and the API
//! key are never shown, and `--host` only without its query, fragment or
//! credentials (`https://x.dev/e?…`).

/// Shorter values are not searched for in messages (they would match
/// ordinary words and numbers); no message of `send` quotes a value anyway.
const MIN_SECRET_LEN: usize = 4;

/// Parses `--header 'Name: value'`. An error never quotes the argument,
/// which may hold a secret (`X-Write-Key=…` instead of `X-Write-Key: …`).
pub fn parse_header(arg: &str) -> Result<(String, String), String> {
    let Some((name, value)) = arg.split_once(':') else {
        return Err(
            "expected `Name: value`, with a colon (the argument is not shown: it may hold a secret)"
                .into(),
        );
    };
    let name = name.trim();
    if name.is_empty() {
        return Err("the header name before `:` is empty".into());
    }
    if !tidings::config::is_header_name(name) {
        return Err(
            "the text before the first `:` is not a header name (letters, digits and !#$%&'*+-.^_`|~ only; it is not shown: it may hold a secret): write `Name: value`"
                .into(),
        );
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// `url` without what may be a secret: credentials become `…@`, the query
/// `?…` and a fragment `#…`; scheme, host, port and path stay.
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before, after) = rest.split_at(end);
    let authority_end = before.find('/').unwrap_or(before.len());
    let (authority, path) = before.split_at(authority_end);
    let mut out = String::new();
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str("…@");
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if after.starts_with('?') {
        out.push_str("?…");
    }
    if after.contains('#') {
        out.push_str("#…");
    }
    out
}

/// Replaces every secret `send` knows of in a message.
pub struct Redactor {
    /// What to replace, longest first, and with what.
    replacements: Vec<(String, String)>,
}

impl Redactor {
    pub fn new(host: &str, api_key: &str, headers: &[(String, String)]) -> Redactor {
        let mut replacements = Vec::new();
        let host = host.trim();
        let shown = redact_url(host);
        if shown != host {
            replacements.push((host.to_owned(), shown));
        }
        // Pieces of the URL, should a message quote one on its own.
        let rest = host.split_once("://").map_or(host, |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((credentials, _)) = authority.rsplit_once('@') {
            replacements.push((credentials.to_owned(), "…".to_owned()));
        }
        if let Some((_, after)) = host.split_once('?') {
            let (query, fragment) = after.split_once('#').unwrap_or((after, ""));
            replacements.push((query.to_owned(), "…".to_owned()));
            replacements.push((fragment.to_owned(), "…".to_owned()));
            for pair in query.split('&') {
                let value = pair.split_once('=').map_or(pair, |(_, v)| v);
                replacements.push((value.to_owned(), "…".to_owned()));
            }
        } else if let Some((_, fragment)) = host.split_once('#') {
            replacements.push((fragment.to_owned(), "…".to_owned()));
        }
        replacements.push((api_key.to_owned(), "<redacted>".to_owned()));
        for (_, value) in headers {
            replacements.push((value.to_owned(), "<redacted>".to_owned()));
        }
        replacements.retain(|(secret, _)| secret.chars().count() >= MIN_SECRET_LEN);
        replacements.sort_by_key(|(secret, _)| std::cmp::Reverse(secret.len()));
        Redactor { replacements }
    }

    /// `message` with every secret replaced.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_owned();
        for (secret, shown) in &self.replacements {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), shown);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_never_quote_the_argument() {
        assert_eq!(
            parse_header(" X-Write-Key :  s3cret ").unwrap(),
            ("X-Write-Key".into(), "s3cret".into())
        );
        for arg in [
            "X-Write-Key=s3cret",
            "X-Write-Key=s3cret: x",
            "s3cret s3cret: x",
        ] {
            let e = parse_header(arg).unwrap_err();
            assert!(!e.contains("s3cret") && e.contains("Name: value"), "{e}");
        }
        assert!(parse_header(": v").is_err());
    }

    #[test]
    fn urls_lose_query_fragment_and_credentials() {
        assert_eq!(
            redact_url("https://example.com/e?token=s3cret"),
            "https://example.com/e?…"
        );
        assert_eq!(
            redact_url(" https://u:s3cret@example.com:8443/e?a=1#frag "),
            "https://…@example.com:8443/e?…#…"
        );
        assert_eq!(redact_url("example.com/e#s3cret"), "example.com/e#…");
        assert_eq!(
            redact_url("https://us.i.posthog.com"),
            "https://us.i.posthog.com"
        );
    }

    #[test]
    fn scrubs_every_known_secret() {
        let r = Redactor::new(
            "example.com/e?token=s3cret&x=1#fragment",
            "phc_key",
            &[("X-Write-Key".into(), "w-s3cret".into())],
        );
        let shown = r.scrub(
            "`example.com/e?token=s3cret&x=1#fragment` has no scheme: write `https://example.com/e?token=s3cret&x=1#fragment`; w-s3cret phc_key token=s3cret",
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("phc_key") && !shown.contains("fragment"),
            "{shown}"
        );
        assert!(shown.contains("`https://example.com/e?…#…`"), "{shown}");
    }
}
