//! How long an invocation's request may run: until Lambda's deadline, less a margin for
//! answering (and restarting php-fpm) before Lambda stops the sandbox.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lambda's longest timeout; a deadline further out than this (plus slack) is not one.
const LONGEST: Duration = Duration::from_secs(15 * 60 + 60);

/// The budget for a request, or `None` when the deadline is not plausible: already past
/// (`cargo lambda watch` sends `600000`, ten minutes after 1970), or further away than
/// any Lambda timeout. Such a deadline must not turn requests into 504s.
pub fn budget(deadline_ms: u64, now: SystemTime, margin: Duration) -> Option<Duration> {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(now).ok()?;
    if left > LONGEST {
        return None;
    }
    Some(left.saturating_sub(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_deadlines_leave_a_margin() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |d: Duration| (now + d).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let margin = Duration::from_millis(500);
        let table = [
            (
                at(Duration::from_secs(30)),
                Some(Duration::from_millis(29_500)),
            ),
            (at(Duration::from_millis(300)), Some(Duration::ZERO)),
            (
                at(Duration::from_secs(900)),
                Some(Duration::from_millis(899_500)),
            ),
            (600_000, None),
            (at(Duration::from_secs(3600)), None),
            (at(Duration::ZERO) - 1, None),
        ];
        for (deadline, want) in table {
            assert_eq!(budget(deadline, now, margin), want, "{deadline}");
        }
    }
}
