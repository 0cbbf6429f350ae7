// Shared by the sessions and wordpress test crates, each of which uses only part of it.
#![allow(dead_code)]

//! A browser's cookie jar over ureq: cookies kept across requests (paths and expiry
//! ignored, as one test talks to one site), redirects not followed.

use std::time::Duration;

/// One response: status, header fields as sent, body as text (lossy) and as bytes.
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Page {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    /// GET `path`, or POST the urlencoded `form` to it: (status, body).
    pub fn fetch(&mut self, port: u16, path: &str, form: Option<&str>) -> (u16, String) {
        let page = match form {
            Some(form) => self.post_form(port, path, form),
            None => self.get(port, path),
        };
        (page.status, page.body)
    }

    pub fn get(&mut self, port: u16, path: &str) -> Page {
        self.request(port, path, None, &[])
    }

    /// POST the urlencoded `form` to `path`.
    pub fn post_form(&mut self, port: u16, path: &str, form: &str) -> Page {
        let body = ("application/x-www-form-urlencoded", form.as_bytes());
        self.request(port, path, Some(body), &[])
    }

    /// GET `path`, or POST `body` (content type, bytes) to it, with extra `headers`.
    pub fn request(
        &mut self,
        port: u16,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> Page {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("http://127.0.0.1:{port}{path}");
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut res = match body {
            Some((content_type, body)) => {
                let mut req = agent
                    .post(&url)
                    .header("Cookie", &cookie)
                    .header("Content-Type", content_type);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req.send(body)
            }
            None => {
                let mut req = agent.get(&url).header("Cookie", &cookie);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req.call()
            }
        }
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            let expired = set.to_ascii_lowercase().contains("max-age=0");
            if value != "deleted" && !value.is_empty() && !expired {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let status = res.status().as_u16();
        let bytes = res.body_mut().read_to_vec().unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// The names of the cookies held.
    pub fn cookie_names(&self) -> Vec<&str> {
        self.cookies.iter().map(|(k, _)| k.as_str()).collect()
    }
}
