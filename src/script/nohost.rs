//! A script API with no platform behind it, for compiling only: `check`,
//! `bundle verify` and the lint's table of host functions build the real
//! engine against it. Compiling calls no host function, so every call here
//! refuses.

use super::{Character, HostApi};
use crate::protocol::IdList;

pub struct NoHost;

const NO_HOST: &str = "not available while only compiling (no platform)";

impl HostApi for NoHost {
    fn member_ids(&self, _: &str) -> Result<Vec<String>, String> {
        Err(NO_HOST.into())
    }
    fn send_characters(&self, _: &str, _: IdList, _: IdList) -> Result<(), String> {
        Err(NO_HOST.into())
    }
    fn create_agent(&self, _: &str, _: &str, _: &str) -> Result<Character, String> {
        Err(NO_HOST.into())
    }
    fn fetch_agents(&self) -> Result<Vec<Character>, String> {
        Err(NO_HOST.into())
    }
    fn fetch_profiles(&self, _: Vec<String>) -> Result<Vec<Character>, String> {
        Err(NO_HOST.into())
    }
}
