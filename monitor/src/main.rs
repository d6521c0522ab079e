#![forbid(unsafe_code)]
fn main() {
    std::process::exit(oxmon::run())
}
