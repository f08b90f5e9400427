//! `hermes`: provider-auth for the Hermes agent.
//!
//! The crate is a library with a thin binary on top. The layers, bottom up:
//!
//! * [`store`]: `auth.json`, `config.yaml` and `.env` in `HERMES_HOME`, the cross-process
//!   lock and atomic writes. A write needs the lock guard, so an unlocked write does not compile.
//! * [`providers`]: the provider registry (a data table) and custom providers from config.
//! * [`pool`]: credential pools: seeding, selection strategies, cooldowns, rotation.
//! * [`proxy`]: `hermes proxy`, a local OpenAI-compatible gateway over a pool.
//! * [`cli`]: clap definitions and one file per command; the only layer that sees clap.

pub mod cli;
pub mod clock;
pub mod envvars;
pub mod home;
pub mod honcho;
pub mod jwt;
pub mod mcp;
pub mod model;
pub mod pool;
pub mod providers;
pub mod proxy;
pub mod secret;
pub mod setup;
pub mod store;
pub mod timefmt;
