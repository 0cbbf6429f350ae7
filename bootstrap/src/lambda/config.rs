//! Where the site is, from Lambda's environment: pure, so it is table-tested.
//!
//! Lambda's `Handler` setting (`_HANDLER`) names the front controller relative to the
//! task root (`public/index.php`), as PHP users know it from other PHP runtimes: the
//! docroot is its directory. With `LAMPHP_RELEASE` set, the release directory
//! `$LAMPHP_RELEASES/<id>` (site code on EFS, unpacked by `lamphp deploy`) takes the task
//! root's place, so a published version, which freezes its environment, pins its release.
//! `LAMPHP_ROOT` overrides the task root (a docroot of the user's own, e.g.
//! `/mnt/site/public`, or a container image's `/var/task/public`), but not a release: what
//! `lamphp deploy` sets must take effect whatever the function or the image says, and ECS
//! cannot unset an image's variable (Fargate drops empty values).

use lamphp_protocol::id::{self, IdError};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where releases live when `LAMPHP_RELEASES` is not set: the EFS access point's mount.
pub const DEFAULT_RELEASES: &str = "/mnt/site/releases";

/// The environment variables that decide the docroot.
#[derive(Debug, Default, Clone)]
pub struct SiteEnv {
    /// `LAMPHP_ROOT`.
    pub root: Option<String>,
    /// `_HANDLER`.
    pub handler: Option<String>,
    /// `LAMBDA_TASK_ROOT`.
    pub task_root: Option<String>,
    /// `LAMPHP_RELEASE`: the release this function configuration serves.
    pub release: Option<String>,
    /// `LAMPHP_RELEASES`: the directory of releases.
    pub releases: Option<String>,
}

impl SiteEnv {
    pub fn from_env() -> SiteEnv {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        SiteEnv {
            root: var("LAMPHP_ROOT"),
            handler: var("_HANDLER"),
            task_root: var("LAMBDA_TASK_ROOT"),
            release: var("LAMPHP_RELEASE"),
            releases: var("LAMPHP_RELEASES"),
        }
    }

    /// The directory of releases: `LAMPHP_RELEASES`, or [`DEFAULT_RELEASES`].
    pub fn releases_dir(&self) -> PathBuf {
        PathBuf::from(self.releases.as_deref().unwrap_or(DEFAULT_RELEASES))
    }
}

/// The site as configured: the docroot, the front controller the handler names (to
/// check that it exists) if there is one, and the release directory it is in, if any (a
/// missing one is reported as such).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub docroot: PathBuf,
    pub front_controller: Option<PathBuf>,
    pub release: Option<PathBuf>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SiteError {
    #[error("no site configured: set the function's Handler to the front controller relative to the task root (e.g. public/index.php), or LAMPHP_ROOT to the document root")]
    Unset,
    #[error(
        "the Handler {0:?} must name a .php file relative to the task root (e.g. public/index.php)"
    )]
    BadHandler(String),
    #[error("LAMBDA_TASK_ROOT is not set, so the Handler {0:?} cannot be resolved; set LAMPHP_ROOT instead")]
    NoTaskRoot(String),
    #[error("LAMPHP_RELEASE cannot be used: {0}")]
    BadRelease(IdError),
}

/// Resolve the site from `env`.
pub fn site(env: &SiteEnv) -> Result<Site, SiteError> {
    if let Some(root) = env.root.as_ref().filter(|_| env.release.is_none()) {
        return Ok(Site {
            docroot: PathBuf::from(root),
            front_controller: None,
            release: None,
        });
    }
    let handler = env.handler.as_deref().ok_or(SiteError::Unset)?;
    let relative = Path::new(handler);
    let escapes = relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes || relative.extension().is_none_or(|e| e != "php") {
        return Err(SiteError::BadHandler(handler.to_owned()));
    }
    let (base, release) = match &env.release {
        Some(release) => {
            id::check(release).map_err(SiteError::BadRelease)?;
            let dir = env.releases_dir().join(release);
            (dir.clone(), Some(dir))
        }
        None => {
            let task_root = env
                .task_root
                .as_deref()
                .ok_or_else(|| SiteError::NoTaskRoot(handler.to_owned()))?;
            (PathBuf::from(task_root), None)
        }
    };
    let front_controller = base.join(relative);
    let docroot = front_controller
        .parent()
        .expect("a joined file path has a parent")
        .to_path_buf();
    Ok(Site {
        docroot,
        front_controller: Some(front_controller),
        release,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(root: Option<&str>, handler: Option<&str>, task_root: Option<&str>) -> SiteEnv {
        SiteEnv {
            root: root.map(Into::into),
            handler: handler.map(Into::into),
            task_root: task_root.map(Into::into),
            ..SiteEnv::default()
        }
    }

    fn released(release: &str, releases: Option<&str>, root: Option<&str>) -> SiteEnv {
        SiteEnv {
            release: Some(release.into()),
            releases: releases.map(Into::into),
            ..env(root, Some("public/index.php"), Some("/var/task"))
        }
    }

    #[test]
    fn resolves_like_php_runtimes_do() {
        let ok = |docroot: &str, fc: Option<&str>| {
            Ok(Site {
                docroot: docroot.into(),
                front_controller: fc.map(Into::into),
                release: None,
            })
        };
        let release = |dir: &str| {
            Ok(Site {
                docroot: format!("{dir}/public").into(),
                front_controller: Some(format!("{dir}/public/index.php").into()),
                release: Some(dir.into()),
            })
        };
        let table = [
            (
                env(None, Some("public/index.php"), Some("/var/task")),
                ok("/var/task/public", Some("/var/task/public/index.php")),
            ),
            (
                env(None, Some("index.php"), Some("/var/task")),
                ok("/var/task", Some("/var/task/index.php")),
            ),
            (
                env(
                    Some("/mnt/site/current/public"),
                    Some("public/index.php"),
                    Some("/var/task"),
                ),
                ok("/mnt/site/current/public", None),
            ),
            (env(None, None, Some("/var/task")), Err(SiteError::Unset)),
            (
                env(None, Some("/etc/passwd.php"), Some("/var/task")),
                Err(SiteError::BadHandler("/etc/passwd.php".into())),
            ),
            (
                env(None, Some("../x/index.php"), Some("/var/task")),
                Err(SiteError::BadHandler("../x/index.php".into())),
            ),
            (
                env(None, Some("bootstrap"), Some("/var/task")),
                Err(SiteError::BadHandler("bootstrap".into())),
            ),
            (
                env(None, Some("index.php"), None),
                Err(SiteError::NoTaskRoot("index.php".into())),
            ),
            (
                released("3f2a9c0d1b7e4f60", None, None),
                release("/mnt/site/releases/3f2a9c0d1b7e4f60"),
            ),
            (
                released("r1", Some("/efs/rel"), None),
                release("/efs/rel/r1"),
            ),
            (
                released("r1", Some("/efs/rel"), Some("/var/task/public")),
                release("/efs/rel/r1"),
            ),
            (
                released("../../etc", None, None),
                Err(SiteError::BadRelease(IdError::LeadingDot(
                    "../../etc".into(),
                ))),
            ),
            (
                released("a/b", None, None),
                Err(SiteError::BadRelease(IdError::BadChar("a/b".into()))),
            ),
            (
                SiteEnv {
                    task_root: None,
                    ..released("r1", None, None)
                },
                release("/mnt/site/releases/r1"),
            ),
        ];
        for (env, want) in table {
            assert_eq!(site(&env), want, "{env:?}");
        }
    }
}
