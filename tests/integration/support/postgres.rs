//! A throwaway PostgreSQL cluster for one test: `initdb` into a temp dir, a
//! server listening only on a Unix socket in it (no TCP port at all),
//! password authentication, and `pg_ctl stop` when dropped.
//!
//! PostgreSQL is found through `PG_BINDIR`, else Debian's
//! `/usr/lib/postgresql/N/bin` (the newest), else `initdb` on `PATH`.
//! Without it the tests that need it return at once, so that the README's
//! test command passes on any machine (scripts/test.sh says they were
//! skipped); CI sets `TESTS_REQUIRE_POSTGRES=require`, and then a
//! missing PostgreSQL fails them. (Neither name starts with FEED_DIGEST_:
//! the binary the tests run reads every such variable as a config override.)

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct Cluster {
    _dir: TempDir,
    data: PathBuf,
    socket: PathBuf,
    bindir: PathBuf,
    /// Root cannot run PostgreSQL: the server runs as `postgres` then.
    as_postgres: bool,
    pub password: String,
    /// With [`Cluster::start_tls`]: the loopback port it also listens on,
    /// TLS only, and the CA file that signed its certificate.
    pub tls: Option<(u16, PathBuf)>,
}

const USER: &str = "feed_digest";

fn bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of the `postgres` account, from `/etc/passwd`.
fn postgres_account() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .unwrap_or_else(|| {
            panic!("running as root, PostgreSQL needs the postgres account, which /etc/passwd lacks")
        })
}

impl Cluster {
    /// A new cluster, or None when PostgreSQL is not installed (and not required).
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(false)
    }

    /// A cluster that also listens on a loopback TCP port, where it takes
    /// only TLS connections (pg_hba rejects any other), with a certificate
    /// for 127.0.0.1 signed by a CA made for it (`openssl`).
    pub fn start_tls() -> Option<Cluster> {
        Cluster::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Cluster> {
        let required = std::env::var("TESTS_REQUIRE_POSTGRES").is_ok_and(|v| v == "require");
        let Some(bindir) = bindir() else {
            assert!(
                !required,
                "TESTS_REQUIRE_POSTGRES=require, but no PostgreSQL is installed (initdb not found; \
                 on Debian: apt-get install postgresql)"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("pg-")
            .tempdir()
            .unwrap_or_else(|err| panic!("temp dir: {err}"));
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        std::fs::create_dir(&socket).unwrap_or_else(|err| panic!("{}: {err}", socket.display()));
        // A password that no other test knows, to search error messages for.
        let password = format!("pw-{}-{}", std::process::id(), rand_suffix());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).unwrap_or_else(|err| panic!("{}: {err}", pwfile.display()));
        let as_postgres = is_root();
        if as_postgres {
            let (uid, gid) = postgres_account();
            for path in [dir.path(), &socket, &pwfile] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
            }
        }
        if tls && Command::new("openssl").arg("version").output().is_err() {
            assert!(
                !required,
                "TESTS_REQUIRE_POSTGRES=require, but openssl, which the TLS test needs, is missing \
                 (apt-get install openssl)"
            );
            return None;
        }
        let tls = tls.then(|| {
            let ca = make_certificates(dir.path());
            if as_postgres {
                let (uid, gid) = postgres_account();
                for name in ["server.crt", "server.key"] {
                    let path = dir.path().join(name);
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                        .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
                }
            }
            (free_port(), ca)
        });
        let cluster = Cluster {
            _dir: dir,
            data,
            socket,
            bindir,
            as_postgres,
            password,
            tls,
        };
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                cluster.data.as_os_str(),
                "-U".as_ref(),
                USER.as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        let log = cluster
            .data
            .parent()
            .map(|p| p.join("server.log"))
            .unwrap_or_default();
        let mut options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c max_connections=60",
            cluster.socket.display()
        );
        if let (Some((port, _)), Some(top)) = (&cluster.tls, cluster.data.parent()) {
            options = format!(
                "-k {} -c listen_addresses=127.0.0.1 -c port={port} -c fsync=off -c max_connections=60 \
                 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cluster.socket.display(),
                top.join("server.crt").display(),
                top.join("server.key").display()
            );
            // Over TCP, TLS or nothing.
            let hba = cluster.data.join("pg_hba.conf");
            let rules =
                std::fs::read_to_string(&hba).unwrap_or_else(|err| panic!("{}: {err}", hba.display()));
            std::fs::write(&hba, format!("hostnossl all all 0.0.0.0/0 reject\n{rules}"))
                .unwrap_or_else(|err| panic!("{}: {err}", hba.display()));
        }
        // `-w`: pg_ctl itself waits until the server accepts connections.
        cluster.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                cluster.data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "120".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
        Some(cluster)
    }

    /// PostgreSQL's `program`, run as the account that may run it.
    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        }
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        run_checked(self.command(program).args(args), program);
    }

    /// The URL of database `db` over TLS on the loopback port of
    /// [`Cluster::start_tls`], with `params` (e.g. `sslmode=require`).
    pub fn tls_url(&self, db: &str, params: &str) -> String {
        let (port, _) = self.tls.as_ref().expect("a cluster started with start_tls");
        format!("postgres://{USER}@127.0.0.1:{port}/{db}?{params}")
    }

    /// The URL of database `db` (the socket directory percent-encoded as the host).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{USER}@{}{}/{db}",
            percent_encode(&self.socket),
            self.port_suffix()
        )
    }

    /// The socket's file is named by the port: say it when not the default.
    fn port_suffix(&self) -> String {
        self.tls
            .as_ref()
            .map(|(port, _)| format!(":{port}"))
            .unwrap_or_default()
    }

    /// A connection string that also carries the password, for the test's
    /// own checks of the database (feed-digest itself refuses such URLs).
    pub fn admin(&self) -> String {
        let port = self.tls.as_ref().map(|(port, _)| *port).unwrap_or(5432);
        format!(
            "host={} port={port} user={USER} password={} dbname=postgres",
            self.socket.display(),
            self.password
        )
    }

    /// A plain client for looking at the database beside the store.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.admin(), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|err| panic!("connect to the test cluster: {err}"));
        tokio::spawn(connection);
        client
    }

    pub fn password(&self) -> feed_digest::store::postgres::Password {
        feed_digest::store::postgres::Password::new(self.password.clone())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate: the data dies with the temp dir anyway.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Runs `command` to its end; a failure to start or a failed exit panics,
/// naming `what` and showing its output.
fn run_checked(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A loopback port free a moment ago: PostgreSQL cannot be told to take
/// port 0 and say which it got.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("a free loopback port: {err}"))
}

/// A CA (`ca.pem`) and a server certificate it signed for 127.0.0.1 and
/// localhost (`server.crt`, `server.key` mode 0600), in `dir`; the CA's path.
fn make_certificates(dir: &Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        run_checked(
            Command::new("openssl").args(args).current_dir(dir),
            &format!("openssl {args:?} (apt-get install openssl)"),
        );
    };
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n[dn]\nCN = feed-digest test CA\n\
         [ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .unwrap_or_else(|err| panic!("ca.cnf: {err}"));
    let ec = [
        "-config",
        "ca.cnf",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap_or_else(|err| panic!("server.ext: {err}"));
    openssl(
        &[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|err| panic!("server.key: {err}"));
    dir.join("ca.pem")
}

fn percent_encode(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(*byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}
