//! Actors: one [`org::OrgActor`] per organization, the [`registry::TokenRegistry`], and the
//! [`persistence::PersistenceActor`]; plus the [`directory::Directory`] that finds org
//! actors. HTTP code talks to these through small handle types, never raw addresses.

pub mod directory;
pub mod org;
pub mod persistence;
pub mod registry;
pub mod share;
