//! Deterministic randomness for tests.

use rand::RngCore;

/// Yields the scripted bytes in order, then zeros. Lets a test pin padding
/// lengths and bytes exactly.
pub(crate) struct ScriptRng {
    script: Vec<u8>,
    pos: usize,
}

impl ScriptRng {
    pub(crate) fn new(script: Vec<u8>) -> Self {
        ScriptRng { script, pos: 0 }
    }

    /// Bytes handed out so far.
    pub(crate) fn used(&self) -> usize {
        self.pos
    }
}

impl RngCore for ScriptRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.script.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
