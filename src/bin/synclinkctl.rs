fn main() -> std::process::ExitCode {
    synclink::ctl::main()
}
