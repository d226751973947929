//! The keepalived.conf language, as keepalived 2.2.7 reads it.
//!
//! The pipeline, each stage in its own module:
//!
//! 1. [`preprocess`]: files -> logical [`preprocess::Line`]s. Comments, `include`, `@id`
//!    conditionals, `$NAME=` parameters and built-ins, `~SEQ`/`~LST` expansion. Every line keeps
//!    its [`Origin`] (file and line) for diagnostics.
//! 2. [`lexer`]: one line -> [`lexer::Word`]s (quoting and escapes) and brace tokens.
//! 3. [`tree`]: words -> a tree of [`tree::Node`]s; braces may sit anywhere on a line.
//! 4. [`model`]: nodes -> the typed [`model::Config`], with keepalived's defaults applied and
//!    values validated; problems become [`Diagnostic`]s, never panics.
//! 5. [`dump`]: the model -> canonical keepalived.conf text (`rkeepalived -d`); parsing a dump
//!    and dumping again gives the same text.
//!
//! [`load`] runs stages 1-4 as one pass: each line goes to the tree builder as the
//! preprocessor makes it, and each top-level statement to the model as soon as it is
//! complete, so a large configuration is never held whole as text or as a tree (the reload
//! of 36,800 real servers, `bench/reload`). The diagnostics come out in the order of the
//! stages run one after the other.

pub mod diag;
pub mod dump;
pub mod lexer;
pub mod model;
pub mod preprocess;
pub mod tree;

pub use diag::{Diagnostic, Diagnostics, Origin, Severity};
pub use model::Config;

use std::path::Path;
use std::time::{Duration, Instant};

/// Options that change how a configuration is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The config id for `@ID` conditionals (`-i`); `None` means the short host name.
    pub config_id: Option<String>,
    /// The keepalived instance name (`${_INSTANCE}`), from `instance` in global_defs or `-i`.
    pub instance: Option<String>,
    /// Skip the checks that depend on the host (interfaces, users, script files).
    pub skip_host_checks: bool,
    /// `-e/--all-config`: a missing or unreadable included file makes the load fatal.
    pub all_config: bool,
    /// Seed for `${_RANDOM}`, so that a load can be repeated exactly (tests, fuzzing).
    pub random_seed: Option<u64>,
    /// Leave the virtual servers out (`virtual_server`, `virtual_server_group` and `SSL`
    /// blocks, see [`model::lvs::TOP_KEYWORDS`]): they are neither modelled nor checked, only
    /// their braces are counted. For the VRRP child, which never runs them; keepalived's VRRP
    /// process does not read them either (and reports none of their problems).
    pub skip_lvs: bool,
}

impl LoadOptions {
    /// The top-level keywords whose blocks these options leave out.
    fn skipped(&self) -> &'static [&'static str] {
        if self.skip_lvs {
            model::lvs::TOP_KEYWORDS
        } else {
            &[]
        }
    }
}

/// The result of reading a configuration: the model and everything said about it.
#[derive(Debug)]
pub struct Loaded {
    /// The typed configuration. It is always produced; when the diagnostics hold a fatal error
    /// the daemon must not run it.
    pub config: Config,
    /// Every warning and error, in the order found.
    pub diagnostics: Diagnostics,
    /// How long each stage of the load took (logged under `-D` by the daemon).
    pub timings: LoadTimings,
}

/// The time one load spent in each stage of the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadTimings {
    /// The one pass that reads the files, preprocesses them, splits the lines into the
    /// statement tree and models each top-level statement as soon as it is complete.
    pub read: Duration,
    /// The checks of the whole model once read (cross references, host checks, defaults).
    pub model: Duration,
}

impl LoadTimings {
    /// The whole load.
    pub fn total(&self) -> Duration {
        self.read + self.model
    }
}

impl std::fmt::Display for LoadTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ms (read, split and model {} ms, checks {} ms)",
            self.total().as_millis(),
            self.read.as_millis(),
            self.model.as_millis()
        )
    }
}

fn preprocessor(opts: &LoadOptions) -> preprocess::Preprocessor<'_> {
    let p = preprocess::Preprocessor::new(opts).all_config(opts.all_config);
    match opts.random_seed {
        Some(seed) => p.random_seed(seed),
        None => p,
    }
}

/// How many of the statements `skip_lvs` left out are `virtual_server` blocks.
fn count_virtual_servers(left_out: &[String]) -> usize {
    left_out.iter().filter(|k| *k == "virtual_server").count()
}

/// Reads, preprocesses, parses and validates the configuration at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> Loaded {
    load_with(opts, |builder, diags| {
        preprocessor(opts).run_into(path, diags, builder)
    })
}

/// Parses configuration text that did not come from a file (tests, fuzzing, dumps). `name` is
/// used as the file name in diagnostics; `include` is resolved against the current directory.
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    load_with(opts, |builder, diags| {
        preprocessor(opts).run_str_into(name, text, diags, builder)
    })
}

/// One pass over the configuration: `read` preprocesses it into the tree builder, which
/// hands each top-level statement to the model as soon as it is complete. Neither the whole
/// text nor the whole tree is ever held. The diagnostics keep the order of a staged load:
/// the preprocessor's, the tree's, the model's, then the checks'.
fn load_with(
    opts: &LoadOptions,
    read: impl FnOnce(&mut tree::TreeBuilder<'_>, &mut Diagnostics),
) -> Loaded {
    let start = Instant::now();
    let mut diagnostics = Diagnostics::default();
    let mut model = model::ModelBuilder::new(opts);
    let mut builder = tree::TreeBuilder::new(opts.skipped()).on_statement(|node| model.add(&node));
    read(&mut builder, &mut diagnostics);
    let (_, left_out) = builder.finish(&mut diagnostics);
    let read = Instant::now();
    let mut config = model.finish(&mut diagnostics);
    config.lvs.skipped_virtual_servers = count_virtual_servers(&left_out);
    Loaded {
        config,
        diagnostics,
        timings: LoadTimings {
            read: read - start,
            model: read.elapsed(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "global_defs {\n router_id lb1\n}\n\
        vrrp_instance VI_1 {\n state MASTER\n interface lo\n virtual_router_id 51\n \
        priority 100\n virtual_ipaddress {\n  10.0.0.100\n }\n}\n\
        virtual_server_group G {\n 10.0.0.9 80\n}\n\
        virtual_server 10.0.0.1 80\n{\n lb_algo nope\n real_server 10.0.0.2 80 {\n  \
        TCP_CHECK {\n  }\n }\n}\n\
        SSL {\n ca /nonexistent\n}\n\
        vrrp_script chk {\n script /bin/true\n}\n";

    /// Streaming the preprocessor's lines into the tree builder gives what the two stages
    /// one after the other give: the same model and the same diagnostics, in the same order
    /// (the preprocessor's first, then the tree's, then the model's).
    #[test]
    fn streamed_load_matches_the_staged_pipeline() {
        let texts = [
            MIXED.to_string(),
            // Preprocessor, tree and model problems mixed, on interleaved lines.
            "$X=1\n@nothere global_defs {\nglobal_defs {\n router_id \"a b\n}\n}\n\
             vrrp_instance V {\n priority $X \\\n ~SEQ(i,1,1,2) virtual_router_id $i\n\
             include /nonexistent/*.conf\n}\n}\nvirtual_server 1.2.3.4 80 {\n real_server\n"
                .to_string(),
            // A block opened at the start of the next line, a `{` after a closed block, a
            // block left open at the end.
            "virtual_server 1.2.3.4 80\n{\n real_server 1.1.1.1 80 {\n weight 2\n }\n}\n\
             global_defs { router_id x }\n{\n z\n}\nvrrp_script s\n{\n script /bin/true\n}\n\
             garbage\nvrrp_instance V {\n state BACKUP\n"
                .to_string(),
        ];
        for skip_lvs in [false, true] {
            let opts = LoadOptions {
                config_id: Some("lb1".into()),
                skip_host_checks: true,
                random_seed: Some(7),
                skip_lvs,
                ..Default::default()
            };
            for (i, text) in texts.iter().enumerate() {
                let streamed = load_str("t.conf", text, &opts);
                let mut diags = Diagnostics::default();
                let lines = preprocessor(&opts).run_str("t.conf", text, &mut diags);
                let (nodes, left_out) =
                    tree::build_skipping_report(&lines, opts.skipped(), &mut diags);
                let mut config = model::Config::from_nodes(&nodes, &opts, &mut diags);
                config.lvs.skipped_virtual_servers = count_virtual_servers(&left_out);
                assert_eq!(streamed.diagnostics.items(), diags.items(), "{text}");
                // The second text has problems at every stage.
                assert!(i == 0 || diags.items().len() >= 4, "{:?}", diags.items());
                assert_eq!(streamed.config, config);
            }
        }
    }

    #[test]
    fn skip_lvs_keeps_everything_else() {
        let opts = LoadOptions {
            config_id: Some("lb1".into()),
            skip_host_checks: true,
            ..Default::default()
        };
        let full = load_str("t.conf", MIXED, &opts);
        let part = load_str(
            "t.conf",
            MIXED,
            &LoadOptions {
                skip_lvs: true,
                ..opts.clone()
            },
        );
        assert_eq!(full.config.lvs.virtual_servers.len(), 1);
        assert!(part.config.lvs.virtual_servers.is_empty());
        assert!(part.config.lvs.groups.is_empty() && part.config.lvs.ssl.is_none());
        // It still counts the virtual servers it left out (the group and SSL blocks not).
        assert_eq!(part.config.lvs.skipped_virtual_servers, 1);
        assert_eq!(full.config.lvs.skipped_virtual_servers, 0);
        // The rest is the same model: compare its canonical text.
        let mut without_lvs = full.config;
        without_lvs.lvs = Default::default();
        assert_eq!(part.config.dump(), without_lvs.dump());
        // The virtual servers' problems (the unknown scheduler) are not reported.
        assert!(full
            .diagnostics
            .items()
            .iter()
            .any(|d| d.message.contains("nope")));
        assert!(
            !part
                .diagnostics
                .items()
                .iter()
                .any(|d| d.message.contains("nope")),
            "{:?}",
            part.diagnostics
        );
    }
}
