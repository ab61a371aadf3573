//! Where in the document a syntax error is: serde_json reports a line and a
//! column for malformed JSON (invalid UTF-8, nesting beyond its recursion limit,
//! a stray byte) but no field. This scanner walks the text up to that point,
//! keeping the stack of keys and array indices, so the error can name the
//! field it happened in (`hostname`, `annotations.a[0][0]`).

/// A step of the path.
enum Step {
    Key(String),
    Index(usize),
}

/// The JSON path (as serde_path_to_error writes it) of the value being read at
/// `line`:`column` (1-based, as serde_json counts), or `.` at the top.
pub fn path_at(text: &[u8], line: usize, column: usize) -> String {
    let end = offset(text, line, column).min(text.len());
    let mut stack: Vec<Step> = Vec::new();
    // The last string read, and whether it was an object key (a ':' follows).
    let mut last_string: Option<String> = None;
    let mut i = 0;
    while i < end {
        match text[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < end && text[i] != b'"' {
                    if text[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                last_string = Some(String::from_utf8_lossy(&text[start..i.min(end)]).into_owned());
            }
            b':' => {
                if let (Some(k), Some(Step::Key(cur))) = (last_string.take(), stack.last_mut()) {
                    *cur = k;
                }
            }
            b'{' => stack.push(Step::Key(String::new())),
            b'[' => stack.push(Step::Index(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Step::Index(n)) = stack.last_mut() {
                    *n += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for s in &stack {
        match s {
            Step::Key(k) if k.is_empty() => {}
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// The byte offset of 1-based `line`:`column`.
fn offset(text: &[u8], line: usize, column: usize) -> usize {
    let mut l = 1;
    let mut start = 0;
    for (i, b) in text.iter().enumerate() {
        if l == line {
            break;
        }
        if *b == b'\n' {
            l += 1;
            start = i + 1;
        }
    }
    start + column
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_error(text: &[u8]) -> String {
        let e = serde_json::from_slice::<serde_json::Value>(text).unwrap_err();
        path_at(text, e.line(), e.column())
    }

    #[test]
    fn names_the_field_of_a_syntax_error() {
        assert_eq!(at_error(b"{\"a\":1,\"hostname\":\"ru\xffn\"}"), "hostname");
        let deep = format!(
            "{{\"x\":[1,2],\"annotations\":{{\"a\":{}}}}}",
            "[".repeat(300)
        );
        let p = at_error(deep.as_bytes());
        assert!(p.starts_with("annotations.a[0][0]"), "{p}");
        assert!(at_error(b"{\"process\":{\"args\":[\"a\",\"b\",}}").starts_with("process.args"));
        assert_eq!(at_error(b"{ not json"), ".");
    }
}
