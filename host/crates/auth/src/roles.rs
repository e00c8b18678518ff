//! Roles and the permission rules of the API, in one place.

use serde::{Deserialize, Serialize};

/// A user's role, as stored in `users.role` and carried in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Role {
    SuperAdmin,
    Admin,
    Manager,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "SuperAdmin",
            Role::Admin => "Admin",
            Role::Manager => "Manager",
            Role::Member => "Member",
        }
    }

    /// Whether this role is `floor` or above it (SuperAdmin > Admin >
    /// Manager > Member).
    pub fn is_at_least(self, floor: Role) -> bool {
        self.rank() >= floor.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::SuperAdmin => 3,
            Role::Admin => 2,
            Role::Manager => 1,
            Role::Member => 0,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "SuperAdmin" => Some(Role::SuperAdmin),
            "Admin" => Some(Role::Admin),
            "Manager" => Some(Role::Manager),
            "Member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// A non-SuperAdmin named another organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForeignOrganization;

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub organization_id: String,
    pub role: Role,
}

impl Caller {
    /// Export jobs: create, list, poll, download.
    pub fn can_use_export_jobs(&self) -> bool {
        matches!(self.role, Role::SuperAdmin | Role::Admin | Role::Manager)
    }

    /// Synchronous data export and the admin dashboard.
    pub fn can_export_directly(&self) -> bool {
        matches!(self.role, Role::SuperAdmin | Role::Admin)
    }

    /// The organization a query of this caller reads: SuperAdmins whatever
    /// they name (`None`: all), everyone else their own. Naming another
    /// organization without being a SuperAdmin is refused.
    pub fn organization_scope(
        &self,
        requested: Option<String>,
    ) -> Result<Option<String>, ForeignOrganization> {
        match requested {
            _ if self.role == Role::SuperAdmin => Ok(requested),
            Some(org) if org != self.organization_id => Err(ForeignOrganization),
            _ => Ok(Some(self.organization_id.clone())),
        }
    }

    /// Whether this caller may export every row of `coverage`: a
    /// SuperAdmin any organization's, an Admin or Manager their own
    /// organization's only, a Member none (Members do not export).
    pub fn is_entitled_to(&self, coverage: &Coverage) -> bool {
        match (self.role, coverage) {
            (Role::SuperAdmin, _) => true,
            (Role::Member, _) => false,
            (Role::Admin | Role::Manager, Coverage::Organization(org)) => {
                *org == self.organization_id
            }
            (Role::Admin | Role::Manager, Coverage::AllOrganizations) => false,
        }
    }

    /// The jobs this caller may see. A job is visible only to callers
    /// entitled to every row it contains, so visibility follows what the
    /// job covers, never the organization of whoever created it (a
    /// SuperAdmin's export of globex is globex's data, not acme's):
    ///
    /// - a job of every organization's rows: SuperAdmins only;
    /// - a job of one organization's rows: SuperAdmins, that organization's
    ///   Admins (it is their data), and its creator while the creator is
    ///   still entitled to that organization's rows (a Manager of that
    ///   organization; a Manager moved elsewhere loses it);
    /// - Members: none.
    ///
    /// `repo::JobRepo::list` turns the same scope into SQL, so a list shows
    /// exactly the jobs a `GET` would.
    pub fn job_scope(&self) -> JobScope {
        match self.role {
            Role::SuperAdmin => JobScope::Every,
            Role::Admin => JobScope::Covering(self.organization_id.clone()),
            Role::Manager => JobScope::OwnCovering {
                organization_id: self.organization_id.clone(),
                user_id: self.user_id.clone(),
            },
            Role::Member => JobScope::Nothing,
        }
    }

    /// Whether this caller may see a job covering `coverage`, created by
    /// `created_by` (see `job_scope`).
    pub fn can_see_job(&self, coverage: &Coverage, created_by: &str) -> bool {
        self.job_scope().admits(coverage, created_by)
    }
}

/// Whose rows an export job's files hold, recorded when the job is created
/// (`export_jobs.covered_organization_id`) from its organization filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// One organization's rows: the job was filtered to it (every job of a
    /// non-SuperAdmin is pinned to their own organization).
    Organization(String),
    /// Every organization's rows: a SuperAdmin's export with no
    /// organization filter.
    AllOrganizations,
}

impl Coverage {
    /// From the stored column, where NULL means every organization: a row
    /// that somehow lacks its coverage is shown to SuperAdmins only.
    pub fn from_column(organization_id: Option<&str>) -> Self {
        match organization_id {
            Some(org) => Coverage::Organization(org.to_owned()),
            None => Coverage::AllOrganizations,
        }
    }

    /// The column's value (see `from_column`).
    pub fn to_column(&self) -> Option<String> {
        match self {
            Coverage::Organization(org) => Some(org.clone()),
            Coverage::AllOrganizations => None,
        }
    }
}

/// Which jobs a caller may see (`Caller::job_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobScope {
    /// SuperAdmins: every job.
    Every,
    /// Admins: the jobs covering exactly their organization.
    Covering(String),
    /// Managers: their own jobs covering exactly their organization.
    OwnCovering {
        organization_id: String,
        user_id: String,
    },
    /// Members: none.
    Nothing,
}

impl JobScope {
    pub fn admits(&self, coverage: &Coverage, created_by: &str) -> bool {
        let covers = |org: &str| matches!(coverage, Coverage::Organization(c) if c == org);
        match self {
            JobScope::Every => true,
            JobScope::Covering(org) => covers(org),
            JobScope::OwnCovering {
                organization_id,
                user_id,
            } => covers(organization_id) && created_by == user_id,
            JobScope::Nothing => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            user_id: "u1".into(),
            organization_id: "acme".into(),
            role,
        }
    }

    #[test]
    fn job_visibility_follows_what_the_job_covers() {
        let acme = Coverage::Organization("acme".into());
        let globex = Coverage::Organization("globex".into());
        let all = Coverage::AllOrganizations;
        assert!(caller(Role::SuperAdmin).can_see_job(&globex, "u9"));
        assert!(caller(Role::SuperAdmin).can_see_job(&all, "u9"));
        assert!(caller(Role::Admin).can_see_job(&acme, "u9"));
        assert!(!caller(Role::Admin).can_see_job(&globex, "u9"));
        // Created by this Admin, but not only their organization's rows.
        assert!(!caller(Role::Admin).can_see_job(&globex, "u1"));
        assert!(!caller(Role::Admin).can_see_job(&all, "u1"));
        assert!(caller(Role::Manager).can_see_job(&acme, "u1"));
        assert!(!caller(Role::Manager).can_see_job(&acme, "u9"));
        // A Manager moved to another organization loses their old jobs.
        assert!(!caller(Role::Manager).can_see_job(&globex, "u1"));
        assert!(!caller(Role::Member).can_see_job(&acme, "u1"));
        assert!(!caller(Role::Member).can_use_export_jobs());
        assert!(!caller(Role::Manager).can_export_directly());
        assert!(caller(Role::Admin).can_export_directly());
        assert!(caller(Role::SuperAdmin).is_entitled_to(&all));
        assert!(!caller(Role::Admin).is_entitled_to(&all));
        assert!(caller(Role::Manager).is_entitled_to(&acme));
        assert!(!caller(Role::Member).is_entitled_to(&acme));
    }

    #[test]
    fn only_superadmins_leave_their_organization() {
        let admin = caller(Role::Admin);
        assert_eq!(admin.organization_scope(None), Ok(Some("acme".into())));
        assert_eq!(
            admin.organization_scope(Some("acme".into())),
            Ok(Some("acme".into()))
        );
        assert_eq!(
            admin.organization_scope(Some("globex".into())),
            Err(ForeignOrganization)
        );
        let superadmin = caller(Role::SuperAdmin);
        assert_eq!(superadmin.organization_scope(None), Ok(None));
        assert_eq!(
            superadmin.organization_scope(Some("globex".into())),
            Ok(Some("globex".into()))
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::SuperAdmin, Role::Admin, Role::Manager, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
