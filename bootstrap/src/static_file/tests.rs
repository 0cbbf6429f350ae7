//! [`serve`] on real files: what a client would see, checked against nginx 1.22.

use super::*;
use std::fs;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "lamphp-static-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `name` with `bytes`, dated 1_700_000_000 (Tue, 14 Nov 2023 22:13:20 GMT).
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, bytes).unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value)))
        .collect()
}

/// Header names and values in order.
fn headers_of(res: &Response<Body>) -> Vec<(String, String)> {
    res.headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The body's frames, and the error that ended it if one did.
async fn frames(res: Response<Body>) -> (Vec<Bytes>, Option<io::Error>) {
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => out.extend(frame.into_data().ok()),
            Err(err) => return (out, Some(err)),
        }
    }
    (out, None)
}

async fn body_of(res: Response<Body>) -> Vec<u8> {
    let (chunks, err) = frames(res).await;
    assert!(err.is_none(), "{err:?}");
    chunks.concat()
}

#[tokio::test]
async fn get_and_head() {
    let dir = Scratch::new();
    let path = dir.file("hello.txt", b"0123456789");
    let want = pairs(&[
        ("content-type", "text/plain"),
        ("content-length", "10"),
        ("last-modified", DATE),
        ("etag", "\"6553f100-a\""),
        ("accept-ranges", "bytes"),
    ]);
    let res = serve(&path, &Method::GET, &HeaderMap::new()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(headers_of(&res), want);
    assert_eq!(body_of(res).await, b"0123456789");

    let res = serve(&path, &Method::HEAD, &HeaderMap::new()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(headers_of(&res), want);
    assert_eq!(frames(res).await.0.len(), 0);
}

#[tokio::test]
async fn ranges_and_conditions() {
    let dir = Scratch::new();
    let path = dir.file("ten.txt", b"0123456789");

    let res = serve(&path, &Method::GET, &request(&[("range", "bytes=1-2")])).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["content-range"], "bytes 1-2/10");
    assert_eq!(body_of(res).await, b"12");

    let res = serve(&path, &Method::GET, &request(&[("range", "bytes=-3")])).await;
    assert_eq!(body_of(res).await, b"789");

    let res = serve(&path, &Method::GET, &request(&[("range", "bytes=1-2,4-5")])).await;
    let boundary = res.headers()["content-type"].to_str().unwrap()[31..].to_string();
    assert_eq!(boundary.len(), 20);
    let want = "\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 1-2/10\r\n\r\n12\
                \r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-5/10\r\n\r\n45\
                \r\n--B--\r\n"
        .replace('B', &boundary);
    assert_eq!(res.headers()["content-length"], "198");
    assert_eq!(body_of(res).await, want.as_bytes());

    let res = serve(
        &path,
        &Method::GET,
        &request(&[("if-none-match", "\"6553f100-a\"")]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let want = pairs(&[("last-modified", DATE), ("etag", "\"6553f100-a\"")]);
    assert_eq!(headers_of(&res), want);
    assert_eq!(frames(res).await.0.len(), 0);
}

#[tokio::test]
async fn error_pages() {
    let dir = Scratch::new();
    let path = dir.file("ten.txt", b"0123456789");
    let page = |status| error_page::html(status).into_bytes();

    for method in [Method::GET, Method::HEAD] {
        let res = serve(&path, &method, &request(&[("range", "bytes=20-")])).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        let len = page(StatusCode::RANGE_NOT_SATISFIABLE).len().to_string();
        let want = pairs(&[
            ("content-type", "text/html"),
            ("content-length", &len),
            ("content-range", "bytes */10"),
        ]);
        assert_eq!(headers_of(&res), want);
        let body = if method == Method::GET {
            page(res.status())
        } else {
            vec![]
        };
        assert_eq!(body_of(res).await, body);
    }

    let res = serve(&path, &Method::GET, &request(&[("if-match", "\"x\"")])).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(body_of(res).await, page(StatusCode::PRECONDITION_FAILED));

    let missing = dir.0.join("missing.txt");
    for (path, method, want) in [
        (&path, Method::PUT, StatusCode::METHOD_NOT_ALLOWED),
        (&path, Method::POST, StatusCode::METHOD_NOT_ALLOWED),
        (&missing, Method::PUT, StatusCode::METHOD_NOT_ALLOWED),
        (&missing, Method::POST, StatusCode::NOT_FOUND),
        (&missing, Method::GET, StatusCode::NOT_FOUND),
        (&dir.0, Method::GET, StatusCode::NOT_FOUND),
    ] {
        let res = serve(path, &method, &HeaderMap::new()).await;
        assert_eq!(res.status(), want, "{method} {}", path.display());
        let names: Vec<_> = headers_of(&res).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["content-type", "content-length"]);
        assert_eq!(body_of(res).await, page(want));
    }
}

#[test]
fn open_errors_map_like_nginx() {
    for (errno, want) in [
        (libc::ENOENT, StatusCode::NOT_FOUND),
        (libc::ENOTDIR, StatusCode::NOT_FOUND),
        (libc::ENAMETOOLONG, StatusCode::NOT_FOUND),
        (libc::EACCES, StatusCode::FORBIDDEN),
        (libc::ELOOP, StatusCode::FORBIDDEN),
        (libc::EIO, StatusCode::INTERNAL_SERVER_ERROR),
        (libc::EMFILE, StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        assert_eq!(
            open_error_status(&io::Error::from_raw_os_error(errno)),
            want
        );
    }
}

#[tokio::test]
async fn fifo_is_not_waited_on() {
    let dir = Scratch::new();
    let fifo = dir.0.join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        serve(&fifo, &Method::GET, &HeaderMap::new()),
    )
    .await
    .expect("opening a FIFO blocked");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn large_file_is_streamed() {
    const SIZE: u64 = 50 * 1024 * 1024;
    const MARK: u64 = 30 * 1024 * 1024;
    let dir = Scratch::new();
    let path = dir.0.join("big.bin");
    {
        use std::io::{Seek, Write};
        let mut file = fs::File::create(&path).unwrap();
        file.set_len(SIZE).unwrap();
        file.seek(SeekFrom::Start(MARK)).unwrap();
        file.write_all(b"marker").unwrap();
    }

    let res = serve(&path, &Method::GET, &HeaderMap::new()).await;
    assert_eq!(res.headers()["content-length"], SIZE.to_string().as_str());
    let (chunks, err) = frames(res).await;
    assert!(err.is_none(), "{err:?}");
    assert!(chunks.len() >= 100, "only {} frames", chunks.len());
    assert!(chunks.iter().all(|c| c.len() <= CHUNK));
    assert_eq!(chunks.iter().map(|c| c.len() as u64).sum::<u64>(), SIZE);

    let range = HeaderValue::from_str(&format!("bytes={}-{}", MARK - 2, MARK + 7)).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(header::RANGE, range);
    let res = serve(&path, &Method::GET, &headers).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(body_of(res).await, b"\0\0marker\0\0");
}

#[tokio::test]
async fn truncation_while_sending_is_an_error() {
    let dir = Scratch::new();
    let path = dir.file("shrinks.bin", &vec![b'x'; 1 << 20]);
    let res = serve(&path, &Method::GET, &HeaderMap::new()).await;
    assert_eq!(res.headers()["content-length"], "1048576");
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    let (chunks, err) = frames(res).await;
    assert!(chunks.concat().len() <= 100);
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
}
