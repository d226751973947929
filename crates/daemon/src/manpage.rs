//! Man pages generated from the command line definition with clap_mangen, so that the options
//! they list are always the options the binary accepts.
//!
//! `rkeepalived --rka-generate-man DIR` (hidden) writes `DIR/rkeepalived.8`; the packaging
//! script runs it after the build and cargo-deb installs the result under
//! `/usr/share/man/man8/`. clap_mangen renders NAME, SYNOPSIS, DESCRIPTION and OPTIONS (hidden
//! options stay hidden); the sections an operator also needs (signals, files, exit status,
//! systemd, genhash mode) are added here in roff.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::Cli;

/// Why a man page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ManPageError {
    /// The output directory could not be created or the page written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The longer description under DESCRIPTION (plain text; clap_mangen escapes it).
const DESCRIPTION: &str = "\
rkeepalived is keepalived 2.2.7 rebuilt in Rust. It reads the same keepalived.conf, accepts \
the same command line and signals, and behaves the same on the wire: VRRP (versions 2 and 3, \
IPv4 and IPv6) moves virtual addresses between routers, and the health checkers keep the \
Linux Virtual Server (IPVS) table in line with the state of the real servers.\n\n\
A supervising parent starts a VRRP child and a health-checker child from the same binary, \
forwards signals to them, checks a new configuration before a reload, and restarts a child \
that dies. Under systemd it runs with --dont-fork and reports readiness, reloads and \
shutdown through the notification socket.";

/// Hand-written roff sections appended after the generated ones (our own words).
const EXTRA_SECTIONS: &str = r#".SH SIGNALS
.TP
\fBHUP\fR
Read the configuration again. It is checked first: when it cannot run, the running
configuration is kept and the problem is logged. Otherwise only the differences are applied.
.TP
\fBTERM\fR, \fBINT\fR
Stop: VRRP masters hand over (priority 0 advertisement) and remove their addresses, the IPVS
entries the daemon created are removed (unless \fB\-V\fR or \fB\-I\fR), then the process exits.
.TP
\fBUSR1\fR
Write the state of the daemon to \fI/tmp/keepalived.data\fR.
.TP
\fBUSR2\fR
Write statistics to \fI/tmp/keepalived.stats\fR.
.TP
\fBSIGRTMIN+2\fR
Write the state as JSON to \fI/tmp/keepalived.json\fR.
.TP
\fBSIGRTMAX\-1\fR
Write statistics, then reset the counters.
.PP
\fB\-\-signum\fR=\fINAME\fR prints the number to use for STOP, RELOAD, DATA, STATS,
STATS_CLEAR or JSON.
.SH EXIT STATUS
With \fB\-t\fR: 0 when the configuration is valid, 4 when it cannot be run at all, 5 when
it has errors or warnings but would run, 6 when a script fails the script security checks.
The daemon exits 0 after a clean stop and 1 when it cannot start.
.SH GENHASH MODE
\fBrkeepalived \-T\fR (or \fB\-\-genhash\fR) followed by genhash's own options fetches a page
and prints the MD5 digest that an HTTP_GET or SSL_GET checker compares.
.SH FILES
.TP
\fI/etc/keepalived/keepalived.conf\fR
The configuration read by default (\fB\-f\fR chooses another).
.TP
\fI/run/keepalived.pid\fR, \fI/run/vrrp.pid\fR, \fI/run/checkers.pid\fR
Pidfiles of the parent, the VRRP child and the checker child (\fB\-p\fR, \fB\-r\fR, \fB\-c\fR).
.TP
\fI/etc/default/rkeepalived\fR
Extra command line options for the systemd unit, in \fBDAEMON_ARGS\fR.
.TP
\fI/usr/share/doc/rkeepalived/examples/\fR
An example configuration.
.SH SYSTEMD
The packaged unit \fBrkeepalived.service\fR runs the daemon as root with a reduced capability
bounding set; notify scripts and checker scripts inherit it. It conflicts with
\fBkeepalived.service\fR: both would own the same addresses. \fBsystemctl reload\fR sends HUP.
.SH SEE ALSO
\fBkeepalived.conf\fR(5), \fBkeepalived\fR(8), \fBgenhash\fR(1), \fBsystemd.service\fR(5)
"#;

/// Renders the `rkeepalived(8)` page.
pub fn rkeepalived_page() -> Vec<u8> {
    let cmd = Cli::command().long_about(DESCRIPTION);
    let man = clap_mangen::Man::new(cmd)
        .section("8")
        .manual("System Administration")
        .source(format!("rkeepalived {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    // Rendering into memory cannot fail: Vec's Write never returns an error.
    let _ = man.render_title(&mut page);
    let _ = man.render_name_section(&mut page);
    let _ = man.render_synopsis_section(&mut page);
    let _ = man.render_description_section(&mut page);
    let _ = man.render_options_section(&mut page);
    page.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    page
}

/// Writes every page into `dir` (created when missing) and returns the files written.
pub fn generate(dir: &Path) -> Result<Vec<PathBuf>, ManPageError> {
    std::fs::create_dir_all(dir).map_err(|source| ManPageError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("rkeepalived.8");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&rkeepalived_page())?;
        f.sync_all()
    };
    write().map_err(|source| ManPageError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(vec![path])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> String {
        String::from_utf8(rkeepalived_page()).expect("utf-8")
    }

    #[test]
    fn the_page_lists_the_options_the_binary_accepts() {
        let page = page();
        assert!(page.starts_with(".ie"), "roff preamble: {}", &page[..40]);
        assert!(page.contains(".TH rkeepalived 8"), "title, section 8");
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SIGNALS",
            "EXIT STATUS",
            "FILES",
            "SEE ALSO",
        ] {
            assert!(page.contains(&format!(".SH {section}")), "{section}");
        }
        // Every visible long option of the CLI appears; the internal ones do not.
        let cmd = Cli::command();
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let shown = page.contains(&format!("\\-\\-{}", long.replace('-', "\\-")));
            assert_eq!(shown, !arg.is_hide_set(), "--{long}");
        }
    }

    #[test]
    fn generate_writes_the_page_into_a_new_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("man/man8");
        let files = generate(&out).expect("generated");
        assert_eq!(files, vec![out.join("rkeepalived.8")]);
        let written = std::fs::read(&files[0]).expect("read back");
        assert_eq!(written, rkeepalived_page());
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").expect("write");
        let err = generate(&file.join("sub")).expect_err("a file is in the way");
        assert!(err.to_string().contains("plain-file"), "{err}");
    }

    #[test]
    fn man_renders_the_page_when_available() {
        // groff/man may be absent on minimal machines: the roff checks above still ran.
        let Ok(out) = std::process::Command::new("man")
            .arg("-l")
            .arg("-")
            .env("MANWIDTH", "100")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(&rkeepalived_page())?;
                }
                child.wait_with_output()
            })
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man failed: {warnings}");
        assert!(text.contains("SIGNALS"), "{text}");
        assert!(text.contains("--use-file"), "{text}");
        assert!(!warnings.contains("warning"), "roff warnings: {warnings}");
    }
}
