#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oxrun_fuzz::ctl_fifo(data));
