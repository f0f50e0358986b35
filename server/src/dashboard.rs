//! Assembles what pages and the JSON API show from the precomputed cells.

use std::sync::Arc;

use app::model::HealthMatrix;
use app::ssr::{Dashboard, DashboardError};
use chrono::Utc;

use crate::error::ApiError;
use crate::ingest::{parse_branch, FieldError};
use crate::store::Store;

#[derive(Clone)]
pub struct Views {
    pub store: Arc<dyn Store>,
    pub default_branch: String,
}

impl Views {
    /// Two reads whatever the history size: the branch's cells and the
    /// branch list.
    pub async fn health(&self, branch: Option<String>) -> Result<HealthMatrix, ApiError> {
        let branch = match branch.filter(|b| !b.is_empty()) {
            Some(b) => parse_branch(&b)?,
            None => self.default_branch.clone(),
        };
        let (cells, mut branches) =
            tokio::try_join!(self.store.cells(&branch), self.store.branches())?;
        for known in [&self.default_branch, &branch] {
            if !branches.contains(known) {
                branches.push(known.clone());
            }
        }
        branches.sort_by(|a, b| {
            (a != &self.default_branch, a.as_str()).cmp(&(b != &self.default_branch, b.as_str()))
        });
        Ok(HealthMatrix::new(branch, branches, cells, Utc::now()))
    }
}

#[async_trait::async_trait]
impl Dashboard for Views {
    async fn health(&self, branch: Option<String>) -> Result<HealthMatrix, DashboardError> {
        Views::health(self, branch).await.map_err(|e| match e {
            ApiError::Invalid(FieldError { message, .. }) => DashboardError::BadRequest(message),
            _ => DashboardError::Unavailable,
        })
    }
}
