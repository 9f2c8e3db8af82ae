//! Just enough of CloudWatch Logs' JSON filter-pattern language to check, in tests, that the
//! template's metric filters match the log lines the service really prints: `{ TERM && TERM ... }` or
//! `{ TERM || TERM ... }` where a TERM is `$.field = "text"`, `$.field != "text"`, `$.field = *`
//! (present) or `$.field OP number` with OP one of `=`, `!=`, `<`, `<=`, `>`, `>=`. Anything else
//! is refused with a panic, so a filter this cannot read fails the test rather than passing it.

use serde_json::Value;

/// True when `pattern` matches the JSON log `line`.
pub fn matches(pattern: &str, line: &Value) -> bool {
    let body = pattern
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a JSON filter pattern: {pattern}"));
    let (terms, all): (Vec<&str>, bool) = if body.contains("||") {
        assert!(
            !body.contains("&&"),
            "mixed && and || are not supported: {pattern}"
        );
        (body.split("||").collect(), false)
    } else {
        (body.split("&&").collect(), true)
    };
    let mut results = terms.iter().map(|term| {
        term_matches(
            term.trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim(),
            line,
        )
    });
    if all {
        results.all(|r| r)
    } else {
        results.any(|r| r)
    }
}

/// The value a metric transformation's `$.field` selector takes from `line`.
pub fn select<'a>(selector: &str, line: &'a Value) -> Option<&'a Value> {
    let path = selector
        .strip_prefix("$.")
        .unwrap_or_else(|| panic!("not a selector: {selector}"));
    path.split('.').try_fold(line, |value, key| value.get(key))
}

fn term_matches(term: &str, line: &Value) -> bool {
    let ops = ["!=", "<=", ">=", "=", "<", ">"];
    let (at, op) = ops
        .iter()
        .filter_map(|op| term.find(op).map(|at| (at, *op)))
        .min_by_key(|(at, op)| (*at, usize::MAX - op.len()))
        .unwrap_or_else(|| panic!("no operator in filter term: {term}"));
    let selector = term[..at].trim();
    let operand = term[at + op.len()..].trim();
    let value = select(selector, line);
    if operand == "*" {
        assert_eq!(op, "=", "only `= *` is supported: {term}");
        return value.is_some();
    }
    if let Some(text) = operand.strip_prefix('"').and_then(|o| o.strip_suffix('"')) {
        let equal = value.and_then(Value::as_str) == Some(text);
        return match op {
            "=" => equal,
            "!=" => !equal,
            _ => panic!("strings compare with = or != only: {term}"),
        };
    }
    let number: f64 = operand
        .parse()
        .unwrap_or_else(|_| panic!("operand is neither text nor number: {term}"));
    let Some(actual) = value.and_then(Value::as_f64) else {
        return false;
    };
    match op {
        "=" => actual == number,
        "!=" => actual != number,
        "<" => actual < number,
        "<=" => actual <= number,
        ">" => actual > number,
        ">=" => actual >= number,
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_match_fields_text_numbers_and_presence() {
        let line = json!({ "event": "convex_http_failure", "path": "/a", "latencyMs": 12.5 });
        assert!(matches(r#"{ $.event = "convex_http_failure" }"#, &line));
        assert!(!matches(r#"{ $.event = "convex_http_success" }"#, &line));
        assert!(matches(r#"{ $.latencyMs >= 0 }"#, &line));
        assert!(!matches(r#"{ $.latencyMs > 20 }"#, &line));
        assert!(matches(r#"{ ($.event = "x") || ($.path = "/a") }"#, &line));
        assert!(!matches(r#"{ ($.event = "x") && ($.path = "/a") }"#, &line));
        assert!(matches(r#"{ $.path = * }"#, &line));
        assert!(!matches(r#"{ $.status = * }"#, &line));
        assert!(!matches(r#"{ $.status >= 0 }"#, &line));
        assert_eq!(select("$.path", &line), Some(&json!("/a")));
    }
}
