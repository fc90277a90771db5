//! Pure SCIM 2.0 protocol code: schemas, filter and PATCH-path grammar, the PATCH engine,
//! list queries and errors. Nothing here knows about actix, sled or organizations.

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod resource;
pub mod schema;

pub use error::{ScimError, ScimResult, ScimType};
