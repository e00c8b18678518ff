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

    /// A job is visible to its owner, to Admins of its organization and to
    /// SuperAdmins; to everyone else it does not exist.
    pub fn can_see_job(&self, organization_id: &str, created_by: &str) -> bool {
        match self.role {
            Role::SuperAdmin => true,
            Role::Admin => self.organization_id == organization_id,
            Role::Manager | Role::Member => self.user_id == created_by,
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
    fn job_visibility_follows_owner_admin_superadmin() {
        assert!(caller(Role::SuperAdmin).can_see_job("globex", "u9"));
        assert!(caller(Role::Admin).can_see_job("acme", "u9"));
        assert!(!caller(Role::Admin).can_see_job("globex", "u9"));
        assert!(caller(Role::Manager).can_see_job("acme", "u1"));
        assert!(!caller(Role::Manager).can_see_job("acme", "u9"));
        assert!(!caller(Role::Member).can_use_export_jobs());
        assert!(!caller(Role::Manager).can_export_directly());
        assert!(caller(Role::Admin).can_export_directly());
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
