//! oxsys: the only unsafe code of oxrun.
