//! scimd: a multi-tenant SCIM 2.0 provisioning service.
//!
//! Layers, from the bottom:
//! - [`scim`]: pure protocol code (RFC 7643/7644): schemas, filters, PATCH, lists, errors.
//! - [`domain`]: organizations, membership rules, transactions. Pure.
//! - [`store`]: the storage seam (sled behind a trait).
//! - [`actors`]: the org actors, token registry and persistence actor.
//! - [`http`]: thin actix-web handlers; [`app`] wires it all together.

pub mod actors;
pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod scim;
pub mod store;
pub mod util;
