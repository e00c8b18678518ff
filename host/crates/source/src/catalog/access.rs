//! Column access by role: a column a role may not see, or sees masked.
//!
//! Roles rank SuperAdmin > Admin > Manager > Member. A column declares the
//! lowest role that sees it at all (`visibleFrom`) and, when it is masked,
//! how (`mask`) and the lowest role that sees its values in clear
//! (`unmaskedFrom`; absent: every role sees the mask). Masking is the
//! host's, applied to the rows before a plugin sees them
//! (`crate::query::mask`), so no format can print a clear value.

use serde::{Deserialize, Serialize};

pub use exporter_auth::Role;

/// How a masked column's values read. A masked column is text in the
/// export, whatever its declared type; a NULL stays NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mask {
    /// Every value reads `[redacted]`.
    Redact,
    /// A keyed hash (HMAC-SHA256, 32 hex digits): equal values stay equal
    /// within one organization's exports, so rows can still be counted and
    /// joined, but the value cannot be read back, and two organizations'
    /// hashes of one value differ.
    Hash,
    /// `alice@example.com` reads `***@example.com`; a value that is not an
    /// address reads `[redacted]`.
    EmailDomain,
    /// `4111111111111111` reads `****1111`; a value of fewer than 8
    /// characters reads `****`, since its last 4 would give most of it away.
    Last4,
}

impl Mask {
    pub fn as_str(self) -> &'static str {
        match self {
            Mask::Redact => "redact",
            Mask::Hash => "hash",
            Mask::EmailDomain => "email-domain",
            Mask::Last4 => "last4",
        }
    }
}

/// What one role gets of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnAccess {
    Clear,
    Masked(Mask),
    /// Not listed, not exported, not filterable: asking for it is refused.
    Hidden,
}

impl super::DatasetColumn {
    /// What `role` gets of this column.
    pub fn access(&self, role: Role) -> ColumnAccess {
        if let Some(floor) = self.visible_from
            && !role.is_at_least(floor)
        {
            return ColumnAccess::Hidden;
        }
        match (self.mask, self.unmasked_from) {
            (None, _) => ColumnAccess::Clear,
            (Some(_), Some(floor)) if role.is_at_least(floor) => ColumnAccess::Clear,
            (Some(mask), _) => ColumnAccess::Masked(mask),
        }
    }
}
