fn main() { std::process::exit(oxmon::run()) }
