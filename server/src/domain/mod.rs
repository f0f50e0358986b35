//! Pure rules: no HTTP, no storage, no clock unless passed in. Tested with
//! plain data.

pub mod badge;
pub mod health;
pub mod history;
pub mod release;
pub mod token;
pub mod validation;
pub mod verdict;
