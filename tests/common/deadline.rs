//! How long any single wait in a test may take before the test fails: one
//! figure for every test, generous for a loaded 2-core CI machine (tests wait
//! on observable state, so a fast run never waits this long).

use std::time::Duration;

pub const DEADLINE: Duration = Duration::from_secs(20);
