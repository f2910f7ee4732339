//! A child process that is killed (and reaped) when dropped, so a failing test or an interrupted
//! benchmark leaves nothing running.

use std::process::Child;

/// Owns a child process; kills and waits for it on drop.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
