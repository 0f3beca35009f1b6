//! The analytics pipeline: events from many devices and servers, through a
//! collector, into partition streams on Redis (Redis Streams), stored by
//! one engine per partition, and queried across partitions by merging.
//!
//! ```text
//!  device / server engine ── outbox ──▶ collector (an engine: the event rules)
//!                                          │ XADD to stream p = hash(subject) mod P
//!                                          ▼
//!                      P:{p0}:events … P:{pN}:events   (Redis Streams)
//!                                          │ read after the committed position
//!                                          ▼
//!                      partition engine p: events + position, one transaction
//!                                          │ partial answers
//!                                          ▼
//!                      coordinator: merge (exact: partitions hold disjoint subjects)
//! ```
//!
//! Everything here is the engine's rules; the glue moves bytes: the
//! collector's HTTP handler, a worker's loop, the coordinator's fan-out
//! (`pkg/collector.js`, `pkg/pipeline.js`).
//!
//! - **At-least-once delivery, exactly-once effect.** A partition stores a
//!   batch and the stream position it reached in one SQLite transaction; a
//!   crash replays from the last committed position, and event ids make the
//!   replay a no-op. Nothing depends on Redis' pending lists.
//! - **Ordering per subject.** A subject's events, identifies and erasures
//!   go through its partition's stream, in order.
//! - **Identity across partitions.** An `identify` whose anonymous id and
//!   user hash to different partitions moves the anonymous id's events to
//!   the user's partition (same ids, so the move is idempotent) and
//!   remembers the alias for later events.
//! - **Erasure in flight.** An erasure is an entry in every partition's
//!   stream: a partition erases what it has and drops the subject's events
//!   produced before the erasure that arrive later. It keeps only the
//!   subject's salted hash, and trims the stream past the entry.

mod collect;
mod consume;
pub mod lease;
pub mod merge;

use serde::{Deserialize, Serialize};

pub use collect::{batch_cap, check_batch, parse_body, CollectStatus, Collected, MAX_BATCH};
pub use consume::{Consumed, Trim};

use crate::error::{Error, Result};
use crate::privacy::EraseOptions;
use crate::store::remote::{Remote, Script};
use crate::tracking::PipelineConfig;
use crate::UserTrail;

static APPEND: Script = Script::new("pipeline_append", include_str!("lua/append.lua"));
static READ: Script = Script::new("pipeline_read", include_str!("lua/read.lua"));
static TRIM: Script = Script::new("pipeline_trim", include_str!("lua/trim.lua"));
static ROSTER: Script = Script::new("pipeline_roster", include_str!("lua/roster.lua"));
static LEASE: Script = Script::new("pipeline_lease", include_str!("lua/lease.lua"));
static COMMIT: Script = Script::new("pipeline_commit", include_str!("lua/commit.lua"));
static MARK: Script = Script::new("pipeline_mark", "return redis.call('GET', KEYS[1])");

/// Entries appended to a stream in one script at most.
const APPEND_CHUNK: usize = 500;

/// An `identify` as it travels through a stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Identify {
    anonymous_id: String,
    user_id: String,
    at: i64,
}

/// An erasure as it travels through the streams.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Erase {
    subject: String,
    at: i64,
    reason: String,
}

/// The pipeline as one engine takes part in it.
pub struct Pipeline<'a> {
    trail: &'a UserTrail,
    remote: &'a Remote,
    config: PipelineConfig,
}

impl<'a> Pipeline<'a> {
    /// The pipeline of `trail`, which needs a shared store (the streams'
    /// Redis).
    pub fn new(trail: &'a UserTrail) -> Result<Self> {
        let remote = trail.shared().ok_or_else(|| {
            Error::invalid(
                "shared",
                "the pipeline needs a shared store: open with shared: redisStore(client)",
            )
        })?;
        Ok(Self {
            trail,
            remote,
            config: trail.tracking_settings().pipeline,
        })
    }

    /// The number of partitions.
    pub fn partitions(&self) -> u32 {
        self.config.partitions
    }

    /// The partition of `subject` (a user id, else an anonymous id).
    pub fn partition_of(&self, subject: &str) -> u32 {
        partition_of(subject, self.config.partitions)
    }

    fn stream(&self, partition: u32) -> String {
        self.remote.key(&format!("p{partition}"), "events")
    }

    /// The lowest id a trim of `partition`'s stream kept.
    fn trim_mark(&self, partition: u32) -> String {
        self.remote.key(&format!("p{partition}"), "trimmed")
    }

    fn check_partition(&self, partition: u32) -> Result<()> {
        if partition >= self.config.partitions {
            return Err(Error::invalid(
                "partition",
                format!("must be 0 to {}", self.config.partitions - 1),
            ));
        }
        Ok(())
    }

    /// Appends `entries` (kind, JSON) to `partition`'s stream, in order.
    async fn append(&self, partition: u32, entries: &[(&str, String)]) -> Result<()> {
        for chunk in entries.chunks(APPEND_CHUNK) {
            let mut args = vec![self.config.stream_cap.to_string()];
            for (kind, data) in chunk {
                args.push((*kind).to_owned());
                args.push(data.clone());
            }
            let ids = self
                .remote
                .run(
                    &APPEND,
                    vec![self.stream(partition), self.trim_mark(partition)],
                    args,
                )
                .await?;
            if ids.list()?.len() != chunk.len() {
                return Err(crate::error::StoreError::Garbled {
                    detail: "a stream append answered for other entries".into(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Sends an `identify` through the anonymous id's partition: its worker
    /// moves the anonymous id's events to the user's partition if that is
    /// another, and remembers the alias. Also links the two in this engine
    /// and in the shared store, as [`UserTrail::identify`] does, so that
    /// every gate follows the link and an erasure of the user reaches the
    /// anonymous id everywhere.
    pub async fn identify(&self, anonymous_id: &str, user_id: &str) -> Result<()> {
        crate::kernel::text::check("anonymousId", anonymous_id, 256)?;
        crate::kernel::text::check("userId", user_id, 256)?;
        self.trail.identify(anonymous_id, user_id).await?;
        let entry = Identify {
            anonymous_id: anonymous_id.to_owned(),
            user_id: user_id.to_owned(),
            at: self.trail.clock().now_ms(),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        self.append(self.partition_of(anonymous_id), &[("i", json)])
            .await
    }

    /// Erases `subject` everywhere: [`crate::privacy::Privacy::erase`] on
    /// this engine, whose entry in the shared store's rights log every
    /// partition applies before it reads its stream again (erasing what it
    /// holds of the subject and the ids linked to it, and dropping their
    /// events produced before the erasure that arrive later). Returns the
    /// number of partitions.
    pub async fn erase(&self, subject: &str, reason: &str) -> Result<u32> {
        let options = EraseOptions {
            reason: reason.to_owned(),
            actor: Some("pipeline".into()),
            ..EraseOptions::default()
        };
        self.trail.privacy().erase(subject, &options).await?;
        Ok(self.config.partitions)
    }
}

pub use crate::kernel::ids::partition_of;

#[cfg(test)]
mod tests {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[partition_of(&format!("user-{i}"), 4) as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
        // Fixed forever: a pipeline's data depends on it.
        assert_eq!(partition_of("alice", 4), partition_of("alice", 4));
        assert_eq!(partition_of("", 1), 0);
    }
}
