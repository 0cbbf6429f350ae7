use super::*;

fn names(sites: &[&[&str]]) -> ServerNames<usize> {
    let sites = sites
        .iter()
        .enumerate()
        .map(|(i, names)| (names.iter().map(|n| n.to_string()).collect(), i))
        .collect();
    ServerNames::new(sites).unwrap()
}

#[test]
fn hosts_go_where_nginx_sends_them() {
    let table = names(&[
        &["default.test"],
        &["example.com", "www.example.com"],
        &["*.example.com"],
        &["*.shop.example.com"],
        &[".blog.test"],
        &["mail.*"],
        &["mail.example.*"],
        &["_"],
    ]);
    // (host, site)
    let cases = [
        ("example.com", 1),
        ("www.example.com", 1),
        ("api.example.com", 2),
        ("a.b.example.com", 2),
        ("x.shop.example.com", 3),
        ("shop.example.com", 2),
        ("blog.test", 4),
        ("en.blog.test", 4),
        ("mail.example.org", 6),
        ("mail.foo.org", 5),
        ("mail.example.com", 2),
        ("mail.example.net", 6),
        ("mail.", 0),
        ("mail", 0),
        ("other.test", 0),
        ("", 0),
        ("_", 7),
        ("127.0.0.1", 0),
        ("xexample.com", 0),
    ];
    for (host, want) in cases {
        assert_eq!(*table.choose(host), want, "{host:?}");
    }
}

#[test]
fn an_exact_name_beats_a_wildcard_and_the_longest_wildcard_wins() {
    let table = names(&[
        &["*.a.test"],
        &["*.b.a.test"],
        &["x.b.a.test"],
        &[".a.test"],
    ]);
    assert_eq!(*table.choose("x.b.a.test"), 2);
    assert_eq!(*table.choose("y.b.a.test"), 1);
    assert_eq!(*table.choose("y.a.test"), 0);
    // `.a.test` is the only name that matches the bare domain.
    assert_eq!(*table.choose("a.test"), 3);
}

#[test]
fn bad_names_and_conflicts_are_refused() {
    let refused = |sites: Vec<(Vec<String>, u8)>| ServerNames::new(sites).unwrap_err();
    let one = |n: &str| (vec![n.to_owned()], 0);
    for name in ["www.*.com", "*example.com", "~^www", "*.", ".", "*"] {
        assert_eq!(
            refused(vec![one(name)]),
            SiteError::BadName(name.into()),
            "{name}"
        );
    }
    assert_eq!(
        refused(vec![
            one("a.test"),
            (vec!["b.test".into(), "A.test".into()], 1)
        ]),
        SiteError::Conflict {
            name: "a.test".into(),
            first: "a.test".into(),
            second: "b.test".into()
        }
    );
    assert_eq!(refused(vec![]), SiteError::None);
}

#[test]
fn sites_are_written_as_hosts_then_paths() {
    let site = |names: &[&str], docroot: &str, basedir: &str| SiteSpec {
        names: names.iter().map(|n| n.to_string()).collect(),
        docroot: docroot.into(),
        basedir: basedir.into(),
    };
    let table: Vec<(&str, Result<SiteSpec, SiteError>)> = vec![
        ("a.test=/srv/a", Ok(site(&["a.test"], "/srv/a", "/srv/a"))),
        (
            "A.test www.a.test /srv/a/public /srv/a",
            Ok(site(&["a.test", "www.a.test"], "/srv/a/public", "/srv/a")),
        ),
        ("  *.b.test\t= ./b ", Ok(site(&["*.b.test"], "./b", "./b"))),
        ("/srv/a", Err(SiteError::NoHost("/srv/a".into()))),
        ("a.test", Err(SiteError::NoDocroot("a.test".into()))),
        (
            "a.test /srv/a b.test",
            Err(SiteError::Order("a.test /srv/a b.test".into())),
        ),
        (
            "a.test /x /y /z",
            Err(SiteError::Order("a.test /x /y /z".into())),
        ),
        ("~a /srv/a", Err(SiteError::BadName("~a".into()))),
    ];
    for (spec, want) in table {
        assert_eq!(parse_site(spec), want, "{spec}");
    }
}

#[test]
fn a_sites_file_has_a_site_a_line_and_comments() {
    let text = "# the default first\nshop.test /srv/shop/public /srv/shop\n\n  blog.test /srv/blog # wordpress\n";
    let sites = parse_file(text).unwrap();
    assert_eq!(sites.len(), 2);
    assert_eq!(sites[0].names, ["shop.test"]);
    assert_eq!(sites[1].docroot, PathBuf::from("/srv/blog"));
    assert_eq!(
        parse_file("a.test /a\nb.test\n").unwrap_err().to_string(),
        "line 2: \"b.test\" has no document root (a path with a /): write HOST [HOST...] DOCROOT [BASEDIR]"
    );
}

#[test]
fn a_site_reads_its_own_directories_only() {
    let ini = |docroot: &str, basedir: &str| {
        isolation(
            Path::new(docroot),
            Path::new(basedir),
            Path::new("/run/l/site1"),
        )
    };
    let value = |ini: &[(String, String)], name: &str| {
        ini.iter().find(|(n, _)| n == name).unwrap().1.clone()
    };
    let laravel = ini("/srv/a/public", "/srv/a");
    assert_eq!(value(&laravel, "open_basedir"), "/srv/a:/run/l/site1");
    assert_eq!(value(&laravel, "upload_tmp_dir"), "/run/l/site1/tmp");
    assert_eq!(value(&laravel, "session.save_path"), "/run/l/site1/tmp");
    let apart = ini("/srv/www/a", "/srv/lib/a");
    assert_eq!(
        value(&apart, "open_basedir"),
        "/srv/lib/a:/srv/www/a:/run/l/site1"
    );
}
