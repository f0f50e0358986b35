//! The one error of every parser of untrusted input: which field is wrong
//! and why, in words a CI job's log can show.

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
