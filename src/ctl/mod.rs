//! `synclinkctl`: the admin CLI. (Filled in by the CLI work.)

pub fn main() -> std::process::ExitCode {
    eprintln!("synclinkctl: not implemented yet");
    std::process::ExitCode::from(2)
}
