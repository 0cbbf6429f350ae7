//! Trying a call again: which failures are worth it (no answer, 5xx, throttling), how
//! long to wait between attempts, and the timeouts around them.

use super::Error;
use std::future::Future;
use std::time::Duration;

/// Attempts and timeouts for one service's calls.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub attempts: u32,
    /// Connecting, per connection.
    pub connect_timeout: Duration,
    /// One attempt, answer included.
    pub attempt_timeout: Option<Duration>,
    /// All attempts and the waits between them.
    pub total_timeout: Option<Duration>,
}

/// Whether another attempt may succeed where this one failed.
pub fn retryable(err: &Error) -> bool {
    match err {
        Error::Unreachable(_) => true,
        Error::Service { status, code, .. } => {
            *status >= 500
                || matches!(
                    code.as_str(),
                    "Throttling"
                        | "ThrottlingException"
                        | "ThrottledException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "RequestThrottled"
                        | "TooManyRequestsException"
                        | "SlowDown"
                        | "RequestTimeout"
                        | "RequestTimeoutException"
                )
        }
        Error::Response { status, .. } => *status >= 500,
        Error::Config(_) => false,
    }
}

/// The wait before attempt `retry` + 1: a random share of 1 s doubled each time, at
/// most 20 s, so that clients throttled together do not come back together ("full
/// jitter"). These are the SDKs' standard mode's numbers; shorter waits would hammer a
/// throttled table, and the total timeout bounds what a request waits anyway.
pub fn backoff(retry: u32, random: u32) -> Duration {
    let ceiling = (1000u64 << retry.min(5)).min(20_000);
    Duration::from_millis(u64::from(random) % ceiling)
}

/// Run `attempt` under `policy`; `what` names the call in a timeout's message.
pub async fn run<T, F, Fut>(policy: &Policy, what: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    // What the last failed attempt said, for when the total timeout ends them all: "no
    // answer" alone would hide a refused connection.
    let last = std::sync::Mutex::new(None::<String>);
    let attempts = async {
        let mut retry = 0;
        loop {
            let result = match policy.attempt_timeout {
                Some(limit) => tokio::time::timeout(limit, attempt())
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::Unreachable(format!(
                            "{what}: no answer within {limit:?}"
                        )))
                    }),
                None => attempt().await,
            };
            match result {
                Err(e) if retryable(&e) && retry + 1 < policy.attempts => {
                    tracing::debug!("{what}: {e}; trying again");
                    *last.lock().expect("last error lock") = Some(e.to_string());
                    tokio::time::sleep(backoff(retry, random())).await;
                    retry += 1;
                }
                result => return result,
            }
        }
    };
    match policy.total_timeout {
        Some(limit) => tokio::time::timeout(limit, attempts)
            .await
            .unwrap_or_else(|_| {
                let last = match last.lock().expect("last error lock").take() {
                    Some(e) => format!(" (the last: {e})"),
                    None => String::new(),
                };
                Err(Error::Unreachable(format!(
                    "{what}: no answer within {limit:?} over {} attempts{last}",
                    policy.attempts
                )))
            }),
        None => attempts.await,
    }
}

fn random() -> u32 {
    let mut bytes = [0u8; 4];
    // Without the system's randomness, no jitter: the wait is still bounded.
    let _ = getrandom::getrandom(&mut bytes);
    u32::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> Error {
        Error::Service {
            status,
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn what_is_tried_again() {
        let table = [
            (Error::Unreachable("refused".into()), true),
            (service(400, "ProvisionedThroughputExceededException"), true),
            (service(400, "ThrottlingException"), true),
            (service(429, "TooManyRequestsException"), true),
            (service(400, "MessageRejected"), false),
            (service(503, "SlowDown"), true),
            (service(500, "InternalServerError"), true),
            (service(400, "ConditionalCheckFailedException"), false),
            (service(404, "NoSuchBucket"), false),
            (service(400, "ResourceNotFoundException"), false),
            (
                Error::Response {
                    status: 502,
                    body: String::new(),
                },
                true,
            ),
            (
                Error::Response {
                    status: 400,
                    body: String::new(),
                },
                false,
            ),
            (Error::Config("no region".into()), false),
        ];
        for (err, want) in table {
            assert_eq!(retryable(&err), want, "{err:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_stays_bounded() {
        let table = [
            (0, 0, 0),
            (0, 999, 999),
            (0, 1000, 0),
            (1, 1500, 1500),
            (2, u32::MAX, 3_295),
            (30, u32::MAX, 7_295),
        ];
        for (retry, random, want) in table {
            assert_eq!(
                backoff(retry, random),
                Duration::from_millis(want),
                "{retry} {random}"
            );
        }
    }
}
