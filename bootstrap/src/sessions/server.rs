//! The Unix socket PHP's session handler talks to: one connection per PHP request,
//! one JSON line each way per call ([`super::protocol`]).
//!
//! A connection remembers what its request read (to skip writing unchanged data) and
//! the lock it holds. A connection that closes with the lock still held (`session_abort`,
//! or a worker killed mid-request) releases it: nothing was written, so the stored data
//! is what the next request should see. A bootstrap that dies cannot release anything;
//! the lease covers that.

use super::lock;
use super::protocol::{self, Request, Response};
use super::store::{Item, Lock, StoreError};
use super::Sessions;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Largest request line: DynamoDB items are at most 400 KB, base64 and JSON add a third.
const MAX_LINE: u64 = 1 << 20;
/// `session.gc_maxlifetime`'s default, when PHP sends none.
const DEFAULT_LIFETIME: u64 = 1440;

/// Accept connections until the process ends.
pub async fn accept(listener: UnixListener, sessions: Arc<Sessions>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, sessions.clone()));
            }
            Err(e) => {
                tracing::error!("sessions: accepting a connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// What one PHP request read, and the lock it holds.
struct Read {
    key: String,
    item: Item,
    owner: Option<String>,
}

async fn connection(stream: UnixStream, sessions: Arc<Sessions>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut state: Option<Read> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let response = match std::str::from_utf8(&line)
            .map_err(|_| "bad request: not UTF-8".to_owned())
            .and_then(protocol::parse)
        {
            Ok(request) => handle(&sessions, &mut state, request).await,
            Err(e) => Response::error(500, e),
        };
        if writer.write_all(response.line().as_bytes()).await.is_err() {
            break;
        }
    }
    // Closed without `close`: the worker died or gave up; let go of the lock.
    if let Err(e) = release(&sessions, &mut state).await {
        tracing::warn!(
            "sessions: releasing a dead request's lock failed (its lease will expire): {e}"
        );
    }
}

async fn handle(sessions: &Sessions, state: &mut Option<Read>, request: Request) -> Response {
    let result = match request {
        // The lifetime matters only when writing: a new lock-only item expires with its
        // lease.
        Request::Read { name, id, .. } => read(sessions, state, sessions.key(&name, &id)).await,
        Request::Write {
            name,
            id,
            data,
            lifetime,
        } => match protocol::decode_data(&data) {
            Ok(data) => write(sessions, state, sessions.key(&name, &id), data, lifetime).await,
            Err(e) => return Response::error(500, e),
        },
        Request::Touch { name, id, lifetime } => {
            touch(sessions, state, sessions.key(&name, &id), lifetime).await
        }
        Request::Destroy { name, id } => {
            let key = sessions.key(&name, &id);
            if state.as_ref().is_some_and(|s| s.key == key) {
                *state = None;
            }
            sessions
                .store
                .delete(&key, None)
                .await
                .map(|()| Response::ok())
        }
        Request::Exists { name, id } => {
            let key = sessions.key(&name, &id);
            sessions
                .store
                .get(&key)
                .await
                .map(|item| Response::exists(present(&item).is_some()))
        }
        Request::Close => release(sessions, state).await.map(|()| Response::ok()),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(table = sessions.store.table(), "sessions: {e}");
        let status = match e {
            StoreError::Unavailable(_) => 503,
            StoreError::LostLock => 409,
            StoreError::Failed(_) => 500,
        };
        Response::error(status, e.to_string())
    })
}

/// Read (and lock) the item; wait for another request's lock up to the bounded wait.
async fn read(
    sessions: &Sessions,
    state: &mut Option<Read>,
    key: String,
) -> Result<Response, StoreError> {
    release(sessions, state).await?;
    if !sessions.locking {
        let item = sessions.store.get(&key).await?;
        let response = Response::data(present(&item).unwrap_or_default());
        *state = Some(Read {
            key,
            item,
            owner: None,
        });
        return Ok(response);
    }
    let owner = random_owner();
    let now = now_ms();
    let lease = lock::lease_end(now, sessions.deadline_ms(), sessions.timeout);
    let until = lock::wait_until(now, sessions.lock_wait, lease);
    let mut attempt = 0;
    let item = loop {
        match sessions.store.lock(&key, &owner, lease, now_ms()).await? {
            Lock::Acquired(item) => break item,
            Lock::Busy => {
                let pause = lock::backoff(attempt, random_u32());
                if now_ms() + pause.as_millis() as u64 > until {
                    tracing::warn!(
                        table = sessions.store.table(),
                        "sessions: {key} stayed locked by another request for {} ms",
                        now_ms().saturating_sub(now)
                    );
                    return Ok(Response::error(
                        503,
                        format!(
                            "the session is locked by another request (waited {} ms; \
                             LAMPHP_SESSION_LOCK_WAIT)",
                            now_ms().saturating_sub(now)
                        ),
                    ));
                }
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
        }
    };
    let response = Response::data(present(&item).unwrap_or_default());
    *state = Some(Read {
        key,
        item,
        owner: Some(owner),
    });
    Ok(response)
}

async fn write(
    sessions: &Sessions,
    state: &mut Option<Read>,
    key: String,
    data: Vec<u8>,
    lifetime: u64,
) -> Result<Response, StoreError> {
    let ours = state.take_if(|s| s.key == key);
    if let Some(read) = &ours {
        if present(&read.item).unwrap_or_default() == data.as_slice() {
            *state = ours;
            return touch(sessions, state, key, lifetime).await;
        }
    }
    if sessions.locking && ours.as_ref().and_then(|r| r.owner.as_ref()).is_none() {
        // PHP reads before it writes; a write of a session this request never read (and
        // so never locked) could overwrite another request's.
        release(sessions, state).await?;
        return Err(StoreError::Failed(format!(
            "refusing to write {key}: this request did not read (and lock) it first"
        )));
    }
    let expires = now_s() + lifetime_or_default(lifetime);
    let owner = ours.as_ref().and_then(|r| r.owner.as_deref());
    sessions.store.write(&key, &data, expires, owner).await?;
    Ok(Response::ok())
}

/// Data unchanged: release the lock (one write) and push `expires` out only when past
/// half its lifetime; without locking, write only then.
async fn touch(
    sessions: &Sessions,
    state: &mut Option<Read>,
    key: String,
    lifetime: u64,
) -> Result<Response, StoreError> {
    let Some(read) = state.take_if(|s| s.key == key) else {
        return Ok(Response::ok());
    };
    let now = now_s();
    if present(&read.item).is_none() {
        // Nothing stored: drop our lock-only item rather than leave it behind.
        if let Some(owner) = &read.owner {
            sessions.store.delete(&key, Some(owner)).await?;
        }
        return Ok(Response::ok());
    }
    let lifetime = lifetime_or_default(lifetime);
    let expires = lock::extend_due(read.item.expires, now, lifetime).then_some(now + lifetime);
    sessions
        .store
        .release(&key, read.owner.as_deref(), expires)
        .await?;
    Ok(Response::ok())
}

/// Let go of a lock still held (close, or a connection gone).
async fn release(sessions: &Sessions, state: &mut Option<Read>) -> Result<(), StoreError> {
    let Some(read) = state.take() else {
        return Ok(());
    };
    let Some(owner) = &read.owner else {
        return Ok(());
    };
    if present(&read.item).is_none() {
        sessions.store.delete(&read.key, Some(owner)).await
    } else {
        sessions.store.release(&read.key, Some(owner), None).await
    }
}

/// The session data if the item holds a live session.
fn present(item: &Item) -> Option<&[u8]> {
    let data = item.data.as_deref()?;
    lock::live(item.expires, now_s()).then_some(data)
}

fn lifetime_or_default(lifetime: u64) -> u64 {
    if lifetime == 0 {
        DEFAULT_LIFETIME
    } else {
        lifetime
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_s() -> u64 {
    now_ms() / 1000
}

fn random_owner() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Unique enough within this process; the pid and the clock tell processes apart.
        return format!("{}-{}-{}", std::process::id(), now_ms(), random_u32());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::getrandom(&mut bytes);
    u32::from_le_bytes(bytes)
}
