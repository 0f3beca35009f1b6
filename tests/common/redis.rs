//! A real Redis for the shared-store tests (native only): servers started
//! on free 127.0.0.1 ports with AOF in a temp dir, a 3-master cluster, and
//! a [`Transport`] over the `redis` crate's blocking client that runs the
//! engine's scripts as the JS glue does (`EVALSHA`, then `EVAL` on
//! `NOSCRIPT`) and counts round trips.
//!
//! Every server runs under a small `sh` watchdog that stops it (by pid)
//! when the test process goes, however it goes; [`Server`]'s `Drop` stops it
//! sooner.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use usertrail::error::StoreError;
use usertrail::store::remote::{LocalBoxFuture, Op, Remote, Reply, Transport};

/// A free port on 127.0.0.1, at most 55,535: a Redis node in cluster mode
/// refuses a higher one (its bus port is the port plus 10,000), and the
/// kernel hands out ports up to 60,999.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port <= 55_535 {
            return port;
        }
    }
}

/// One `redis-server`, with AOF (`appendfsync always`) in its own dir.
pub struct Server {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra: Vec<String>,
    watchdog: Option<Child>,
}

impl Server {
    /// Starts a server; `extra` are more `redis-server` arguments.
    pub fn start(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Self {
            port: free_port(),
            dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            watchdog: None,
        };
        s.launch();
        s
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.join("redis.pid")
    }

    fn launch(&mut self) {
        let mut args = vec![
            "--port".to_string(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            self.dir.display().to_string(),
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
            "--save".into(),
            "".into(),
            "--pidfile".into(),
            self.pidfile().display().to_string(),
            "--logfile".into(),
            self.dir.join("redis.log").display().to_string(),
        ];
        args.extend(self.extra.iter().cloned());
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        // The watchdog: start the server, then stop it when this test
        // process (our parent) is gone.
        let script = format!(
            "redis-server {} & r=$!; while kill -0 {} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.2; done; kill -9 $r 2>/dev/null",
            quoted.join(" "),
            std::process::id()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server: run ./build.sh setup");
        self.watchdog = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = self.connect() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    // AOF loading answers LOADING until done.
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain connection.
    pub fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let c =
            redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))?;
        c.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(c)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's pid, from its pidfile.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pidfile())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `kill -9` the server: no shutdown, no final write.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.wait();
        }
        let _ = std::fs::remove_file(self.pidfile());
    }

    /// Its data directory (the AOF is in `appendonlydir/` there).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Rewrites its AOF from what it holds now (`BGREWRITEAOF`) and waits
    /// until the rewrite is done and the old files are gone: the operator's
    /// step after an erasure (docs/PRIVACY.md).
    pub fn rewrite_aof(&self) {
        let mut c = self.connect().unwrap();
        let _: redis::Value = redis::cmd("BGREWRITEAOF").query(&mut c).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
            let busy = info.contains("aof_rewrite_in_progress:1")
                || info.contains("aof_rewrite_scheduled:1");
            // Done, and the old files are gone: a base, an increment and
            // the manifest are left.
            let files = std::fs::read_dir(self.dir.join("appendonlydir"))
                .map(|d| d.count())
                .unwrap_or(0);
            if !busy && files <= 3 {
                return;
            }
            assert!(Instant::now() < deadline, "the AOF rewrite did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every byte of every file of its AOF.
    pub fn aof_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Ok(dir) = std::fs::read_dir(self.dir.join("appendonlydir")) {
            for f in dir.flatten() {
                out.extend(std::fs::read(f.path()).unwrap_or_default());
            }
        }
        out
    }

    /// Starts it again on the same port and dir (so on its AOF).
    pub fn restart(&mut self) {
        self.launch();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A 3-master Redis Cluster on 127.0.0.1.
pub struct Cluster {
    /// The masters.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts three servers in cluster mode and joins them.
    pub fn start() -> Self {
        let nodes: Vec<Server> = (0..3)
            .map(|_| Server::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"]))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli: run ./build.sh setup");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes };
        // Wait until every node agrees the cluster is up.
        let deadline = Instant::now() + Duration::from_secs(20);
        'wait: loop {
            assert!(Instant::now() < deadline, "the cluster did not come up");
            for n in &cluster.nodes {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut n.connect().unwrap())
                    .unwrap();
                if !info.contains("cluster_state:ok") {
                    std::thread::sleep(Duration::from_millis(50));
                    continue 'wait;
                }
            }
            break;
        }
        cluster
    }

    /// The seed URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }
}

/// The server every test of a binary shares (each test under its own
/// prefix).
pub fn standalone() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| Server::start(&[]))
}

/// The cluster every test of a binary shares.
pub fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(Cluster::start)
}

enum Conn {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

/// A transport over one blocking connection, counting round trips.
pub struct RedisTransport {
    conn: Mutex<Option<Conn>>,
    target: Target,
    timeout: Duration,
    /// Round trips made (a `NOSCRIPT` fallback counts two).
    pub trips: AtomicU64,
    /// Bytes of text in the replies read.
    pub read: AtomicU64,
}

#[derive(Clone)]
enum Target {
    Single(String),
    Cluster(Vec<String>),
}

impl RedisTransport {
    /// A transport to the server at `url`.
    pub fn single(url: &str) -> Arc<Self> {
        Arc::new(Self {
            conn: Mutex::new(None),
            target: Target::Single(url.to_owned()),
            timeout: Duration::from_secs(5),
            trips: AtomicU64::new(0),
            read: AtomicU64::new(0),
        })
    }

    /// A transport to the cluster seeded by `urls`.
    pub fn cluster(urls: &[String]) -> Arc<Self> {
        Arc::new(Self {
            conn: Mutex::new(None),
            target: Target::Cluster(urls.to_vec()),
            timeout: Duration::from_secs(5),
            trips: AtomicU64::new(0),
            read: AtomicU64::new(0),
        })
    }

    /// A transport to the server at `url` that gives up on an answer after
    /// `timeout`.
    pub fn single_with_timeout(url: &str, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            conn: Mutex::new(None),
            target: Target::Single(url.to_owned()),
            timeout,
            trips: AtomicU64::new(0),
            read: AtomicU64::new(0),
        })
    }

    /// Round trips so far.
    pub fn trips(&self) -> u64 {
        self.trips.load(Ordering::SeqCst)
    }

    /// Bytes of text read in replies so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::SeqCst)
    }

    fn open(&self) -> redis::RedisResult<Conn> {
        let timeout = Some(self.timeout);
        Ok(match &self.target {
            Target::Single(url) => {
                let c =
                    redis::Client::open(url.as_str())?.get_connection_with_timeout(self.timeout)?;
                c.set_read_timeout(timeout)?;
                c.set_write_timeout(timeout)?;
                Conn::Single(c)
            }
            Target::Cluster(urls) => {
                let c = redis::cluster::ClusterClientBuilder::new(urls.clone())
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(self.timeout)
                    .build()?
                    .get_connection()?;
                Conn::Cluster(Box::new(c))
            }
        })
    }

    fn query(&self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        let mut guard = self.conn.lock().unwrap();
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        self.trips.fetch_add(1, Ordering::SeqCst);
        let result = match guard.as_mut().unwrap() {
            Conn::Single(c) => cmd.query(c),
            Conn::Cluster(c) => cmd.query(c),
        };
        if result
            .as_ref()
            .is_err_and(|e| e.is_io_error() || e.is_connection_dropped() || e.is_timeout())
        {
            *guard = None; // reconnect next time
        }
        result
    }

    fn run_now(&self, op: &Op<'_>) -> usertrail::Result<Reply> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(op.script.sha1())
            .arg(op.keys.len())
            .arg(&op.keys)
            .arg(&op.args);
        let result = match self.query(&cmd) {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                let mut eval = redis::cmd("EVAL");
                eval.arg(op.script.source)
                    .arg(op.keys.len())
                    .arg(&op.keys)
                    .arg(&op.args);
                self.query(&eval)
            }
            other => other,
        };
        match result {
            Ok(v) => {
                let r = reply(v)?;
                self.read.fetch_add(text_len(&r), Ordering::SeqCst);
                Ok(r)
            }
            Err(e)
                if e.is_io_error()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error() =>
            {
                Err(StoreError::Unavailable {
                    detail: e.to_string(),
                }
                .into())
            }
            Err(e)
                if e.to_string().contains("LOADING") || e.to_string().contains("CLUSTERDOWN") =>
            {
                Err(StoreError::Unavailable {
                    detail: e.to_string(),
                }
                .into())
            }
            Err(e) => Err(StoreError::Garbled {
                detail: e.to_string(),
            }
            .into()),
        }
    }
}

/// The bytes of text in a reply.
fn text_len(r: &Reply) -> u64 {
    match r {
        Reply::Text(t) => t.len() as u64,
        Reply::List(l) => l.iter().map(text_len).sum(),
        _ => 0,
    }
}

/// A script's reply as the engine takes it.
pub fn reply(v: redis::Value) -> usertrail::Result<Reply> {
    Ok(match v {
        redis::Value::Nil => Reply::Nil,
        redis::Value::Int(n) => Reply::Int(n),
        redis::Value::BulkString(b) => {
            Reply::Text(String::from_utf8(b).map_err(|_| StoreError::Garbled {
                detail: "not UTF-8".into(),
            })?)
        }
        redis::Value::SimpleString(s) => Reply::Text(s),
        redis::Value::Okay => Reply::Text("OK".into()),
        redis::Value::Array(items) => {
            Reply::List(items.into_iter().map(reply).collect::<Result<_, _>>()?)
        }
        other => {
            return Err(StoreError::Garbled {
                detail: format!("an unexpected reply: {other:?}"),
            }
            .into())
        }
    })
}

impl Transport for RedisTransport {
    fn run<'a>(&'a self, op: Op<'a>) -> LocalBoxFuture<'a, usertrail::Result<Reply>> {
        let r = self.run_now(&op);
        Box::pin(std::future::ready(r))
    }

    fn sleep(&self, ms: u32) -> LocalBoxFuture<'_, ()> {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
        Box::pin(std::future::ready(()))
    }
}

/// A prefix no other test uses.
pub fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A shared store on `transport` under a fresh prefix.
pub fn remote(transport: Arc<RedisTransport>) -> Remote {
    Remote::new(transport, &unique_prefix()).unwrap()
}

/// Every key under `prefix` on the servers behind `urls`, sorted.
pub fn keys(urls: &[String], prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for url in urls {
        let mut c = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .unwrap();
            out.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    out.sort();
    out
}

/// A connection to the node of `urls` that holds `key`.
pub fn node_for(urls: &[String], key: &str) -> redis::Connection {
    for url in urls {
        let mut c = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let exists: i64 = match redis::cmd("EXISTS").arg(key).query(&mut c) {
            Ok(n) => n,
            Err(_) => continue, // MOVED: not this node
        };
        if exists == 1 || urls.len() == 1 {
            return c;
        }
    }
    redis::Client::open(urls[0].as_str())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Every key under `prefix` and what it holds, as bytes: to search for
/// secrets and to compare before and after.
pub fn dump(urls: &[String], prefix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys(urls, prefix) {
        let mut c = node_for(urls, &key);
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
        out.extend_from_slice(key.as_bytes());
        out.push(b'\n');
        let items: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => redis::cmd("HGETALL").arg(&key).query(&mut c).unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(&mut c)
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query(&mut c)
                .unwrap(),
            "set" => {
                let mut v: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&key).query(&mut c).unwrap();
                v.sort();
                v
            }
            "string" => vec![redis::cmd("GET").arg(&key).query(&mut c).unwrap()],
            "stream" => {
                let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query(&mut c)
                    .unwrap();
                entries
                    .into_iter()
                    .flat_map(|(id, fields)| std::iter::once(id.into_bytes()).chain(fields))
                    .collect()
            }
            _ => vec![],
        };
        for i in items {
            out.extend_from_slice(&i);
            out.push(b'\n');
        }
    }
    out
}

/// A transport that fails one call, the `n`-th from when it is armed, with
/// `STORE_UNAVAILABLE` (a dropped connection mid-way), and passes every
/// other to `inner`.
pub struct Flaky {
    inner: Arc<RedisTransport>,
    calls: AtomicU64,
    fail_at: AtomicU64,
}

impl Flaky {
    /// Over `inner`, failing nothing until [`Flaky::fail_call`].
    pub fn new(inner: Arc<RedisTransport>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            calls: AtomicU64::new(0),
            fail_at: AtomicU64::new(u64::MAX),
        })
    }

    /// Fails the `n`-th call from now (0: the next one).
    pub fn fail_call(&self, n: u64) {
        self.calls.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }

    /// Calls since armed.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Transport for Flaky {
    fn run<'a>(&'a self, op: Op<'a>) -> LocalBoxFuture<'a, usertrail::Result<Reply>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n == self.fail_at.load(Ordering::SeqCst) {
            let err = StoreError::Unavailable {
                detail: format!("injected failure of call {n} ({})", op.script.name),
            };
            return Box::pin(std::future::ready(Err(err.into())));
        }
        self.inner.run(op)
    }

    fn sleep(&self, ms: u32) -> LocalBoxFuture<'_, ()> {
        self.inner.sleep(ms)
    }
}
