//! Who is asking and how: the connection facts nginx turns into REMOTE_ADDR,
//! SERVER_PORT, REQUEST_SCHEME and HTTPS.
//!
//! Directly, they come from the socket. Behind a trusted proxy (an ALB), they come from
//! the proxy's headers exactly as the reference's ALB server derives them:
//!
//! ```nginx
//! set_real_ip_from <trusted>; real_ip_header X-Forwarded-For;  # last entry wins
//! fastcgi_param SERVER_PORT $http_x_forwarded_port;
//! fastcgi_param REQUEST_SCHEME $http_x_forwarded_proto;
//! fastcgi_param HTTPS $alb_https if_not_empty;  # map: "https" (any case) -> on
//! ```

use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The connection as PHP sees it. Strings, because nginx passes some of them empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub remote_addr: String,
    pub remote_port: String,
    pub server_addr: String,
    pub server_port: String,
    /// REQUEST_SCHEME.
    pub scheme: String,
    /// HTTPS=on.
    pub https: bool,
}

impl Origin {
    /// A client talking to us directly over plain HTTP.
    pub fn direct(peer: SocketAddr, local: SocketAddr) -> Origin {
        Origin {
            remote_addr: peer.ip().to_string(),
            remote_port: peer.port().to_string(),
            server_addr: local.ip().to_string(),
            server_port: local.port().to_string(),
            scheme: "http".into(),
            https: false,
        }
    }

    /// A request relayed by an ALB (or another proxy that appends to X-Forwarded-For).
    /// `peer`/`server_addr` are the socket's, where there is one.
    pub fn behind_proxy(
        peer: Option<SocketAddr>,
        server_addr: String,
        headers: &HeaderMap,
    ) -> Origin {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        let scheme = header("x-forwarded-proto");
        let (remote_addr, remote_port) = match (forwarded_client(headers), peer) {
            // realip swaps the address in and leaves no port (nginx passes it empty).
            (Some(client), _) => (client.to_string(), String::new()),
            (None, Some(peer)) => (peer.ip().to_string(), peer.port().to_string()),
            (None, None) => (String::new(), String::new()),
        };
        Origin {
            remote_addr,
            remote_port,
            server_addr,
            server_port: header("x-forwarded-port"),
            https: scheme.eq_ignore_ascii_case("https"),
            scheme,
        }
    }
}

/// The address the proxy appended: the last X-Forwarded-For entry, if it is an address.
fn forwarded_client(headers: &HeaderMap) -> Option<IpAddr> {
    let last_header = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last_entry = last_header
        .as_bytes()
        .rsplit(|&b| b == b',' || b == b' ')
        .find(|entry| !entry.is_empty())?;
    parse_addr_port(std::str::from_utf8(last_entry).ok()?)
}

/// nginx's `ngx_parse_addr_port`: `addr:port` counts as `addr` when what follows the
/// first colon is a port number; otherwise the whole entry must be an address (so bare
/// IPv6 works, and bracketed `[v6]:port` does not).
fn parse_addr_port(entry: &str) -> Option<IpAddr> {
    match entry.split_once(':') {
        Some((addr, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            addr.parse().ok()
        }
        _ => entry.parse().ok(),
    }
}

/// The proxies whose X-Forwarded-* headers are believed (`--trust-proxy`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&peer))
    }

    /// The origin for a connection from `peer` to `local`.
    pub fn origin(&self, peer: SocketAddr, local: SocketAddr, headers: &HeaderMap) -> Origin {
        if self.trusts(peer.ip()) {
            Origin::behind_proxy(Some(peer), local.ip().to_string(), headers)
        } else {
            Origin::direct(peer, local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    const PEER: &str = "127.0.0.1:5555";
    const LOCAL: &str = "127.0.0.1:8080";

    #[test]
    fn behind_a_proxy_like_the_reference_alb_server() {
        // (headers) -> (REMOTE_ADDR, REMOTE_PORT, SERVER_PORT, REQUEST_SCHEME, HTTPS)
        type Row = (
            &'static [(&'static str, &'static str)],
            (&'static str, &'static str, &'static str, &'static str, bool),
        );
        let table: &[Row] = &[
            (
                &[
                    ("x-forwarded-for", "1.2.3.4, 5.6.7.8"),
                    ("x-forwarded-proto", "HTTPS"),
                ],
                ("5.6.7.8", "", "", "HTTPS", true),
            ),
            (
                &[
                    ("x-forwarded-for", "1.2.3.4"),
                    ("x-forwarded-proto", "https"),
                    ("x-forwarded-port", "443"),
                ],
                ("1.2.3.4", "", "443", "https", true),
            ),
            (
                &[
                    ("x-forwarded-for", "1.2.3.4"),
                    ("x-forwarded-for", "2001:db8::1"),
                ],
                ("2001:db8::1", "", "", "", false),
            ),
            (
                &[("x-forwarded-for", "garbage")],
                ("127.0.0.1", "5555", "", "", false),
            ),
            (
                &[("x-forwarded-for", "1.2.3.4:80")],
                ("1.2.3.4", "", "", "", false),
            ),
            (&[("x-forwarded-for", "::1")], ("::1", "", "", "", false)),
            (
                &[("x-forwarded-for", "[::1]:80")],
                ("127.0.0.1", "5555", "", "", false),
            ),
            (
                &[("x-forwarded-for", "")],
                ("127.0.0.1", "5555", "", "", false),
            ),
            (
                &[("x-forwarded-proto", "http")],
                ("127.0.0.1", "5555", "", "http", false),
            ),
        ];
        let trusted = TrustedProxies::new(vec!["127.0.0.0/8".parse().unwrap()]);
        for (pairs, (addr, port, server_port, scheme, https)) in table {
            let o = trusted.origin(
                PEER.parse().unwrap(),
                LOCAL.parse().unwrap(),
                &headers(pairs),
            );
            assert_eq!(
                (
                    o.remote_addr.as_str(),
                    o.remote_port.as_str(),
                    o.server_port.as_str(),
                    o.scheme.as_str(),
                    o.https
                ),
                (*addr, *port, *server_port, *scheme, *https),
                "{pairs:?}"
            );
            assert_eq!(o.server_addr, "127.0.0.1");
        }
    }

    #[test]
    fn untrusted_peers_cannot_forge_their_address() {
        let trusted = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let o = trusted.origin(
            PEER.parse().unwrap(),
            LOCAL.parse().unwrap(),
            &headers(&[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
            ]),
        );
        assert_eq!(
            o,
            Origin::direct(PEER.parse().unwrap(), LOCAL.parse().unwrap())
        );
        assert_eq!(
            (o.scheme.as_str(), o.server_port.as_str()),
            ("http", "8080")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        let trusted = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(trusted.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!trusted.trusts("::1".parse().unwrap()));
    }
}
