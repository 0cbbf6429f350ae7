//! Pure: the lease and waiting decisions, in epoch milliseconds.
//!
//! A lock is `lock_owner` (random per PHP request) and `lock_expires` (the lease's end):
//! the request's deadline, so a crashed or timed-out request's lock lapses when that
//! request could no longer be running anyway.

use std::time::Duration;

/// The lease of a lock taken at `now`: until the request's `deadline` when it is known
/// and ahead, else `now + timeout` (serve mode's per-request timeout).
pub fn lease_end(now_ms: u64, deadline_ms: Option<u64>, timeout: Duration) -> u64 {
    match deadline_ms {
        Some(deadline) if deadline > now_ms => deadline,
        _ => now_ms + millis(timeout),
    }
}

/// Until when a request waits for a lock: `lock_wait` from now, never past its lease
/// (the request's own deadline).
pub fn wait_until(now_ms: u64, lock_wait: Duration, lease_end_ms: u64) -> u64 {
    (now_ms + millis(lock_wait)).min(lease_end_ms)
}

/// The pause before the `attempt`th retry (0-based): 20 ms doubling to 320 ms, plus up
/// to half again of jitter from `random` (so waiting requests do not poll in step).
pub fn backoff(attempt: u32, random: u32) -> Duration {
    let base = 20u64 << attempt.min(4);
    Duration::from_millis(base + u64::from(random) % (base / 2 + 1))
}

/// Whether an unchanged session's `expires` should be pushed out: only once it is past
/// half its lifetime, so most requests write nothing (or only release the lock).
pub fn extend_due(expires_s: Option<u64>, now_s: u64, lifetime_s: u64) -> bool {
    match expires_s {
        None => true,
        Some(expires) => expires.saturating_sub(now_s) < lifetime_s / 2,
    }
}

/// Whether a stored item counts: TTL deletes lazily, so an item past `expires` is
/// treated as absent.
pub fn live(expires_s: Option<u64>, now_s: u64) -> bool {
    expires_s.is_none_or(|expires| expires > now_s)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_the_deadline_or_the_timeout() {
        let t = Duration::from_secs(60);
        let table = [
            (1_000, Some(5_000), 5_000),
            (1_000, None, 61_000),
            (1_000, Some(900), 61_000),
            (1_000, Some(1_000), 61_000),
        ];
        for (now, deadline, want) in table {
            assert_eq!(lease_end(now, deadline, t), want, "{now} {deadline:?}");
        }
    }

    #[test]
    fn waiting_stops_at_lock_wait_or_the_lease() {
        let table = [
            (0, 10, 60_000, 10_000),
            (0, 10, 3_000, 3_000),
            (500, 0, 3_000, 500),
        ];
        for (now, wait, lease, want) in table {
            assert_eq!(wait_until(now, Duration::from_secs(wait), lease), want);
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let table = [
            (0, 0, 20),
            (1, 0, 40),
            (4, 0, 320),
            (9, 0, 320),
            (0, 10, 30),
            (0, 11, 20),
        ];
        for (attempt, random, want) in table {
            assert_eq!(
                backoff(attempt, random),
                Duration::from_millis(want),
                "{attempt} {random}"
            );
        }
    }

    #[test]
    fn expiry_is_extended_past_half_the_lifetime_and_checked_on_read() {
        let table = [
            (Some(2_000), 1_000, 1_440, false),
            (Some(1_700), 1_000, 1_440, true),
            (Some(900), 1_000, 1_440, true),
            (None, 1_000, 1_440, true),
        ];
        for (expires, now, lifetime, want) in table {
            assert_eq!(extend_due(expires, now, lifetime), want, "{expires:?}");
        }
        assert!(live(Some(1_001), 1_000));
        assert!(!live(Some(1_000), 1_000));
        assert!(live(None, 1_000));
    }
}
