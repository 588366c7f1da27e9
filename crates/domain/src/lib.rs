//! Jobby's domain: the rules of the product as types and pure functions, the ports the rules
//! need from the world, and the use-cases that orchestrate them. No I/O lives here.

pub mod error;
pub mod model;
pub mod ports;
pub mod usecases;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use error::Error;
