//! PHP as a site's requests reach it, started the same way in every mode: the session
//! service first (its handler is part of PHP's ini), then php-fpm (or php-cgi) with that
//! ini, then the client that sends it requests.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::Result;

use crate::fastcgi::Client;
use crate::fpm::{Fpm, FpmConfig};
use crate::sessions::{self, SessionSettings};

pub struct Php {
    pub fpm: Fpm,
    pub client: Arc<Client>,
    /// With DynamoDB sessions: where the current request's deadline is told to the session
    /// service (Lambda mode, one request at a time), in epoch ms.
    pub session_deadline: Option<Arc<AtomicU64>>,
}

impl Php {
    /// Starts the session service when `sessions` is set, then PHP's FastCGI server;
    /// returns once PHP accepts connections.
    pub async fn start(mut config: FpmConfig, sessions: Option<SessionSettings>) -> Result<Php> {
        let session_deadline = match sessions {
            Some(sessions) => {
                let started = sessions::start(sessions, &config.runtime_dir).await?;
                config.ini.extend(started.ini());
                Some(started.deadline)
            }
            None => None,
        };
        let fpm = Fpm::start(config).await?;
        let client = Client::new(fpm.pool());
        Ok(Php {
            fpm,
            client,
            session_deadline,
        })
    }
}
