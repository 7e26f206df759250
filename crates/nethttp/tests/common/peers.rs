//! Finding the external programs the interop tests talk to (curl, python3, nginx, microsocks), with the
//! CI rule: under `CI=true` a missing or broken peer fails the test, elsewhere it is skipped,
//! and the binary names the skipped tests and the missing peers after its results (see
//! `common::skips`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Locates `name` on `PATH` (then in `extra_dirs`) and checks that it runs (`version_arg`).
/// Missing or broken: panics if `CI=true`, else prints a note and returns `None` so the test
/// can skip.
pub fn peer(name: &str, version_arg: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let runs = |p: &Path| {
        std::process::Command::new(p)
            .arg(version_arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    peer_checked(name, extra_dirs, &format!("`{version_arg}` failed"), runs)
}

/// Locates `name` as [`peer`] does, for a program with no option that exits 0 without
/// starting it (microsocks): `runs` checks it, and `broken` says what failed when it does
/// not. By the same CI rule.
pub fn peer_checked(
    name: &str,
    extra_dirs: &[&str],
    broken: &str,
    runs: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(extra_dirs.iter().map(PathBuf::from));
    let found = dirs
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p));
    if found.as_deref().is_some_and(runs) {
        return found;
    }
    let why = match &found {
        Some(p) => format!("`{}` does not run ({broken})", p.display()),
        None => format!("`{name}` is not on PATH"),
    };
    skip(&why)
}

/// The CI rule for a missing peer: panics under `CI=true`, else records the skip and returns
/// `None`.
pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "interop peer missing: {why}; CI=true requires it (`{}` installs it)",
            super::skips::INSTALL
        );
    }
    eprintln!("note: skipping this test: {why} (with CI=true this is a failure)");
    super::skips::record(why);
    None
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `python3`, if it runs and can `import` every module in `modules` (e.g. `["h2.connection"]`);
/// by the same CI rule as [`peer`]: missing under `CI=true` panics, elsewhere `None` with a note.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let py = peer("python3", "--version", &[])?;
    let import = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new(&py)
        .args(["-c", &import])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    skip(&format!("python3 cannot `{import}`"))
}

/// `node` and the `NODE_PATH` where `.ci/install-peers` put Node's `ws` (target/node-peers),
/// if it can `require('ws')`; by the CI rule of [`peer`].
pub fn node_ws() -> Option<(PathBuf, PathBuf)> {
    let node = peer("node", "--version", &[])?;
    let modules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/node-peers/node_modules");
    let ok = std::process::Command::new(&node)
        .args(["-e", "require('ws')"])
        .env("NODE_PATH", &modules)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some((node, modules));
    }
    skip("Node's `ws` is not in target/node-peers (npm install --prefix target/node-peers ws@8)")
}

/// Whether this nginx takes `http2 on;` (1.25.1 and later) rather than `listen ... http2`.
pub fn nginx_knows_http2_on(bin: &Path) -> bool {
    let out = std::process::Command::new(bin)
        .arg("-v")
        .output()
        .expect("nginx -v");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    let v: Vec<u32> = text
        .split('/')
        .nth(1)
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .take(3)
        .collect();
    v >= vec![1, 25, 1]
}

/// How this nginx turns on HTTP/2 for a TLS server: the suffix for `listen ... ssl` and the
/// directive for the server block (one of them empty).
pub fn nginx_http2_syntax(bin: &Path) -> (&'static str, &'static str) {
    if nginx_knows_http2_on(bin) {
        ("", "http2 on;")
    } else {
        (" http2", "")
    }
}

/// Starts nginx in the foreground on the config `<dir>/nginx.conf` (prefix `dir`), and waits
/// up to 10 s for its pid file, which nginx writes once its listening socket is bound.
/// `None` if nginx exited first (say, its port was taken meanwhile: the caller may retry on
/// another); a panic with nginx's error log if it neither started nor exited.
pub async fn start_nginx(bin: &Path, dir: &Path) -> Option<tokio::process::Child> {
    let _ = std::fs::remove_file(dir.join("nginx.pid"));
    let mut child = tokio::process::Command::new(bin)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn nginx");
    let t0 = std::time::Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if dir.join("nginx.pid").exists() {
            return Some(child);
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Python 2.7 and the Autobahn|Testsuite (`autobahntestsuite`) where `.ci/install-peers`
/// pip-installs it: `target/autobahn/site`.
pub struct Autobahn {
    /// A Python 2.7: `PY2`, else pyenv's 2.7.18, else `python2.7` or `python2` on `PATH`.
    pub python: PathBuf,
    /// `PYENV_VERSION` to run it with (pyenv's shim picks the version by it).
    pub pyenv_version: Option<&'static str>,
    /// The site directory holding `autobahntestsuite`.
    pub site: PathBuf,
}

impl Autobahn {
    /// `python -c <script> <args...>` with the suite's site directory as the first argument.
    pub fn command(&self, script: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.python);
        if let Some(v) = self.pyenv_version {
            cmd.env("PYENV_VERSION", v);
        }
        cmd.arg("-c").arg(script).arg(&self.site);
        cmd
    }
}

/// The Autobahn|Testsuite on Python 2.7, if both are there; by the CI rule of [`peer`].
pub fn autobahn() -> Option<Autobahn> {
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/autobahn/site");
    let mut candidates: Vec<(PathBuf, Option<&'static str>)> = Vec::new();
    if let Some(p) = std::env::var_os("PY2") {
        candidates.push((PathBuf::from(p), None));
    } else {
        candidates.push((PathBuf::from("python"), Some("2.7.18")));
        candidates.push((PathBuf::from("python2.7"), None));
        candidates.push((PathBuf::from("python2"), None));
    }
    let check = "import site, sys; site.addsitedir(sys.argv[1]); \
                 assert sys.version_info[0] == 2; import autobahntestsuite";
    for (python, pyenv_version) in candidates {
        let mut cmd = std::process::Command::new(&python);
        if let Some(v) = pyenv_version {
            cmd.env("PYENV_VERSION", v);
        }
        let ok = cmd
            .args(["-c", check])
            .arg(&site)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Autobahn {
                python,
                pyenv_version,
                site,
            });
        }
    }
    skip("Python 2.7 with autobahntestsuite in target/autobahn/site is missing (pyenv install 2.7.18)")
}

/// Starts nginx (one process, `master_process off`) in `dir` on a free loopback port: the
/// config is the common preamble (error log, pid file and temp paths under `dir`) and the
/// `http { }` block's contents that `http_block(port)` gives. Another port is tried when the
/// one picked was taken meanwhile. Returns the process (killed on drop) and its port.
pub async fn nginx_on_free_port(
    bin: &Path,
    dir: &Path,
    http_block: impl Fn(u16) -> String,
) -> (tokio::process::Child, u16) {
    for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(format!("tmp/{t}"))).unwrap();
    }
    let d = dir.display();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let conf = format!(
            "master_process off;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 256; }}\nhttp {{\n\
             client_body_temp_path {d}/tmp/body;\nproxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fastcgi;\nuwsgi_temp_path {d}/tmp/uwsgi;\n\
             scgi_temp_path {d}/tmp/scgi;\n{}\n}}\n",
            http_block(port)
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        if let Some(child) = start_nginx(bin, dir).await {
            return (child, port);
        }
        let err = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(
            err.contains("Address already in use"),
            "nginx exited at start:\n{err}"
        );
    }
    panic!("nginx found no free port in 5 tries");
}
