//! How values read on pages and in reports: short SHAs, ages, rates, spans,
//! streaks. Integer formatting only: float printing would grow the WASM.

use chrono::{DateTime, Utc};

pub fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// "3h ago", relative to when the page data was made, so the server render
/// and the hydrated render produce the same text.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds().max(0);
    match secs {
        0..=59 => "just now".to_string(),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// What a stale cell says: "stale: last build 2d ago".
pub fn stale_text(last_build: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match last_build {
        Some(at) => format!("stale: last build {}", ago(at, now)),
        None => "stale".to_string(),
    }
}

/// A length of time as people say it: "2d 3h", "5h 10m", "12m", "40s".
/// A rate as pages and reports write it: "50%", "33.3%", "–" for none.
/// Integer formatting on purpose: `{:.1}` on a float would pull Rust's float
/// printing (about 20 KB) into the WASM bundle.
pub fn percent(ratio: Option<f64>) -> String {
    let Some(ratio) = ratio else {
        return "–".to_string();
    };
    let tenths = (ratio * 1000.0).round() as i64;
    match tenths % 10 {
        0 => format!("{}%", tenths / 10),
        tenth => format!("{}.{tenth}%", tenths / 10),
    }
}

pub fn span(seconds: i64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A report's current streak: "3 passing", "2 failing".
pub fn streak_text(streak: i64) -> String {
    match streak {
        0 => "–".into(),
        n if n > 0 => format!("{n} passing"),
        n => format!("{} failing", -n),
    }
}
