//! Privacy: data minimisation today; consent, export, erasure and retention
//! land with the privacy issue.
//!
//! Everything the engine stores about a client goes through here first: IP
//! addresses are masked ([`ip`]) and user agents are reduced to a browser, an
//! OS and a device class ([`useragent`]).

pub mod ip;
pub mod useragent;
