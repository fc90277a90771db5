//! One integration-test binary (each test binary links separately; CI has 2 cores).
//! Every test starts a real scimd on 127.0.0.1:0.

mod actors;
mod cli;
mod common;
mod durability;
mod logging;
mod membership;
mod scim;
mod service;
