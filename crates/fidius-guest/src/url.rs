//! The URL split the guest HTTP client needs: scheme, authority, and path
//! with query (portable, so it is tested on the host).

/// Splits an absolute `http://` or `https://` URL into (is https, authority,
/// path with query); the fragment is dropped and the path defaults to `/`.
pub(crate) fn split(url: &str) -> Result<(bool, &str, &str), String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("`{url}` needs a host (and no user info)"));
    }
    Ok((https, authority, if path.is_empty() { "/" } else { path }))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            split("http://127.0.0.1:8080/a/b?x=1#frag").unwrap(),
            (false, "127.0.0.1:8080", "/a/b?x=1")
        );
        assert_eq!(
            split("https://example.com").unwrap(),
            (true, "example.com", "/")
        );
        assert_eq!(split("http://h?q").unwrap(), (false, "h", "?q"));
        for bad in ["ftp://x/", "http:///x", "http://user@host/", "example.com"] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
