//! Which PHP worker holds the other end of one of our connections. php-cgi has no
//! `request_terminate_timeout`, so the bootstrap stops a script it gave up on itself, and
//! must kill that worker and no other: php-cgi's children all accept on one socket, so
//! nothing in the protocol says which child took a connection.
//!
//! The kernel knows a Unix socket's peer (sock_diag's `UNIX_DIAG_PEER`, what `ss -xp`
//! reads); the worker is the process of the pool's group that has that socket open.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags, UnixRequest};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

/// The pid of the process in process group `pgid` holding the peer of our socket `conn`.
pub(super) fn worker_holding_peer_of(conn: &impl AsRawFd, pgid: u32) -> io::Result<Option<u32>> {
    let peer = peer_inode(inode(conn)?)?;
    let target = format!("socket:[{peer}]");
    member_with_fd(pgid, |link| link == target)
}

/// The first process of group `pgid` with an open descriptor whose `/proc/PID/fd` link
/// (`socket:[INODE]` for a socket) `wanted` accepts.
fn member_with_fd(pgid: u32, wanted: impl Fn(&str) -> bool) -> io::Result<Option<u32>> {
    for pid in group_members(pgid)? {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue; // it exited meanwhile
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|link| wanted(&link.to_string_lossy())) {
                return Ok(Some(pid));
            }
        }
    }
    Ok(None)
}

fn inode(conn: &impl AsRawFd) -> io::Result<u32> {
    // SAFETY: fstat on a descriptor we own, into a zeroed stat we own.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(conn.as_raw_fd(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(stat.st_ino).map_err(|_| io::Error::other("socket inode beyond 32 bits"))
}

/// Asks the kernel for the inode of the socket connected to socket `inode`.
fn peer_inode(inode: u32) -> io::Result<u32> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::UnixRequest(UnixRequest {
            state_flags: StateFlags::all(),
            inode,
            show_flags: ShowFlags::PEER,
            // All ones: "no cookie", look the socket up by inode alone.
            cookie: [0xff; 8],
        })
        .into(),
    );
    request.finalize();
    let mut buf = vec![0; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let mut answer = Vec::with_capacity(4096);
    socket.recv(&mut answer, 0)?;
    let message = NetlinkMessage::<SockDiagMessage>::deserialize(&answer)
        .map_err(|e| io::Error::other(format!("sock_diag's answer: {e}")))?;
    match message.payload {
        // A peer that closed its end is reported without an inode.
        NetlinkPayload::InnerMessage(SockDiagMessage::UnixResponse(response)) => response
            .peer()
            .filter(|&peer| peer != 0)
            .ok_or_else(|| io::Error::other("the socket has no peer: the worker has gone")),
        NetlinkPayload::Error(e) => Err(e.to_io()),
        other => Err(io::Error::other(format!(
            "sock_diag answered {other:?} instead of the socket"
        ))),
    }
}

/// Whether a process of group `pgid` has a connected Unix socket open: a worker still
/// serving one of our connections (an idle worker holds only its listening socket).
/// `/proc/net/unix` gives each socket's state (`St` 03: connected) by inode.
pub(super) fn group_holds_a_connection(pgid: u32) -> io::Result<bool> {
    let table = std::fs::read_to_string("/proc/net/unix")?;
    let connected: std::collections::HashSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // Num RefCount Protocol Flags Type St Inode [Path]
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode = fields.get(6)?;
            (fields.get(5) == Some(&"03")).then(|| format!("socket:[{inode}]"))
        })
        .collect();
    Ok(member_with_fd(pgid, |link| connected.contains(link))?.is_some())
}

/// The processes whose process group is `pgid` (php-fpm's master and php-cgi's parent
/// lead one that their workers inherit).
fn group_members(pgid: u32) -> io::Result<Vec<u32>> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if process_group(&Path::new("/proc").join(pid.to_string())) == Some(pgid) {
            members.push(pid);
        }
    }
    Ok(members)
}

/// Field 5 of `/proc/PID/stat`, counted after the command name, which is in parentheses
/// and may itself hold spaces and parentheses.
fn process_group(proc_dir: &Path) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn finds_the_process_holding_the_accepted_end() {
        let dir = super::super::tests::TempDir::new();
        let path = dir.path().join("s");
        let listener = UnixListener::bind(&path).unwrap();
        let ours = UnixStream::connect(&path).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        assert_eq!(
            peer_inode(inode(&ours).unwrap()).unwrap(),
            inode(&theirs).unwrap()
        );
        let pgid = unsafe { libc::getpgrp() } as u32;
        assert_eq!(
            worker_holding_peer_of(&ours, pgid).unwrap(),
            Some(std::process::id())
        );
        // Nobody of another group holds it.
        assert_eq!(worker_holding_peer_of(&ours, u32::MAX - 1).unwrap(), None);
        drop(theirs);
        // Another test's fork may hold a copy of `theirs` until its child execs.
        let closed = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            peer_inode(inode(&ours).unwrap()).is_err()
        });
        assert!(closed, "a closed peer");
        // Our group still holds `ours`, connected to nothing now, and the listener: no
        // connection is served any more once `ours` closes too.
        let pgid = unsafe { libc::getpgrp() } as u32;
        let (a, b) = UnixStream::pair().unwrap();
        assert!(group_holds_a_connection(pgid).unwrap());
        drop((a, b, ours));
        assert!(!group_holds_a_connection(u32::MAX - 1).unwrap());
    }

    #[test]
    fn the_process_group_is_read_past_a_name_with_spaces_and_parentheses() {
        let dir = super::super::tests::TempDir::new();
        std::fs::write(
            dir.path().join("stat"),
            "4242 (php-cgi (a) b) S 4200 4201 4201 0 -1 4194560 1 0 0 0",
        )
        .unwrap();
        assert_eq!(process_group(dir.path()), Some(4201));
    }
}
