//! moobius-host: runs Moobius Custom Channel Services written as Rhai scripts.
pub mod sandbox;
