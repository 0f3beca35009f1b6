//! The shared-store backends of the suites (native only): a standalone
//! Redis and a 3-master Redis Cluster, each test under its own prefix.

use std::sync::Arc;

use usertrail::clock::ManualClock;
use usertrail::session::SessionConfig;
use usertrail::store::remote::Remote;
use usertrail::{OpenOptions, Storage, UserTrail};

use super::redis::{self as r, RedisTransport};
use super::session_suite::SessionBackend;
use super::T0;

/// Where a shared store runs.
pub trait Deployment {
    /// The URLs of its servers.
    fn urls() -> Vec<String>;
    /// A new connection to it (another process, as far as Redis can tell).
    fn transport() -> Arc<RedisTransport> {
        let urls = Self::urls();
        if urls.len() == 1 {
            RedisTransport::single(&urls[0])
        } else {
            RedisTransport::cluster(&urls)
        }
    }
}

/// One Redis server.
pub struct Standalone;
impl Deployment for Standalone {
    fn urls() -> Vec<String> {
        vec![r::standalone().url()]
    }
}

/// A 3-master Redis Cluster.
pub struct Clustered;
impl Deployment for Clustered {
    fn urls() -> Vec<String> {
        r::cluster().urls()
    }
}

/// Options for an engine whose shared store is `remote`.
pub fn options_on(remote: Remote) -> OpenOptions {
    OpenOptions::new(Storage::Memory).shared(remote)
}

/// Another engine on `trail`'s shared store, through a new connection.
pub fn sibling<D: Deployment>(trail: &UserTrail, options: OpenOptions) -> UserTrail {
    let prefix = trail.shared().unwrap().prefix().to_owned();
    let remote = Remote::new(D::transport(), &prefix).unwrap();
    UserTrail::open(options.shared(remote)).unwrap()
}

/// Sessions in a shared Redis.
pub struct Redis<D>(std::marker::PhantomData<D>);

fn prefix(trail: &UserTrail) -> String {
    trail.shared().unwrap().prefix().to_owned()
}

impl<D: Deployment> SessionBackend for Redis<D> {
    async fn open(config: SessionConfig) -> (UserTrail, Arc<ManualClock>) {
        let remote = r::remote(D::transport());
        super::open_at(T0, options_on(remote).sessions(config))
    }

    async fn reopen(
        trail: &mut UserTrail,
        config: SessionConfig,
        clock: Arc<ManualClock>,
    ) -> UserTrail {
        sibling::<D>(
            trail,
            OpenOptions::new(Storage::Memory)
                .clock(clock)
                .sessions(config),
        )
    }

    async fn stored(trail: &UserTrail) -> u64 {
        r::keys(&D::urls(), &prefix(trail))
            .iter()
            .filter(|k| k.contains("}:s:"))
            .count() as u64
    }

    async fn snapshot(trail: &mut UserTrail) -> Vec<u8> {
        r::dump(&D::urls(), &prefix(trail))
    }

    async fn key_ids(trail: &UserTrail) -> Vec<String> {
        let urls = D::urls();
        let mut ids = Vec::new();
        for k in r::keys(&urls, &prefix(trail))
            .iter()
            .filter(|k| k.contains("}:s:"))
        {
            let id: Option<String> = ::redis::cmd("HGET")
                .arg(k)
                .arg("sk")
                .query(&mut r::node_for(&urls, k))
                .unwrap();
            ids.extend(id);
        }
        ids.sort();
        ids
    }

    fn sweeps() -> bool {
        false
    }
}
