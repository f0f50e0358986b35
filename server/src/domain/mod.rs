//! Pure rules: no HTTP, no storage, no clock unless passed in. Tested with
//! plain data.

pub mod badge;
pub mod console;
pub mod field_error;
pub mod github;
pub mod health;
pub mod history;
pub mod ids;
pub mod incident;
pub mod junit;
pub mod known_issue;
pub mod notification;
pub mod quarantine;
pub mod reason;
pub mod release;
pub mod report;
pub mod signal;
pub mod stale;
pub mod test_stats;
pub mod test_verdict;
pub mod token;
pub mod validation;
pub mod verdict;
