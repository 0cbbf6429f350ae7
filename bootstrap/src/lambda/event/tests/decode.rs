use super::{body_bytes, fixture, header_lines};
use crate::lambda::event::{decode, Kind};
use http::Version;

/// What one fixture must decode to.
struct Want {
    fixture: &'static str,
    kind: Kind,
    method: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    version: Version,
    headers: &'static [&'static str],
    /// `$host` and the port the client named.
    host: (&'static str, Option<&'static str>),
    /// REMOTE_ADDR, SERVER_PORT, REQUEST_SCHEME, HTTPS.
    origin: (&'static str, &'static str, &'static str, bool),
    body: &'static [u8],
}

const ALB: Kind = Kind::Alb { multi_value: false };
const ALB_MULTI: Kind = Kind::Alb { multi_value: true };
const TRACE: &str = "x-amzn-trace-id: Root=1-5bdb40ca-556d8b0c50dc66f0511bf520";

const TABLE: &[Want] = &[
    Want {
        fixture: "alb-lambda-guide.json",
        kind: ALB,
        method: "GET",
        path: "/lambda",
        query: Some("query=1234ABCD"),
        version: Version::HTTP_11,
        headers: &[
            "accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8",
            "accept-encoding: gzip",
            "accept-language: en-US,en;q=0.9",
            "connection: keep-alive",
            "host: lambda-alb-123578498.us-east-2.elb.amazonaws.com",
            "upgrade-insecure-requests: 1",
            "user-agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/71.0.3578.98 Safari/537.36",
            "x-amzn-trace-id: Root=1-5c536348-3d683b8b04734faae651f476",
            "x-forwarded-for: 72.12.164.125",
            "x-forwarded-port: 80",
            "x-forwarded-proto: http",
            "x-imforwards: 20",
        ],
        host: ("lambda-alb-123578498.us-east-2.elb.amazonaws.com", None),
        origin: ("72.12.164.125", "80", "http", false),
        body: b"",
    },
    Want {
        fixture: "alb-elb-guide.json",
        kind: ALB,
        method: "GET",
        path: "/",
        query: Some("parameters=1"),
        version: Version::HTTP_11,
        headers: &[
            "accept: text/html,application/xhtml+xml",
            "accept-language: en-US,en;q=0.8",
            "content-type: text/plain",
            "cookie: cookies",
            "host: lambda-846800462-us-east-2.elb.amazonaws.com",
            "user-agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)",
            TRACE,
            "x-forwarded-for: 72.21.198.66",
            "x-forwarded-port: 443",
            "x-forwarded-proto: https",
        ],
        host: ("lambda-846800462-us-east-2.elb.amazonaws.com", None),
        origin: ("72.21.198.66", "443", "https", true),
        body: b"request_body",
    },
    Want {
        // No Host: accepted as nginx accepts an HTTP/1.0 request without one.
        fixture: "alb-health-check.json",
        kind: ALB,
        method: "GET",
        path: "/",
        query: None,
        version: Version::HTTP_10,
        headers: &["user-agent: ELB-HealthChecker/2.0"],
        host: ("", None),
        origin: ("", "", "", false),
        body: b"",
    },
    Want {
        fixture: "alb-multi-value.json",
        kind: ALB_MULTI,
        method: "GET",
        path: "/search/caf%C3%A9%2Fbar/index.php",
        query: Some("myKey=val1&myKey=val2&q=a+b%20c&empty=&arr%5B%5D=1&arr%5B%5D=2"),
        version: Version::HTTP_11,
        headers: &[
            "accept: text/html",
            "cookie: name1=value1",
            "cookie: name2=value2",
            "host: www.example.com",
            "x-custom: one",
            "x-custom: two",
            TRACE,
            "x-forwarded-for: 203.0.113.7, 198.51.100.23",
            "x-forwarded-port: 443",
            "x-forwarded-proto: https",
        ],
        host: ("www.example.com", None),
        origin: ("198.51.100.23", "443", "https", true),
        body: b"",
    },
    Want {
        fixture: "alb-form-post.json",
        kind: ALB,
        method: "POST",
        path: "/login.php",
        query: None,
        version: Version::HTTP_11,
        headers: &[
            "content-length: 25",
            "content-type: application/x-www-form-urlencoded",
            "host: www.example.com:8443",
            TRACE,
            "x-forwarded-for: 2001:db8::21f:5bff:febf:ce22",
            "x-forwarded-port: 8443",
            "x-forwarded-proto: https",
        ],
        host: ("www.example.com", Some("8443")),
        origin: ("2001:db8::21f:5bff:febf:ce22", "8443", "https", true),
        body: b"user=jane&pass=s%26cret+1",
    },
    Want {
        fixture: "alb-binary-body.json",
        kind: ALB_MULTI,
        method: "PUT",
        path: "/upload.php",
        query: None,
        version: Version::HTTP_11,
        headers: &[
            "content-length: 8",
            "content-type: image/png",
            "host: www.example.com",
            TRACE,
            "x-forwarded-for: 198.51.100.23",
            "x-forwarded-port: 80",
            "x-forwarded-proto: http",
        ],
        host: ("www.example.com", None),
        origin: ("198.51.100.23", "80", "http", false),
        body: b"\x89PNG\r\n\x1a\n",
    },
    Want {
        fixture: "apigw-v1-rest.json",
        kind: Kind::ApiGatewayV1 { multi_value: true },
        method: "POST",
        path: "/hello/world",
        // Re-encoded from the decoded parameters, in the event's order.
        query: Some("name=me&multivalueName=you&multivalueName=me"),
        version: Version::HTTP_11,
        headers: &[
            "accept: */*",
            "accept-encoding: gzip, deflate",
            "cache-control: no-cache",
            "cloudfront-forwarded-proto: https",
            "cloudfront-is-desktop-viewer: true",
            "cloudfront-is-mobile-viewer: false",
            "cloudfront-is-smarttv-viewer: false",
            "cloudfront-is-tablet-viewer: false",
            "cloudfront-viewer-country: US",
            "content-type: application/json",
            "headername: headerValue",
            "host: gy415nuibc.execute-api.us-east-1.amazonaws.com",
            "postman-token: 9f583ef0-ed83-4a38-aef3-eb9ce3f7a57f",
            "user-agent: PostmanRuntime/2.4.5",
            "via: 1.1 d98420743a69852491bbdea73f7680bd.cloudfront.net (CloudFront)",
            "x-amz-cf-id: pn-PWIJc6thYnZm5P0NMgOUglL1DYtl0gdeJky8tqsg8iS_sgsKD1A==",
            "x-forwarded-for: 54.240.196.186, 54.182.214.83",
            "x-forwarded-port: 443",
            "x-forwarded-proto: https",
        ],
        host: ("gy415nuibc.execute-api.us-east-1.amazonaws.com", None),
        origin: ("192.168.196.186", "443", "https", true),
        body: b"{\r\n\t\"a\": 1\r\n}",
    },
    Want {
        // The docs' "IP" is no address, so REMOTE_ADDR stays empty; the Host comes from
        // requestContext.domainName.
        fixture: "apigw-v1-http-api.json",
        kind: Kind::ApiGatewayV1 { multi_value: true },
        method: "GET",
        path: "/my/path",
        query: Some("parameter1=value1&parameter1=value2&parameter2=value"),
        version: Version::HTTP_11,
        headers: &[
            "header1: value1",
            "header2: value1",
            "header2: value2",
            "host: id.execute-api.us-east-1.amazonaws.com",
        ],
        host: ("id.execute-api.us-east-1.amazonaws.com", None),
        origin: ("", "443", "https", true),
        body: b"Hello from Lambda!",
    },
    Want {
        fixture: "apigw-v2-http-api.json",
        kind: Kind::ApiGatewayV2,
        method: "POST",
        path: "/my/path",
        query: Some("parameter1=value1&parameter1=value2&parameter2=value"),
        version: Version::HTTP_11,
        headers: &[
            "header1: value1",
            "header2: value1,value2",
            "cookie: cookie1; cookie2",
            "host: id.execute-api.us-east-1.amazonaws.com",
        ],
        host: ("id.execute-api.us-east-1.amazonaws.com", None),
        origin: ("", "443", "https", true),
        body: b"Hello from Lambda",
    },
    Want {
        fixture: "apigw-v2-decoded-path.json",
        kind: Kind::ApiGatewayV2,
        method: "GET",
        path: "/files/caf%C3%A9%20menu%231/100%25",
        query: None,
        version: Version::HTTP_11,
        headers: &[
            "host: api.example.com",
            "x-forwarded-for: 198.51.100.23",
            "x-forwarded-port: 8443",
            "x-forwarded-proto: https",
        ],
        host: ("api.example.com", None),
        origin: ("198.51.100.23", "8443", "https", true),
        body: b"",
    },
    Want {
        fixture: "function-url.json",
        kind: Kind::ApiGatewayV2,
        method: "POST",
        path: "/my/path",
        query: Some("parameter1=value1&parameter1=value2&parameter2=value"),
        version: Version::HTTP_11,
        headers: &[
            "header1: value1",
            "header2: value1,value2",
            "cookie: cookie1; cookie2",
            "host: <url-id>.lambda-url.us-west-2.on.aws",
        ],
        host: ("<url-id>.lambda-url.us-west-2.on.aws", None),
        origin: ("123.123.123.123", "443", "https", true),
        body: b"Hello from client!",
    },
    Want {
        fixture: "function-url-live.json",
        kind: Kind::ApiGatewayV2,
        method: "POST",
        path: "/wp-admin/admin-ajax.php",
        query: Some("action=heartbeat&_wpnonce=a%2Bb"),
        version: Version::HTTP_11,
        headers: &[
            "content-type: application/octet-stream",
            "host: abcdefg.lambda-url.us-east-1.on.aws",
            TRACE,
            "x-forwarded-for: 2001:db8::7",
            "x-forwarded-port: 443",
            "x-forwarded-proto: https",
            "cookie: wordpress_logged_in=jane%7C1700000000; wp-settings-1=editor%3Dtinymce",
        ],
        host: ("abcdefg.lambda-url.us-east-1.on.aws", None),
        origin: ("2001:db8::7", "443", "https", true),
        body: b"\x00\x01\xff",
    },
];

#[test]
fn fixtures_decode_to_the_request_nginx_would_see() {
    for want in TABLE {
        let name = want.fixture;
        let event = decode(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.kind, want.kind, "{name}");
        let head = &event.request.head;
        assert_eq!(head.method.as_str(), want.method, "{name}");
        assert_eq!(String::from_utf8_lossy(&head.path), want.path, "{name}");
        assert_eq!(
            head.query.as_deref(),
            want.query.map(str::as_bytes),
            "{name}"
        );
        assert_eq!(head.version, want.version, "{name}");
        assert_eq!(header_lines(&head.headers), want.headers, "{name}");
        assert_eq!(
            (head.host.name.as_str(), head.host.port.as_deref()),
            want.host,
            "{name}"
        );
        let o = &head.origin;
        assert_eq!(
            (
                o.remote_addr.as_str(),
                o.server_port.as_str(),
                o.scheme.as_str(),
                o.https
            ),
            want.origin,
            "{name}"
        );
        assert_eq!((o.remote_port.as_str(), o.server_addr.as_str()), ("", ""));
        assert_eq!(body_bytes(event.request.body), want.body, "{name}");
    }
}
