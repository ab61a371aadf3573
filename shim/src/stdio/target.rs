//! The stdio URIs containerd sends: a fifo path or `fifo://`, `file://`,
//! `binary://path?args`, or nothing.

/// What a stdout/stderr string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Nothing: /dev/null.
    Null,
    /// A fifo made by containerd.
    Fifo(String),
    /// A logging binary with its arguments.
    Binary {
        /// The binary.
        path: String,
        /// `k v` pairs from the query.
        args: Vec<String>,
    },
    /// A file appended to.
    File(String),
}

/// Decodes `%XX` escapes (and `+` as a space in a query, as Go's url package).
fn percent_decode(s: &str, query: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if query && b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses containerd's stdio string (a path, or a `scheme://` URI).
pub fn parse_target(s: &str) -> Result<Target, String> {
    if s.is_empty() {
        return Ok(Target::Null);
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Ok(Target::Fifo(s.to_string()));
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    // `scheme://host/path`: containerd uses an empty host.
    let path = percent_decode(path, false);
    match scheme {
        "fifo" => Ok(Target::Fifo(path)),
        "file" => Ok(Target::File(path)),
        "binary" => {
            let mut args = Vec::new();
            for kv in query.split('&').filter(|kv| !kv.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                args.push(percent_decode(k, true));
                if !v.is_empty() {
                    args.push(percent_decode(v, true));
                }
            }
            Ok(Target::Binary { path, args })
        }
        other => Err(format!("unsupported stdio scheme {other:?} in {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_containerd() {
        assert_eq!(parse_target("").unwrap(), Target::Null);
        assert_eq!(
            parse_target("/run/x/c-stdout").unwrap(),
            Target::Fifo("/run/x/c-stdout".into())
        );
        assert_eq!(
            parse_target("fifo:///run/x/f").unwrap(),
            Target::Fifo("/run/x/f".into())
        );
        assert_eq!(
            parse_target("file:///var/log/a%20b.log").unwrap(),
            Target::File("/var/log/a b.log".into())
        );
        assert_eq!(
            parse_target("binary:///usr/bin/logger?id=7&verbose").unwrap(),
            Target::Binary {
                path: "/usr/bin/logger".into(),
                args: vec!["id".into(), "7".into(), "verbose".into()],
            }
        );
        assert!(parse_target("http://x/y").is_err());
    }
}
