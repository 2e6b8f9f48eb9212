//! A script API with no platform behind it, for compiling only: `check`,
//! `bundle verify` and the lint's table of host functions build the real
//! engine against it. Compiling calls no host function, so every call here
//! refuses.

use super::{AgentProfile, Character, HostApi, HostCallError, HostResult};
use crate::protocol::IdList;

pub struct NoHost;

impl HostApi for NoHost {
    fn member_ids(&self, _: &str) -> HostResult<Vec<String>> {
        Err(HostCallError::NoPlatform)
    }
    fn send_characters(&self, _: &str, _: IdList, _: IdList) -> HostResult<()> {
        Err(HostCallError::NoPlatform)
    }
    fn create_agent(&self, _: &AgentProfile) -> HostResult<Character> {
        Err(HostCallError::NoPlatform)
    }
    fn fetch_agents(&self) -> HostResult<Vec<Character>> {
        Err(HostCallError::NoPlatform)
    }
    fn fetch_profiles(&self, _: Vec<String>) -> HostResult<Vec<Character>> {
        Err(HostCallError::NoPlatform)
    }
}
