//! Message identifiers (M-1..M-4) and the receive-side replay window
//! (M-5, M-6, G-10).
//!
//! Time is always an argument: `now` is the local wall clock as a
//! [`Duration`] since the Unix epoch, supplied by the driver (or by a test's
//! simulated clock). The server time offset is applied here.

use std::collections::BTreeSet;
use std::time::Duration;

use super::MtpError;

/// Which side generates the ids (M-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Seconds part of a msg_id (its upper 32 bits, M-1).
pub fn msg_id_seconds(msg_id: i64) -> i64 {
    msg_id >> 32
}

/// Generates strictly increasing msg_ids from local time plus a server time
/// offset (M-1..M-4).
#[derive(Clone, Debug)]
pub struct MsgIdGenerator {
    role: Role,
    /// `server_time - local_time`, in seconds (M-4).
    offset: i64,
    last: i64,
}

impl MsgIdGenerator {
    pub fn new(role: Role) -> Self {
        MsgIdGenerator {
            role,
            offset: 0,
            last: 0,
        }
    }

    /// The current `server_time - local_time` in seconds.
    pub fn time_offset(&self) -> i64 {
        self.offset
    }

    /// Sets the offset directly (A-14: from `server_time` in the handshake).
    pub fn set_time_offset(&mut self, offset: i64) {
        self.offset = offset;
    }

    /// M-4: corrects the offset from a server msg_id, e.g. the one carrying
    /// bad_msg_notification 16/17.
    ///
    /// When the clock was ahead, later ids go back in time: the server
    /// rejected every id that far ahead (16/17 come only for ids more than
    /// 30 s off), so it never accepted one of them and the session stays
    /// consistent from its point of view.
    pub fn correct_from_server_msg_id(&mut self, server_msg_id: i64, now: Duration) {
        let offset = msg_id_seconds(server_msg_id) - now.as_secs() as i64;
        if offset < self.offset {
            self.last = 0;
        }
        self.offset = offset;
    }

    /// The next id: the upper 32 bits are server-adjusted seconds, the lower
    /// 32 bits the sub-second fraction, never zero (M-1); the residue is 0 for
    /// a client and 1 (response) or 3 (other) for a server (M-2); ids strictly
    /// increase, and if the clock stands still the previous id plus 4 is used
    /// (M-3).
    pub fn next(&mut self, now: Duration, response: bool) -> i64 {
        let secs = now.as_secs() as i64 + self.offset;
        let frac = ((now.subsec_nanos() as u64) << 32) / 1_000_000_000;
        let residue = match (self.role, response) {
            (Role::Client, _) => 0,
            (Role::Server, true) => 1,
            (Role::Server, false) => 3,
        };
        let mut id = (secs << 32) | (frac as i64 & 0xFFFF_FFFC).max(4);
        id = (id & !3) | residue;
        if id <= self.last {
            id = ((self.last & !3) + 4) | residue;
        }
        self.last = id;
        id
    }
}

/// Window of acceptable msg_id times relative to the receiver's clock (M-5).
pub const MAX_FUTURE_SECS: i64 = 30;
pub const MAX_PAST_SECS: i64 = 300;

/// Number of recent peer msg_ids remembered for duplicate detection (M-6).
pub const REPLAY_WINDOW: usize = 1024;

/// Receive-side msg_id checks: parity (G-10), time window (M-5) and the
/// replay set (M-6).
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    /// The role of the *receiver*.
    role: Role,
    seen: BTreeSet<i64>,
    capacity: usize,
}

impl ReplayGuard {
    pub fn new(receiver: Role) -> Self {
        Self::with_capacity(receiver, REPLAY_WINDOW)
    }

    pub fn with_capacity(receiver: Role, capacity: usize) -> Self {
        ReplayGuard {
            role: receiver,
            seen: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Checks one incoming msg_id and records it when accepted.
    ///
    /// `server_now` is the receiver's estimate of server time in seconds
    /// (`local + offset`); pass `None` while the clock is not yet
    /// synchronised, which skips the time window as M-5 allows a client.
    pub fn check(&mut self, msg_id: i64, server_now: Option<i64>) -> Result<(), MtpError> {
        let parity_ok = match self.role {
            Role::Client => msg_id & 1 == 1,
            Role::Server => msg_id & 3 == 0,
        };
        if !parity_ok {
            return Err(MtpError::BadMsgIdParity(msg_id));
        }
        if let Some(now) = server_now {
            let t = msg_id_seconds(msg_id);
            if t > now + MAX_FUTURE_SECS {
                return Err(MtpError::MsgIdTooNew { msg_id });
            }
            if t < now - MAX_PAST_SECS {
                return Err(MtpError::MsgIdTooOld { msg_id });
            }
        }
        self.record(msg_id)
    }

    /// The replay set alone (M-6): a duplicate, or an id at or below the
    /// smallest remembered one once the set is full, is rejected.
    pub fn record(&mut self, msg_id: i64) -> Result<(), MtpError> {
        if self.seen.len() >= self.capacity {
            if let Some(&min) = self.seen.first() {
                if msg_id <= min {
                    return Err(MtpError::MsgIdReplayed(msg_id));
                }
            }
        }
        if !self.seen.insert(msg_id) {
            return Err(MtpError::MsgIdReplayed(msg_id));
        }
        while self.seen.len() > self.capacity {
            self.seen.pop_first();
        }
        Ok(())
    }

    /// Whether an id was already seen (for callers that resolve
    /// msg_detailed_info, S-26).
    pub fn contains(&self, msg_id: i64) -> bool {
        self.seen.contains(&msg_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64, nanos: u32) -> Duration {
        Duration::new(secs, nanos)
    }

    /// M-1, M-2, M-3: client ids are 0 mod 4, carry the time, strictly
    /// increase even when the clock stands still, and have a non-zero
    /// fraction.
    #[test]
    fn m1_m2_m3_client_ids() {
        let mut g = MsgIdGenerator::new(Role::Client);
        let a = g.next(t(1_735_910_891, 0), false);
        assert_eq!(a % 4, 0);
        assert_eq!(msg_id_seconds(a), 1_735_910_891);
        assert_ne!(a & 0xFFFF_FFFF, 0);
        let b = g.next(t(1_735_910_891, 0), false);
        assert_eq!(b, a + 4);
        let c = g.next(t(1_735_910_891, 500_000_000), false);
        assert!(c > b && c % 4 == 0);
        assert_eq!(c & 0xFFFF_FFFF, 0x8000_0000);
        // The clock going backwards never produces a smaller id.
        let d = g.next(t(1_735_910_000, 0), false);
        assert!(d > c && d % 4 == 0);
    }

    /// M-2: server ids are 1 mod 4 for responses and 3 mod 4 otherwise.
    #[test]
    fn m2_server_residues() {
        let mut g = MsgIdGenerator::new(Role::Server);
        let now = t(1_700_000_000, 123);
        let r = g.next(now, true);
        let n = g.next(now, false);
        assert_eq!((r & 3, n & 3), (1, 3));
        assert!(n > r);
    }

    /// M-4: the offset follows the server's msg_id.
    #[test]
    fn m4_time_offset_from_server_msg_id() {
        let mut g = MsgIdGenerator::new(Role::Client);
        let now = t(1_000_000, 0);
        g.correct_from_server_msg_id((1_003_600i64 << 32) | 1, now);
        assert_eq!(g.time_offset(), 3600);
        assert_eq!(msg_id_seconds(g.next(now, false)), 1_003_600);
    }

    /// G-10, M-5: parity and the -300 s / +30 s window.
    #[test]
    fn g10_m5_parity_and_window() {
        let now = 1_700_000_000i64;
        let mut c = ReplayGuard::new(Role::Client);
        assert!(matches!(
            c.check((now << 32) | 4, Some(now)),
            Err(MtpError::BadMsgIdParity(_))
        ));
        assert!(c.check((now << 32) | 5, Some(now)).is_ok());
        assert!(matches!(
            c.check(((now + 31) << 32) | 1, Some(now)),
            Err(MtpError::MsgIdTooNew { .. })
        ));
        assert!(matches!(
            c.check(((now - 301) << 32) | 1, Some(now)),
            Err(MtpError::MsgIdTooOld { .. })
        ));
        // Not synchronised yet: the window is skipped, parity is not.
        assert!(c.check(((now - 10_000) << 32) | 1, None).is_ok());
        let mut s = ReplayGuard::new(Role::Server);
        assert!(matches!(
            s.check((now << 32) | 1, Some(now)),
            Err(MtpError::BadMsgIdParity(_))
        ));
        assert!(s.check((now << 32) | 8, Some(now)).is_ok());
    }

    /// M-6: duplicates and ids below the remembered window are replays.
    #[test]
    fn m6_replay_set() {
        let mut g = ReplayGuard::with_capacity(Role::Client, 4);
        for id in [5i64, 9, 13, 17] {
            g.record(id).unwrap();
        }
        assert_eq!(g.record(9), Err(MtpError::MsgIdReplayed(9)));
        g.record(21).unwrap(); // evicts 5
        assert_eq!(g.record(5), Err(MtpError::MsgIdReplayed(5)));
        assert_eq!(g.record(7), Err(MtpError::MsgIdReplayed(7)));
        g.record(11).unwrap(); // in range, unseen: fine
        assert!(g.contains(21) && !g.contains(5));
    }
}
