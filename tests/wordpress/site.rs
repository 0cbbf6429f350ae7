//! A WordPress docroot from Debian's package, pointed at the test's database.
//!
//! Debian's `wp-config.php` reads `/etc/wordpress/config-<host>.php` (or the name in
//! `$_SERVER['WORDPRESS_CONFIG']`, also under /etc), which a test must not write. Symlinks
//! do not help: PHP resolves them in `__DIR__`, so `wp-load.php` would find Debian's
//! config again. So the package's tree is copied (60 MB, about 0.2 s) and the copy gets
//! its own `wp-config.php`, as a site owner's would be.

use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "/usr/share/wordpress";

/// Copy WordPress into `dir`/site, configured for database `db` on 127.0.0.1:`port`
/// as root. Returns the docroot.
pub fn wordpress(dir: &Path, port: u16, db: &str) -> PathBuf {
    assert!(
        Path::new(PACKAGE).join("wp-login.php").exists(),
        "WordPress is missing: apt-get install wordpress (or run `make test`)"
    );
    assert!(
        Path::new(PACKAGE)
            .join("wp-content/themes/twentytwentythree")
            .exists(),
        "WordPress's default theme is missing: apt-get install \
         wordpress-theme-twentytwentythree (or run `make test`)"
    );
    let site = dir.join("site");
    let status = Command::new("cp")
        .arg("-rL")
        .arg(PACKAGE)
        .arg(&site)
        .status()
        .unwrap();
    assert!(status.success(), "copying {PACKAGE}: {status}");
    // Apache's file (a commented-out sample); nginx has none, and lamphp never serves
    // dotfiles anyway.
    let _ = std::fs::remove_file(site.join(".htaccess"));
    let config = format!(
        r#"<?php
// The test's own config, in place of Debian's (which reads /etc/wordpress).
define('DB_NAME', '{db}');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', '127.0.0.1:{port}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = 'wp_';
// The site answers on whatever port the server under test got.
define('WP_HOME', 'http://' . $_SERVER['HTTP_HOST']);
define('WP_SITEURL', WP_HOME);
// No network here: no update checks or dashboard news from wordpress.org, and no
// loopback request to wp-cron.php after each page.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
define('WP_DEBUG', false);
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"#
    );
    std::fs::write(site.join("wp-config.php"), config).unwrap();
    site
}
