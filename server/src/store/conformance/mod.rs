//! Behaviour every store must have. Each store instantiates the whole suite
//! with [`conformance_suite!`], giving it a fresh, empty store per test.

mod fixtures;
mod incidents;
mod ingestion;
mod quarantine;
mod reads;
mod test_results;
mod tokens;

pub use fixtures::build;
pub use incidents::*;
pub use ingestion::*;
pub use quarantine::*;
pub use reads::*;
pub use test_results::*;
pub use tokens::*;

/// Instantiates every conformance test for one store. `$make` is an async
/// expression giving `(store, guard)`; the guard keeps test resources alive.
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::store::conformance::conformance_suite!(@tests $make;
            stores_every_field,
            cells_follow_ingestion,
            late_arrivals_do_not_overwrite,
            replays_are_no_ops_and_updates_apply,
            builds_belong_to_the_token_that_posted_them,
            keeps_incidents,
            keeps_acknowledgements,
            queues_and_leases_deliveries,
            queues_a_delivery_once,
            keeps_quarantine_entries,
            keeps_known_issue_rules,
            keeps_failure_reasons,
            keeps_test_results,
            reports_what_an_upload_moved,
            stores_builds_at_the_validation_limits,
            tracks_many_long_test_names,
            records_manual_freezes,
            batches_are_all_or_nothing,
            lists_branches,
            many_builds_in_one_cell,
            batch_order_does_not_matter,
            manages_tokens,
            finds_commits_by_prefix_and_pr,
            finds_baselines,
            recent_commits_and_versions,
            pages_commits_through_ties,
            pages_builds_newest_first,
            scans_a_cells_builds_newest_first,
            ties_in_start_time_are_ordered_by_id,
            announces_cell_changes,
        );
    };
    (@tests $make:expr; $($name:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                // None: a store that is not there to test (see `emulator`).
                let made = $make;
                let Some((store, _guard)) = made else {
                    return;
                };
                $crate::store::conformance::$name(&*store).await;
            }
        )*
    };
}
pub(crate) use conformance_suite;

/// The Firestore emulator's address, when there is one to test against. A
/// plain `cargo test` without it says once how to run the Firestore suite
/// and skips it; `./scripts/test` sets `CI_DASHBOARD_REQUIRE_EMULATOR`, so
/// there a missing emulator fails every Firestore test instead.
pub fn emulator() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let host = std::env::var("FIRESTORE_EMULATOR_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    if host.is_none() {
        assert!(
            std::env::var_os("CI_DASHBOARD_REQUIRE_EMULATOR").is_none(),
            "FIRESTORE_EMULATOR_HOST is unset, and this run requires the Firestore emulator"
        );
        // Straight to stderr: the test harness would capture eprintln!.
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "Firestore suite skipped: it needs the emulator. Run ./scripts/test, or start \
                 the emulator and set FIRESTORE_EMULATOR_HOST (README, \"Deploying on Cloud \
                 Firestore\")."
            );
        });
    }
    host
}
