//! `ci-dashboard import-legacy` on the synthetic export in fixtures/.

use chrono::Utc;
use server::cli::legacy::{entries, import};
use server::domain::validation::Context;
use server::store::embedded::EmbeddedStore;
use server::store::Store;

const EXPORT: &str = include_str!("../fixtures/legacy-export.json");

#[tokio::test]
async fn imports_the_old_database_once_and_reports_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let views = server::startup::service(&crate::common::settings(), store.clone()).unwrap();
    let export: serde_json::Value = serde_json::from_str(EXPORT).unwrap();
    let ctx = Context {
        default_repository: "magma/magma",
        now: Utc::now(),
    };
    let mut progressed = 0;
    let summary = import(&views, entries(&export, &ctx), |n| progressed += n)
        .await
        .unwrap();
    assert_eq!((summary.imported, summary.unchanged), (13, 0));
    assert_eq!(progressed, 13);
    let mut skipped: Vec<&str> = summary.skipped.iter().map(|(p, _)| p.as_str()).collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            "builds/2222222222222222222222222222222222222222/cwag",
            "builds/2222222222222222222222222222222222222222/orc8r",
            "builds/3333333333333333333333333333333333333333",
            "builds/zz",
            "workers/broken_worker",
            "workers/cwf_integ_test/reports/2222222222222222222222222222222222222222",
        ]
    );
    let reasons: Vec<&str> = summary.skipped.iter().map(|(_, r)| r.as_str()).collect();
    assert!(reasons.contains(&"unknown verdict 'flaky'"), "{reasons:?}");

    let cells = store.cells("master").await.unwrap();
    let cell = |component: &str, arch: &str, build_type: &str| {
        cells
            .iter()
            .find(|c| {
                (
                    c.cell.component.as_str(),
                    c.cell.arch.as_str(),
                    c.cell.build_type.as_str(),
                ) == (component, arch, build_type)
            })
            .unwrap_or_else(|| panic!("cell {component}/{arch}/{build_type}"))
    };
    let arm = cell("agw", "arm64", "build");
    assert_eq!(arm.status().as_str(), "fail");
    assert_eq!(arm.streak.as_ref().unwrap().builds, 1);
    assert_eq!(
        cell("agw", "amd64", "lte-integ-test").status().as_str(),
        "error"
    );
    assert_eq!(
        cell("cwag", "amd64", "cwf-integ-test").status().as_str(),
        "fail"
    );
    let lte = store
        .build("legacy:111111111111:lte_integ_test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        lte.url.as_deref(),
        Some("https://storage.googleapis.com/magma-ci/lte/1111.html")
    );

    // Importing again changes nothing.
    let again = import(&views, entries(&export, &ctx), |_| {})
        .await
        .unwrap();
    assert_eq!((again.imported, again.unchanged), (0, 13));
    assert_eq!(store.cells("master").await.unwrap(), cells);
}
