//! Shared helpers for the monitor protocol tests.
