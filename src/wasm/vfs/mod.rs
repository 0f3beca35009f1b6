//! Storage media backed by JS: a SQLite VFS over the host's files (Node,
//! Deno), the OPFS pool of a browser worker, and a Durable Object's storage
//! (Cloudflare Workers). These are media, not
//! conversions: the core opens them by VFS name like any other.

pub(crate) mod durable;
pub(crate) mod hostfs;
pub(crate) mod opfs;
