//! A run with a fresh cache (the tab's "fresh cache" switch): the core's
//! [`FreshCache`], which `edgeplay test` uses for a fiddle request's `fresh_cache`
//! too — the service state with an empty, throwaway cache of its own (see
//! [`edgeplay_host::fresh_cache`]).

pub use edgeplay_host::fresh_cache::FreshCache;
