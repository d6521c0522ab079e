#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oxrun_fuzz::config_plan(data));
