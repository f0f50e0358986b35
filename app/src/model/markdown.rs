//! Text from posts inside Markdown: code spans and link destinations that
//! nothing in them can end.

/// `text` as a Markdown code span that nothing in it can end: the fence is
/// one backtick longer than the longest run of backticks inside.
pub fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A URL as a Markdown link destination inside a table row: characters that
/// would end the link, the row or the cell are percent-encoded.
pub(crate) fn link_destination(url: &str) -> String {
    const ENDS: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'(')
        .add(b')')
        .add(b'<')
        .add(b'>')
        .add(b'[')
        .add(b']')
        .add(b'`')
        .add(b'|');
    percent_encoding::utf8_percent_encode(url, ENDS).to_string()
}
