//! Who is calling: bearer JWTs, the roles they carry, and the rules of who
//! may do what.
//!
//! # Layout
//! - `tokens`: signing and verifying JWTs (HS256, or an identity
//!   provider's RS256/ES256 key).
//! - `users`: the users and organizations tables, read per request.
//! - `organizations`: an organization's settings (its default time zone).
//! - `roles`: [`Caller`], [`Coverage`] (whose rows a job holds) and
//!   [`JobScope`]: the one rule of who sees which job.
//! - `sessions`: the console's cookie sessions and their CSRF tokens.
//! - `oidc`: signing in with an OpenID Connect provider (authorization code
//!   with PKCE).
//!
//! Imports only the stores; jobs and the API ask it, never the reverse.

pub mod oidc;
mod organizations;
mod roles;
pub mod sessions;
mod tokens;
mod users;

pub use organizations::{Organization, organization, set_time_zone};
pub use roles::{Caller, Coverage, ForeignOrganization, JobScope, Role};
pub use tokens::{Claims, EXPIRY_LEEWAY_SECONDS, TokenError, TokenKeys, load_or_create_secret};
pub use users::{current_user, find_user, is_member, organization_exists};
