//! The queue and health as the console's operator pages show them.

use axum::extract::State;
use serde::Serialize;

use super::extract::{AppJson, Auth, require_superadmin};
use super::problem::Problem;
use super::responses::Forbidden;
use super::state::AppState;
use exporter_auth::Role;
use exporter_jobs::overview::{self, LastHour, OrganizationLoad};
use exporter_jobs::view::JobView;

/// Dead letters shown at once.
const DEAD_LETTERS: i64 = 100;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    /// Pending and Processing jobs per organization.
    organizations: Vec<OrganizationQueue>,
    /// Jobs of one organization that run at once.
    organization_cap: usize,
    last_hour: LastHourView,
    /// Dead-lettered jobs, newest first, each with its error history.
    dead_letters: Vec<JobView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationQueue {
    organization_id: String,
    name: String,
    pending: i64,
    processing: i64,
}

impl From<OrganizationLoad> for OrganizationQueue {
    fn from(load: OrganizationLoad) -> Self {
        Self {
            organization_id: load.organization_id,
            name: load.name,
            pending: load.pending,
            processing: load.processing,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastHourView {
    completed: i64,
    failed: i64,
    dead_lettered: i64,
    rows_exported: i64,
}

impl From<LastHour> for LastHourView {
    fn from(hour: LastHour) -> Self {
        Self {
            completed: hour.completed,
            failed: hour.failed,
            dead_lettered: hour.dead_lettered,
            rows_exported: hour.rows_exported,
        }
    }
}

/// The queue: every organization's for a SuperAdmin, their own for an
/// Admin.
#[utoipa::path(get, path = "/api/admin/queue", operation_id = "getQueue", tag = "export jobs",
    responses((status = 200, description = "The queue", body = QueueView),
        (status = 403, response = Forbidden)),
    security(("bearer" = [])))]
pub async fn queue(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<AppJson<QueueView>, Problem> {
    let organization = match caller.role {
        Role::SuperAdmin => None,
        Role::Admin => Some(caller.organization_id.as_str()),
        _ => {
            return Err(Problem::forbidden(
                "the queue is for Admins and SuperAdmins",
            ));
        }
    };
    let organizations = state.repo.load_by_organization(organization).await?;
    let last_hour = state.repo.last_hour(organization).await?;
    let mut dead_letters = Vec::new();
    for job in state.repo.dead_letters(organization, DEAD_LETTERS).await? {
        let errors = state.repo.errors(&job.id).await?;
        dead_letters.push(JobView::new(&job, None).with_errors(&errors));
    }
    Ok(AppJson(QueueView {
        organizations: organizations.into_iter().map(Into::into).collect(),
        organization_cap: state.settings.organization_cap,
        last_hour: last_hour.into(),
        dead_letters,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    database: Readiness,
    blob_store: Readiness,
    workers: WorkerReadiness,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    ready: bool,
    detail: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerReadiness {
    ready: bool,
    detail: String,
    /// Workers that checked in within the last two minutes.
    count: i64,
}

/// The readiness of every dependency, each with why (where `/readyz`
/// stops at the first that fails).
#[utoipa::path(get, path = "/api/admin/health", operation_id = "getHealth", tag = "operations",
    responses((status = 200, description = "Each dependency's readiness", body = HealthView),
        (status = 403, response = Forbidden)),
    security(("bearer" = [])))]
pub async fn health(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<AppJson<HealthView>, Problem> {
    require_superadmin(&caller, "the health page")?;
    let database = match state.repo.ping().await {
        Ok(()) => Readiness {
            ready: true,
            detail: format!("{:?} answers", state.db.engine()),
        },
        Err(e) => Readiness {
            ready: false,
            detail: format!("the database does not answer: {e}"),
        },
    };
    let blob_store = match state.blobs.check_writable().await {
        Ok(()) => Readiness {
            ready: true,
            detail: format!("{} takes writes", state.blobs.url()),
        },
        Err(e) => Readiness {
            ready: false,
            detail: format!("the blob store does not take writes: {e:#}"),
        },
    };
    let workers = match overview::live_workers(&state.db).await {
        Ok(0) => WorkerReadiness {
            ready: false,
            detail: format!(
                "no worker checked in within {} seconds: jobs wait until one runs",
                overview::WORKER_SEEN_WITHIN_SECONDS
            ),
            count: 0,
        },
        Ok(count) => WorkerReadiness {
            ready: true,
            detail: format!("{count} worker(s) checked in recently"),
            count,
        },
        Err(e) => WorkerReadiness {
            ready: false,
            detail: format!("the queue's worker table cannot be read: {e}"),
            count: 0,
        },
    };
    Ok(AppJson(HealthView {
        database,
        blob_store,
        workers,
    }))
}
