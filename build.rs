//! Generated at build time for packaging (`cargo deb`, docs/OPERATIONS.md):
//! the man pages of `synclinkctl` (1) and `synclinkd` (8), their bash, zsh
//! and fish completions, and the packaged systemd unit (the repository's
//! `systemd/synclink.service` with the package's paths, /usr/bin and
//! /usr/share/doc). They are written to `OUT_DIR/assets` and copied to
//! `target/<profile>/assets/`, where `[package.metadata.deb]` finds them.
//! The command lines come from the same source files the binaries parse
//! with (`#[path]`), so the pages cannot drift from the binaries.

use clap::CommandFactory;
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "src/ctl/args.rs"]
mod ctl_args;

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod daemon_args;

fn main() -> std::io::Result<()> {
    for f in [
        "build.rs",
        "src/ctl/args.rs",
        "src/cli.rs",
        "systemd/synclink.service",
        "systemd/synclink-compact.service",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets");
    std::fs::create_dir_all(&out)?;
    let cmds = [
        (ctl_args::Cli::command(), "1"),
        (daemon_args::DaemonArgs::command(), "8"),
    ];
    for (cmd, section) in cmds {
        let name = cmd.get_name().to_string();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section(section)
            .render(&mut page)?;
        std::fs::write(out.join(format!("{name}.{section}")), &page)?;
        // As installed: gzip at the best level, no name or time in it, so
        // the package is reproducible.
        let mut gz = flate2::GzBuilder::new().mtime(0).write(
            std::fs::File::create(out.join(format!("{name}.{section}.gz")))?,
            flate2::Compression::best(),
        );
        std::io::Write::write_all(&mut gz, &page)?;
        gz.finish()?;
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            clap_complete::generate_to(shell, &mut cmd.clone(), &name, &out)?;
        }
    }
    for unit in ["synclink.service", "synclink-compact.service"] {
        let text = std::fs::read_to_string(format!("systemd/{unit}"))?
            .replace("/usr/local/bin/", "/usr/bin/")
            .replace("/usr/local/share/doc/", "/usr/share/doc/");
        std::fs::write(out.join(unit), text)?;
    }
    // target/<profile>/build/synclink-<hash>/out -> target/<profile>/assets
    if let Some(profile) = out.ancestors().nth(4) {
        copy_dir(&out, &profile.join("assets"))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        std::fs::copy(e.path(), to.join(e.file_name()))?;
    }
    Ok(())
}
