//! What may be written to a step row: Postgres refuses NUL characters in text and jsonb, and a
//! provider's message is shown on a page, so both are cleaned before they are recorded.

use serde_json::Value;

/// Longest message kept; providers sometimes answer with whole HTML pages.
const MAX_MESSAGE_CHARS: usize = 2000;

/// Control characters (NUL among them) become spaces, except line breaks and tabs; the message is
/// cut at a readable length.
pub fn sanitize_message(message: &str) -> String {
    let mut clean: String = message
        .chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\t' { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        clean.push('…');
    }
    clean
}

/// The same for every string in a recorded output, keys included.
pub fn sanitize_json(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains('\0') => Value::String(s.replace('\0', " ")),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize_json).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k.replace('\0', " "), sanitize_json(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_in_a_provider_message_becomes_a_space() {
        assert_eq!(sanitize_message("bad\0name\nnext"), "bad name\nnext");
    }

    #[test]
    fn a_very_long_message_is_cut() {
        let cut = sanitize_message(&"x".repeat(5000));
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn outputs_lose_nul_bytes_everywhere() {
        let v = sanitize_json(serde_json::json!({"a\0": ["x\0y", {"b": "c\0"}]}));
        assert_eq!(v, serde_json::json!({"a ": ["x y", {"b": "c "}]}));
    }
}
