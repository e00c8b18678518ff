//! Who is calling: bearer JWTs, the roles they carry, and the rules of who
//! may do what.

mod roles;
mod tokens;
mod users;

pub use roles::{Caller, ForeignOrganization, Role};
pub use tokens::{Claims, TokenError, TokenKeys, load_or_create_secret};
pub use users::find_user;
