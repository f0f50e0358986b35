//! The overview: a branch's health matrix, per component and architecture.

use super::cell::*;
use super::incident::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Per-architecture count of red cells, for the summary line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ArchSummary {
    pub arch: String,
    pub red: usize,
    pub cells: usize,
}

/// The overview of one branch: components × architectures, each broken
/// down by build type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HealthMatrix {
    pub branch: String,
    pub branches: Vec<String>,
    pub generated_at: DateTime<Utc>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub summary: Vec<ArchSummary>,
    pub cells: Vec<Cell>,
    /// Open incidents of the branch: while there is one, it is frozen.
    #[serde(default)]
    pub incidents: Vec<Incident>,
}

/// The two architectures Magma ships come first; others follow by name.
fn arch_rank(arch: &str) -> (u8, &str) {
    match arch {
        "amd64" => (0, arch),
        "arm64" => (1, arch),
        other => (2, other),
    }
}

/// A branch's components (by name) and architectures (the usual first),
/// each once.
pub fn components_and_architectures(cells: &[Cell]) -> (Vec<String>, Vec<String>) {
    let mut components: Vec<String> = cells.iter().map(|c| c.cell.component.clone()).collect();
    components.sort();
    components.dedup();
    let mut architectures: Vec<String> = cells.iter().map(|c| c.cell.arch.clone()).collect();
    architectures.sort_by(|a, b| arch_rank(a).cmp(&arch_rank(b)).then_with(|| a.cmp(b)));
    architectures.dedup();
    (components, architectures)
}

impl HealthMatrix {
    pub fn new(
        branch: String,
        branches: Vec<String>,
        mut cells: Vec<Cell>,
        generated_at: DateTime<Utc>,
    ) -> Self {
        cells.sort_by(|a, b| {
            (
                a.cell.component.as_str(),
                arch_rank(&a.cell.arch),
                a.cell.build_type.as_str(),
            )
                .cmp(&(
                    b.cell.component.as_str(),
                    arch_rank(&b.cell.arch),
                    b.cell.build_type.as_str(),
                ))
        });
        let (components, architectures) = components_and_architectures(&cells);
        let summary = architectures
            .iter()
            .map(|arch| {
                let of_arch = cells.iter().filter(|c| &c.cell.arch == arch);
                ArchSummary {
                    arch: arch.clone(),
                    red: of_arch.clone().filter(|c| c.is_broken()).count(),
                    cells: of_arch.count(),
                }
            })
            .collect();
        HealthMatrix {
            branch,
            branches,
            generated_at,
            architectures,
            components,
            summary,
            cells,
            incidents: Vec::new(),
        }
    }

    /// The matrix after a live change of one cell; cells of other branches
    /// are ignored.
    pub fn with_cell(&self, cell: Cell) -> HealthMatrix {
        if cell.cell.branch != self.branch {
            return self.clone();
        }
        let mut cells = self.cells.clone();
        match cells.iter_mut().find(|c| {
            (&c.cell.component, &c.cell.arch, &c.cell.build_type)
                == (&cell.cell.component, &cell.cell.arch, &cell.cell.build_type)
        }) {
            Some(slot) => *slot = cell,
            None => cells.push(cell),
        }
        HealthMatrix {
            incidents: self.incidents.clone(),
            ..HealthMatrix::new(
                self.branch.clone(),
                self.branches.clone(),
                cells,
                self.generated_at,
            )
        }
    }

    /// Cells of one component on one architecture, ordered by build type.
    pub fn cells_of(&self, component: &str, arch: &str) -> Vec<Cell> {
        self.cells
            .iter()
            .filter(|c| c.cell.component == component && c.cell.arch == arch)
            .cloned()
            .collect()
    }
}
