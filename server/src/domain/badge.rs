//! Status badges for READMEs: a small flat SVG, text escaped.

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Verdana 11px averages about 7 pixels a character; close enough for a
/// badge and needs no font metrics on the server.
fn width(text: &str) -> usize {
    text.chars().count() * 7 + 12
}

pub fn render(label: &str, state: &str) -> String {
    let colour = match state {
        "passing" => "#1a7f37",
        "failing" => "#b42318",
        _ => "#6e7781",
    };
    let (lw, sw) = (width(label), width(state));
    let total = lw + sw;
    let (label, state_text) = (escape(label), escape(state));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {state_text}"><title>{label}: {state_text}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{sw}" height="20" fill="{colour}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{sx}" y="14">{state_text}</text></g></svg>"##,
        lx = lw / 2,
        sx = lw + sw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_escape_their_text() {
        let svg = render("a<b>&\"", "failing");
        assert!(svg.contains("a&lt;b&gt;&amp;&quot;"));
        assert!(svg.contains("#b42318"));
        assert!(render("agw", "passing").contains("#1a7f37"));
        assert!(render("agw", "unknown").contains("#6e7781"));
    }
}
