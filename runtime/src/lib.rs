//! oxrun library.
