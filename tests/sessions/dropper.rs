//! An HTTP proxy in front of moto that loses answers: it passes each request on and reads
//! moto's answer, but for the next request whose body contains a chosen text it closes the
//! connection instead of answering, as when a response is lost on the network after
//! DynamoDB has acted. The bootstrap then retries a call that already took effect.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct Dropper {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    /// Drop the answer to the next request whose body contains this.
    armed: Option<String>,
    dropped: usize,
}

impl Dropper {
    pub fn start(upstream: u16) -> Dropper {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = state.clone();
                thread::spawn(move || relay(client, upstream, &state));
            }
        });
        Dropper { port, shared }
    }

    /// Loses the answer to the next request whose body contains `needle`.
    pub fn drop_next_answer_to(&self, needle: &str) {
        self.shared.lock().unwrap().armed = Some(needle.to_owned());
    }

    /// How many answers were lost so far.
    pub fn dropped(&self) -> usize {
        self.shared.lock().unwrap().dropped
    }
}

/// One client connection: request after request, each on its own connection to moto.
fn relay(client: TcpStream, upstream: u16, state: &Mutex<Shared>) {
    let mut from_client = BufReader::new(client.try_clone().unwrap());
    while let Some((head, body)) = read_message(&mut from_client) {
        let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        if server
            .write_all(&head)
            .and_then(|()| server.write_all(&body))
            .is_err()
        {
            return;
        }
        let Some((answer_head, answer_body)) = read_message(&mut BufReader::new(server)) else {
            return;
        };
        let lose = {
            let mut state = state.lock().unwrap();
            let hit = state
                .armed
                .as_ref()
                .is_some_and(|needle| String::from_utf8_lossy(&body).contains(needle.as_str()));
            if hit {
                state.armed = None;
                state.dropped += 1;
            }
            hit
        };
        if lose {
            let _ = client.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut to_client = &client;
        if to_client
            .write_all(&answer_head)
            .and_then(|()| to_client.write_all(&answer_body))
            .is_err()
        {
            return;
        }
    }
}

/// An HTTP/1.1 message framed by Content-Length (what the SDK's calls and moto's answers
/// are): its head as sent, and its body.
fn read_message(reader: &mut impl BufRead) -> Option<(Vec<u8>, Vec<u8>)> {
    let (mut head, mut length) = (Vec::new(), 0);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.extend_from_slice(line.as_bytes());
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}
