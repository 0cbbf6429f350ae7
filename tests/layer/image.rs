//! The container image (`layer/image.sh`): an OCI archive holding nothing but the layer
//! at /opt, unpacked with umoci and run from its own runtime config (entry point, CMD,
//! environment, working directory) under bubblewrap, as Lambda runs an image and as ECS
//! does. Also: running another architecture's binaries through binfmt_misc.

use super::{layer, run, spawn_logged, Layer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};
use support::{free_port, Log};

/// The image's root file system and the process its config starts.
pub struct Image {
    rootfs: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
}

impl Image {
    /// The image's process, with its config's environment plus `env`, the test site
    /// mounted at /var/task and an /etc/hosts as the runtime would provide.
    pub fn command(&self, env: &[(&str, &str)]) -> Command {
        let layer = layer();
        // Not read-only: bwrap makes /proc and /dev in it, as container runtimes do.
        let mut command = super::bwrap("--bind", &self.rootfs);
        command
            .arg("--ro-bind")
            .arg(layer.root.join("var/task"))
            .arg("/var/task")
            .arg("--ro-bind")
            .arg(layer.root.join("etc/hosts"))
            .arg("/etc/hosts")
            .args(["--chdir", &self.cwd]);
        let own = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (name, value) in own.chain(env.iter().copied()) {
            command.args(["--setenv", name, value]);
        }
        command.args(&self.args);
        command
    }
}

/// The image built from the layer under test, unpacked once.
pub fn rootfs(layer: &Layer) -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        super::require("umoci", &["--version"], "apt-get install umoci");
        let archive = layer.out.join(format!("{}.oci.tar", layer.name()));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        run(Command::new(repo.join("layer/image.sh"))
            .arg(layer.tree())
            .arg(&layer.arch)
            .arg(&archive));
        let layout = layer.out.join("image-layout");
        let bundle = layer.out.join("image-bundle");
        let _ = std::fs::remove_dir_all(&layout);
        let _ = std::fs::remove_dir_all(&bundle);
        std::fs::create_dir_all(&layout).unwrap();
        run(Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&layout));
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap())
                .unwrap();
        let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or_else(|| panic!("no image name in {index}"));
        assert_eq!(tag, format!("lamphp:php{}-{}", layer.php, layer.arch));
        let reference = format!("{}:{tag}", layout.display());
        run(Command::new("umoci")
            .args(["unpack", "--image", &reference])
            .arg(&bundle));
        let text = std::fs::read_to_string(bundle.join("config.json")).unwrap();
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        let process = &config["process"];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap_or_else(|| panic!("not a list in the image's config: {v}"))
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        let env = strings(&process["env"])
            .into_iter()
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect();
        let rootfs = bundle.join("rootfs");
        let mut top: Vec<_> = std::fs::read_dir(&rootfs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["etc", "opt", "tmp", "var"],
            "the image holds the layer alone"
        );
        let etc: Vec<_> = std::fs::read_dir(rootfs.join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(etc, ["nsswitch.conf"]);
        Image {
            rootfs,
            args: strings(&process["args"]),
            env,
            cwd: process["cwd"].as_str().unwrap().to_owned(),
        }
    })
}

/// Outside Lambda the image's entry point serves HTTP itself, as an ECS task runs it.
#[test]
fn the_image_serves_http_as_ecs_runs_it() {
    let layer = layer();
    let image = rootfs(layer);
    assert_eq!(image.args, ["/opt/bootstrap", "container", "serve"]);
    assert_eq!(image.cwd, "/var/task");
    let port = free_port();
    let log = Log::default();
    let listen = format!("127.0.0.1:{port}");
    let listen = [("LAMPHP_LISTEN", listen.as_str())];
    let _server = spawn_logged(image.command(&listen), &log);
    let start = Instant::now();
    let request = b"GET /info.php/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";
    let response = loop {
        match super::http::exchange(port, request) {
            Ok(response) if response.status == 200 => break response,
            other if start.elapsed() > Duration::from_secs(60) => {
                panic!("no page: {other:?}\n{}", log.text())
            }
            _ => thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        "/info.php|/x|/var/task/public/info.php"
    );
}

/// `arch`'s binaries run here through binfmt_misc (qemu-user-static, with the F flag so the
/// interpreter is found from inside any root); registered here if need be, else a failure
/// that says what to run.
pub fn foreign_binaries_run(arch: &str) {
    let (name, magic, mask) = match arch {
        "arm64" => (
            "qemu-aarch64",
            r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
            r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        ),
        "x86_64" => (
            "qemu-x86_64",
            r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
            r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        ),
        other => panic!("no emulator known for {other}"),
    };
    let qemu = format!("/usr/bin/{name}-static");
    assert!(
        Path::new(&qemu).exists(),
        "{qemu} is missing: apt-get install qemu-user-static (or run `make test-layers`)"
    );
    let misc = Path::new("/proc/sys/fs/binfmt_misc");
    if !misc.join("register").exists() {
        let _ = Command::new("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(misc)
            .status();
    }
    let entry = misc.join(name);
    let registered = |entry: &Path| {
        std::fs::read_to_string(entry).is_ok_and(|s| {
            s.starts_with("enabled")
                && s.lines()
                    .any(|l| l.starts_with("flags:") && l.contains('F'))
        })
    };
    if !registered(&entry) {
        if entry.exists() {
            // Registered without F (or disabled): the interpreter would be looked up inside
            // the sandbox's root, which has none.
            let _ = std::fs::write(&entry, "-1");
        }
        let _ = std::fs::write(
            misc.join("register"),
            format!(":{name}:M::{magic}:{mask}:{qemu}:F"),
        );
    }
    assert!(
        registered(&entry),
        "{arch} binaries cannot run here: as root, run `mount -t binfmt_misc binfmt_misc {}` \
         and `update-binfmts --enable {name}` (qemu-user-static), or register {qemu} with \
         the F flag",
        misc.display()
    );
}
