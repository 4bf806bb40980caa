//! A throw-away PostgreSQL server for the test binary, as the browser tests have Chromium: found
//! among the installed server binaries (Debian's `postgresql` package: `/usr/lib/postgresql/*/bin`;
//! or `SWITCHBOARD_PG_BIN`), `initdb` into a temporary directory, listening on a free loopback
//! port only, started once for the whole binary and stopped when the test process ends, however
//! it ends (a watchdog shell stops it once its parent is gone, then removes the directory).
//! Each test gets a database of its own.
//!
//! Without the server binaries the PostgreSQL tests say that they did not run and pass; with
//! `SWITCHBOARD_POSTGRES_TEST=required` (CI) they fail instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The running server: its port, and the superuser to connect as.
pub struct Server {
    port: u16,
    user: String,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// A fresh, empty database on the throw-away server (its URL), or `None` when no PostgreSQL
/// server binaries are installed (the caller then returns: the test did not run).
pub async fn database(test: &str) -> Option<String> {
    let server = match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(reason) => {
            assert!(
                std::env::var("SWITCHBOARD_POSTGRES_TEST").as_deref() != Ok("required"),
                "the PostgreSQL tests must run here: {reason}"
            );
            eprintln!("PostgreSQL test {test} did not run: {reason}");
            return None;
        }
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = server.url("postgres");
    // The port opens before the server accepts sessions ("starting up"): try for a while.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = loop {
        match <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
            Ok(conn) => break conn,
            Err(e) if Instant::now() >= deadline => {
                panic!("connect to the throw-away PostgreSQL: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    // Byte-order collation is what the schema declares per column anyway; UTF-8 as in production.
    sqlx::Executor::execute(
        &mut conn,
        format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'").as_str(),
    )
    .await
    .expect("create a test database");
    Some(server.url(&name))
}

impl Server {
    fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}?sslmode=disable",
            self.user, self.port
        )
    }
}

/// The directory of `initdb` and `postgres`.
fn binaries() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("SWITCHBOARD_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL server binaries (/usr/lib/postgresql is missing; install Debian's postgresql package)".to_owned())?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_owned())
}

/// `initdb` refuses to run as root: as root, the server runs as the `postgres` user.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start() -> Result<Server, String> {
    let bin = binaries()?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("switchboard-pg-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();
    let started = start_in(&dir, &bin, root);
    if started.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    started
}

fn start_in(dir: &Path, bin: &Path, root: bool) -> Result<Server, String> {
    if root {
        let chowned = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !chowned.success() {
            return Err("running as root, and there is no postgres user to run the server".into());
        }
    }
    let data = dir.join("data");
    let user = "switchboard";
    let initdb = as_server_user(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            user,
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let port = free_port();
    // The server and its watchdog: once the test process (the shell's parent) is gone, the
    // server gets a fast shutdown and the directory is removed.
    let postgres = bin.join("postgres");
    let server = format!(
        "{} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
        sh_quote(&postgres),
        sh_quote(&data),
        sh_quote(dir),
    );
    let server = if root {
        format!("runuser -u postgres -- {server}")
    } else {
        server
    };
    // The postmaster is signalled by its pid file: as root, `runuser` stands between the shell
    // and it and does not pass signals on.
    let script = format!(
        "parent=$PPID; {server} >{log} 2>&1 & \
         while kill -0 $parent 2>/dev/null; do sleep 0.5; done; \
         pid=$(head -n 1 {pidfile} 2>/dev/null); [ -n \"$pid\" ] && kill -INT \"$pid\"; \
         wait; rm -rf {dir}",
        log = sh_quote(&dir.join("log")),
        pidfile = sh_quote(&data.join("postmaster.pid")),
        dir = sh_quote(dir),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting postgres: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            return Err(format!("postgres did not start within 30 s: {log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server {
        port,
        user: user.to_owned(),
    })
}

fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
