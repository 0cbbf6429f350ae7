//! A stand-in for ECS's container credentials endpoint on 127.0.0.1: answers every GET
//! with one status and body, and records the Authorization header each request sent.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

/// An answer as the ECS agent gives it, expiring far in the future.
pub const CREDENTIALS: &str = r#"{"RoleArn":"arn:aws:iam::123456789012:role/site","AccessKeyId":"AKIDFROMECS","SecretAccessKey":"ecs-secret","Token":"ecs-session-token","Expiration":"2099-01-01T00:00:00Z"}"#;

pub struct Server {
    port: u16,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serve until the test process ends (the thread holds nothing else).
    pub fn start(status: u16, body: &'static str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = authorizations.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("authorization") {
                            seen.lock().unwrap().push(value.trim().to_owned());
                        }
                    }
                    line.clear();
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Server {
            port,
            authorizations,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2/credentials", self.port)
    }

    /// The Authorization header of each request so far.
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().unwrap().clone()
    }
}
