//! Links, each written one way: pages of the dashboard (a branch is always a
//! percent-encoded query parameter), GitHub, and which URLs may be rendered.

pub fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The release page of a branch (the branch as a query parameter, as in
/// [`CellId::history_path`]).
pub fn release_path(branch: &str) -> String {
    format!("/release?branch={}", encoded(branch))
}

/// The release API of a branch.
pub fn release_api_path(branch: &str) -> String {
    format!("/api/v1/release?branch={}", encoded(branch))
}

/// The merge-freeze API of a branch (read, or set with a token).
pub fn freeze_api_path(branch: &str) -> String {
    format!("/api/v1/freeze?branch={}", encoded(branch))
}

/// The badge of a component on a branch, or of one of its architectures.
pub fn badge_path(branch: &str, component: &str, arch: Option<&str>) -> String {
    let arch = arch
        .map(|a| format!("&arch={}", encoded(a)))
        .unwrap_or_default();
    format!(
        "/badge.svg?branch={}&component={}{arch}",
        encoded(branch),
        encoded(component)
    )
}

/// Links to GitHub, each written one way. Repositories (`owner/name`),
/// commits (hex) and PR numbers are validated at ingestion, so the URLs are
/// well formed.
pub mod github {
    pub fn commit(repository: &str, commit: &str) -> String {
        format!("https://github.com/{repository}/commit/{commit}")
    }

    pub fn compare(repository: &str, from: &str, to: &str) -> String {
        format!("https://github.com/{repository}/compare/{from}...{to}")
    }

    pub fn pull(repository: &str, pr: u64) -> String {
        format!("https://github.com/{repository}/pull/{pr}")
    }
}

/// The overview of a branch (the branch as a query parameter, like every
/// page of one branch).
pub fn overview_path(branch: &str) -> String {
    format!("/?branch={}", encoded(branch))
}

/// A path segment or query value: everything but unreserved characters
/// (RFC 3986) percent-encoded.
pub fn encoded(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `/test/<component>/<build_type>?branch=<branch>&name=<test>`: the branch
/// a query parameter, as on every page of one branch.
pub fn test_history_path(branch: &str, component: &str, build_type: &str, name: &str) -> String {
    format!(
        "/test/{}/{}?branch={}&name={}",
        encoded(component),
        encoded(build_type),
        encoded(branch),
        encoded(name)
    )
}
