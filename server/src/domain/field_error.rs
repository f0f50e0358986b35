//! The one error of every parser of untrusted input: which field is wrong
//! and why, in words a CI job's log can show.

use serde_json::{Map, Value};

/// A rejected input, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// `None` when the body as a whole is wrong.
    pub field: Option<String>,
    pub message: String,
    /// Position in a posted array.
    pub index: Option<usize>,
}

impl FieldError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.to_string()),
            message: message.into(),
            index: None,
        }
    }

    pub fn body(message: impl Into<String>) -> Self {
        FieldError {
            field: None,
            message: message.into(),
            index: None,
        }
    }

    /// The error is about the `index`th element of a posted array.
    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}
/// A request body's JSON object whose fields are all among `allowed`.
pub fn object<'a>(body: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, FieldError> {
    let body = body
        .as_object()
        .ok_or_else(|| FieldError::body("the body must be a JSON object"))?;
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(FieldError::field(
            unknown,
            format!("unknown field '{unknown}'"),
        )),
        None => Ok(body),
    }
}

/// An optional text field, trimmed; absent, null or blank is `None`.
pub fn text<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(FieldError::field(
            field,
            format!("{field} must be a string"),
        )),
    }
}
