//! Collection names and document ids: escaped, bounded to Firestore's
//! 1,500 bytes, and ordered where queries need an order.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::store::CellId;

pub(super) const BUILDS: &str = "builds";
pub(super) const CELLS: &str = "cells";
pub(super) const COMMITS: &str = "commits";
pub(super) const VERSIONS: &str = "versions";
pub(super) const BRANCHES: &str = "branches";
pub(super) const TOKENS: &str = "tokens";
pub(super) const INCIDENTS: &str = "incidents";
pub(super) const FREEZE_EVENTS: &str = "freeze_events";
pub(super) const DELIVERIES: &str = "deliveries";
pub(super) const TEST_FILES: &str = "test_files";
pub(super) const TEST_TOTALS: &str = "test_totals";
pub(super) const TEST_FAILURES: &str = "test_failures";
pub(super) const TEST_STATS: &str = "test_stats";
pub(super) const TEST_CELLS: &str = "test_cells";
pub(super) const QUARANTINE: &str = "quarantine";
pub(super) const KNOWN_ISSUES: &str = "known_issues";
pub(super) const REASONS: &str = "reasons";

/// A part of a document id: Firestore ids cannot contain `/`, and `|`
/// separates parts, so both are escaped (and `%`, to keep it reversible).
pub(super) fn key_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '|' => out.push_str("%7C"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes a document id may hold (Firestore's limit).
pub(super) const MAX_DOC_ID: usize = 1_500;

pub(super) fn doc_id(parts: &[&str]) -> String {
    let id = parts
        .iter()
        .map(|p| key_part(p))
        .collect::<Vec<_>>()
        .join("|");
    // Firestore reserves `.`, `..` and `__name__`-like ids.
    let id = if id.starts_with('.') || id.starts_with("__") {
        format!("%{:02X}{}", id.as_bytes()[0], &id[1..])
    } else {
        id
    };
    if id.len() <= MAX_DOC_ID {
        return id;
    }
    // Validated parts can add up past the limit (a long branch of escaped
    // characters and a long version): such an id keeps a readable start and
    // ends with the digest of the whole, so it stays unique and fits. Ids
    // that fit are unchanged, so no stored document moves.
    let digest = hex::encode(Sha256::digest(id.as_bytes()));
    let mut keep = MAX_DOC_ID - digest.len() - 1;
    while !id.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}~{digest}", &id[..keep])
}

pub(super) fn cell_key(cell: &CellId) -> String {
    doc_id(&[&cell.branch, &cell.component, &cell.arch, &cell.build_type])
}

/// One string that sorts like `(started_at, id)`, so ordering, cursors and
/// "since" are all a single range on one indexed field.
pub(super) fn seq(started_at: DateTime<Utc>, id: &str) -> String {
    format!("{:020}|{id}", started_at.timestamp_micros().max(0))
}

pub(super) fn seq_floor(started_at: DateTime<Utc>) -> String {
    format!("{:020}|", started_at.timestamp_micros().max(0))
}

/// A test's name as a short fixed-size key.
pub(super) fn test_key(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

pub(super) fn test_stats_id(cell: &CellId, name: &str) -> String {
    doc_id(&[&cell_key(cell), &test_key(name)])
}
