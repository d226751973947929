//! Conformance of `rkeepalived -t` with keepalived 2.2.7's `keepalived -t`.
//!
//! Every configuration under `tests/conformance/configs/` (files ending in `.conf`; fragments
//! that are only included end in `.inc`) and every sample Debian ships in
//! `/usr/share/doc/keepalived/samples/` is checked by both programs, live, in the same freshly
//! made network namespace (interfaces `lo`, `eth0`, `eth1`, `eth2`), and the exit codes must be
//! equal. Intentional differences are listed in `tests/conformance/known-differences.txt`.
//!
//! The corpus is copied to a temporary directory first, because a case may need files with
//! precise modes (script security) and absolute paths. Header lines of a case, at the top of the
//! file, drive this:
//!
//! - `# conformance: args=-i node1` - extra command-line arguments for both programs;
//! - `# conformance: script=REL:MODE` - create an executable shell script at `@CASE@/REL`;
//! - `# conformance: dir=REL:MODE` - set the mode of the directory `@CASE@/REL`;
//! - `# conformance: use-file=PATH` - pass PATH to `-f` instead of the case itself.
//!
//! In every copied file `@TMP@` becomes the root of the copy; in a case's own file `@CASE@`
//! becomes a scratch directory private to that case.
//!
//! These tests need root and keepalived. When either is missing, or a namespace cannot be made,
//! they explain why and pass - unless `CI=true`, where they fail.
//! `RKA_CONFORMANCE_RECORD=1` rewrites `tests/conformance/expected.tsv` from keepalived's live
//! results (see `tests/conformance/record.sh`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The binary under test.
const RKEEPALIVED: &str = env!("CARGO_BIN_EXE_rkeepalived");
/// Where Debian's keepalived keeps its sample configurations.
const SAMPLES_DIR: &str = "/usr/share/doc/keepalived/samples";
/// The environment variable the `${_ENV ...}` cases read.
const ENV_NAME: &str = "RKA_CONFORMANCE_ENV";
/// Longest a single `-t` run may take before it is killed and reported.
const RUN_TIMEOUT: Duration = Duration::from_secs(20);
/// The least number of cases the corpus must hold.
const MIN_CASES: usize = 170;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn conformance_dir() -> PathBuf {
    repo_root().join("tests/conformance")
}

/// Reports why the privileged tests cannot run: a failure under CI, a note otherwise.
fn cannot_run(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("conformance suite cannot run under CI=true: {why}");
    }
    eprintln!("conformance suite skipped: {why}");
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn keepalived_installed() -> bool {
    Command::new("keepalived")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace holding `lo`, `eth0`, `eth1` and `eth2`, deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace. Dummy interfaces are preferred; where the kernel refuses them
    /// (as on some hosts) veth pairs named `ethN`/`rkapN` are used instead.
    fn create(tag: &str) -> Result<Netns, String> {
        let name = format!("rka-conf-{}-{tag}", std::process::id());
        let _ = run_ip(&["netns", "del", &name]);
        run_ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec_ip(&["link", "set", "lo", "up"])?;
        for i in 0..3 {
            let eth = format!("eth{i}");
            if ns.exec_ip(&["link", "add", &eth, "type", "dummy"]).is_err() {
                let peer = format!("rkap{i}");
                ns.exec_ip(&["link", "add", &eth, "type", "veth", "peer", "name", &peer])?;
                ns.exec_ip(&["link", "set", &peer, "up"])?;
            }
            ns.exec_ip(&["link", "set", &eth, "up"])?;
        }
        Ok(ns)
    }

    fn exec_ip(&self, args: &[&str]) -> Result<(), String> {
        let mut full = vec!["netns", "exec", &self.name, "ip"];
        full.extend_from_slice(args);
        run_ip(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}

/// What one program said about one configuration.
#[derive(Debug, Clone)]
struct Outcome {
    /// Exit code; `None` when killed by a signal or by the timeout.
    code: Option<i32>,
    /// The first non-empty line it printed (stderr first, then stdout).
    first_line: String,
}

impl Outcome {
    fn code_text(&self) -> String {
        self.code
            .map_or("signal/timeout".to_string(), |c| c.to_string())
    }
}

/// Runs `BIN -t -f FILE ARGS` inside the namespace, in `cwd`, with a bounded run time.
fn run_test_mode(ns: &Netns, bin: &str, file: &Path, args: &[String], cwd: &Path) -> Outcome {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, bin, "-t", "-f"])
        .arg(file)
        .args(args)
        .current_dir(cwd)
        .env(ENV_NAME, "envrouter")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                code: None,
                first_line: format!("cannot start {bin}: {e}"),
            }
        }
    };
    // Drain both pipes on threads so a chatty program cannot block on a full pipe.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut b);
        }
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut b);
        }
        b
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > RUN_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break None,
        }
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let first = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    let first_line = first(&stderr)
        .or_else(|| first(&stdout))
        .unwrap_or_default();
    let first_line = match status {
        None => format!("timed out after {RUN_TIMEOUT:?}; {first_line}"),
        Some(_) => first_line,
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        first_line,
    }
}

/// The header directives of a case.
#[derive(Debug, Default, Clone)]
struct Header {
    description: String,
    args: Vec<String>,
    scripts: Vec<(String, u32)>,
    dirs: Vec<(String, u32)>,
    use_file: Option<String>,
}

fn parse_mode_spec(spec: &str) -> Result<(String, u32), String> {
    let (rel, mode) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("'{spec}' is not REL:MODE"))?;
    let mode = u32::from_str_radix(mode, 8).map_err(|e| format!("bad mode in '{spec}': {e}"))?;
    if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
        return Err(format!(
            "'{rel}' must be a relative path inside the case directory"
        ));
    }
    Ok((rel.to_string(), mode))
}

/// Reads the comment lines at the top of a case.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut h = Header::default();
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if let Some(directive) = comment.strip_prefix("conformance:") {
            let directive = directive.trim();
            let (key, value) = directive
                .split_once('=')
                .ok_or_else(|| format!("directive '{directive}' is not KEY=VALUE"))?;
            match key.trim() {
                "args" => h.args = value.split_whitespace().map(str::to_string).collect(),
                "script" => h.scripts.push(parse_mode_spec(value.trim())?),
                "dir" => h.dirs.push(parse_mode_spec(value.trim())?),
                "use-file" => h.use_file = Some(value.trim().to_string()),
                other => return Err(format!("unknown directive '{other}'")),
            }
        } else if h.description.is_empty() && !comment.is_empty() {
            h.description = comment.to_string();
        }
    }
    Ok(h)
}

/// All cases of the corpus, as paths relative to the configs directory, sorted.
fn corpus_cases(configs: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if p.extension().is_some_and(|x| x == "conf") {
                if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(configs, configs, &mut out);
    out.sort();
    out
}

/// Intentional differences: `path reason...` per line, `#` comments.
fn known_differences() -> BTreeMap<String, String> {
    let text = fs::read_to_string(conformance_dir().join("known-differences.txt"))
        .expect("tests/conformance/known-differences.txt is readable");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((p, r)) => (p.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// The recorded keepalived exit codes: `path<TAB>code<TAB>note`.
fn expected_codes() -> BTreeMap<String, i32> {
    let text = fs::read_to_string(conformance_dir().join("expected.tsv")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let path = f.next()?;
            let code = f.next()?.parse().ok()?;
            Some((path.to_string(), code))
        })
        .collect()
}

/// Copies `src` to `dst` recursively, replacing `@TMP@` with `root` in every file.
fn copy_tree(src: &Path, dst: &Path, root: &str) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dst)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        if from.is_dir() {
            copy_tree(&from, &to, root)?;
        } else {
            let bytes = fs::read(&from)?;
            fs::write(&to, replace_bytes(&bytes, b"@TMP@", root.as_bytes()))?;
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// Byte-level replacement, so binary cases are copied unchanged.
fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// A case ready to run: the file to give `-f`, its extra arguments and its directory.
#[derive(Debug, Clone)]
struct Prepared {
    name: String,
    description: String,
    file: PathBuf,
    args: Vec<String>,
    cwd: PathBuf,
}

/// Makes the per-case scratch directory, scripts and modes, and substitutes `@CASE@`.
fn prepare_case(tree: &Path, scratch_root: &Path, rel: &str) -> Result<Prepared, String> {
    let file = tree.join(rel);
    let bytes = fs::read(&file).map_err(|e| format!("{rel}: {e}"))?;
    let header =
        parse_header(&String::from_utf8_lossy(&bytes)).map_err(|e| format!("{rel}: {e}"))?;
    let case_dir = scratch_root.join(rel.replace('/', "__"));
    let io = |e: std::io::Error| format!("{rel}: {e}");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&case_dir)
        .map_err(io)?;
    let case_str = case_dir.to_string_lossy().into_owned();
    fs::write(&file, replace_bytes(&bytes, b"@CASE@", case_str.as_bytes())).map_err(io)?;
    for (script, mode) in &header.scripts {
        let path = case_dir.join(script);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(io)?;
        }
        fs::write(&path, "#!/bin/sh\nexit 0\n").map_err(io)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).map_err(io)?;
    }
    for (dir, mode) in &header.dirs {
        let path = case_dir.join(dir);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&path)
            .map_err(io)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).map_err(io)?;
    }
    let cwd = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tree.to_path_buf());
    let run_file = match &header.use_file {
        Some(f) => PathBuf::from(
            f.replace("@CASE@", &case_str)
                .replace("@TMP@", &tree.to_string_lossy()),
        ),
        None => file,
    };
    let description = if header.description.is_empty() {
        rel.to_string()
    } else {
        header.description
    };
    Ok(Prepared {
        name: rel.to_string(),
        description,
        file: run_file,
        args: header.args,
        cwd,
    })
}

/// The result of one case under both programs.
struct Compared {
    case: Prepared,
    keepalived: Outcome,
    ours: Outcome,
}

/// Runs every case under both programs, on a few threads.
fn run_all(ns: &Netns, cases: Vec<Prepared>) -> Vec<Compared> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 6);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Compared>>> = (0..cases.len()).map(|_| Mutex::new(None)).collect();
    let cases_ref = &cases;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = cases_ref.get(i) else { break };
                let keepalived = run_test_mode(ns, "keepalived", &c.file, &c.args, &c.cwd);
                let ours = run_test_mode(ns, RKEEPALIVED, &c.file, &c.args, &c.cwd);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(Compared {
                        case: c.clone(),
                        keepalived,
                        ours,
                    });
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Prints every mismatch and panics when one is not a known difference.
fn judge(title: &str, results: &[Compared], known: &BTreeMap<String, String>) {
    let mut report = String::new();
    let mut unexpected = 0usize;
    let mut known_hit = 0usize;
    for r in results {
        if r.keepalived.code == r.ours.code {
            if known.contains_key(&r.case.name) {
                let _ = writeln!(
                    report,
                    "  note: {} is listed as a known difference but now matches ({})",
                    r.case.name,
                    r.ours.code_text()
                );
            }
            continue;
        }
        let tag = match known.get(&r.case.name) {
            Some(reason) => {
                known_hit += 1;
                format!("KNOWN ({reason})")
            }
            None => {
                unexpected += 1;
                "MISMATCH".to_string()
            }
        };
        let _ = writeln!(
            report,
            "  {tag} {}: keepalived {} / rkeepalived {}  [{}]\n      keepalived:  {}\n      rkeepalived: {}",
            r.case.name,
            r.keepalived.code_text(),
            r.ours.code_text(),
            r.case.description,
            r.keepalived.first_line,
            r.ours.first_line
        );
    }
    eprintln!(
        "{title}: {} cases, {} match, {known_hit} known differences, {unexpected} mismatches\n{report}",
        results.len(),
        results.len() - known_hit - unexpected,
    );
    assert_eq!(
        unexpected, 0,
        "{title}: {unexpected} exit codes differ from keepalived -t (see the report above)"
    );
}

/// Everything the privileged tests share: the namespace and the temporary corpus copy.
struct Stage {
    ns: Netns,
    tmp: tempfile::TempDir,
}

fn stage(tag: &str) -> Option<Stage> {
    if !is_root() {
        cannot_run("not running as root (network namespaces need it)");
        return None;
    }
    if !keepalived_installed() {
        cannot_run("keepalived is not installed (apt-get install keepalived)");
        return None;
    }
    let ns = match Netns::create(tag) {
        Ok(ns) => ns,
        Err(e) => {
            cannot_run(&format!("cannot create a network namespace: {e}"));
            return None;
        }
    };
    let tmp = match tempfile::Builder::new()
        .prefix("rka-conformance-")
        .tempdir()
    {
        Ok(t) => t,
        Err(e) => {
            cannot_run(&format!("cannot create a temporary directory: {e}"));
            return None;
        }
    };
    Some(Stage { ns, tmp })
}

#[test]
fn corpus_exit_codes_match_keepalived() {
    let Some(stage) = stage("corpus") else { return };
    let started = Instant::now();
    let tree = stage.tmp.path().join("configs");
    let scratch = stage.tmp.path().join("cases");
    copy_tree(
        &conformance_dir().join("configs"),
        &tree,
        &tree.to_string_lossy(),
    )
    .expect("copy the corpus");
    let names = corpus_cases(&tree);
    let cases: Vec<Prepared> = names
        .iter()
        .map(|n| prepare_case(&tree, &scratch, n).unwrap_or_else(|e| panic!("bad case: {e}")))
        .collect();
    let results = run_all(&stage.ns, cases);
    assert_eq!(results.len(), names.len(), "every case produced a result");

    if std::env::var("RKA_CONFORMANCE_RECORD").as_deref() == Ok("1") {
        record_manifest(&results);
    }
    let recorded = expected_codes();
    for r in &results {
        // -1 in the manifest stands for "killed by a signal".
        match (recorded.get(&r.case.name), r.keepalived.code.unwrap_or(-1)) {
            (Some(want), got) if *want == got => {}
            (want, got) => eprintln!(
                "  drift: {} keepalived exited {:?} here, expected.tsv records {:?} (re-run record.sh?)",
                r.case.name, got, want
            ),
        }
    }
    eprintln!("corpus run took {:?}", started.elapsed());
    judge("corpus", &results, &known_differences());
}

/// Rewrites `tests/conformance/expected.tsv` from keepalived's live exit codes.
fn record_manifest(results: &[Compared]) {
    let mut out = String::from(
        "# path\tkeepalived -t exit code\tnote (the case's description | keepalived's first line)\n",
    );
    for r in results {
        let first = r.keepalived.first_line.replace('\t', " ");
        let first = first.replace(&*r.case.cwd.to_string_lossy(), ".");
        let note = if first.is_empty() {
            r.case.description.clone()
        } else {
            format!("{} | {}", r.case.description, first)
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}",
            r.case.name,
            r.keepalived.code.map_or(-1, |c| c),
            note
        );
    }
    fs::write(conformance_dir().join("expected.tsv"), out).expect("write expected.tsv");
}

#[test]
fn samples_exit_codes_match_keepalived() {
    let Ok(rd) = fs::read_dir(SAMPLES_DIR) else {
        cannot_run(&format!(
            "{SAMPLES_DIR} is missing (keepalived's documentation)"
        ));
        return;
    };
    let mut samples: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf."))
        })
        .collect();
    samples.sort();
    if samples.is_empty() {
        cannot_run(&format!("no keepalived.conf.* samples in {SAMPLES_DIR}"));
        return;
    }
    let Some(stage) = stage("samples") else {
        return;
    };
    let cwd = stage.tmp.path().to_path_buf();
    let cases = samples
        .iter()
        .map(|p| Prepared {
            name: format!(
                "samples/{}",
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ),
            description: "Debian sample".to_string(),
            file: p.clone(),
            args: Vec::new(),
            cwd: cwd.clone(),
        })
        .collect();
    let results = run_all(&stage.ns, cases);
    assert_eq!(results.len(), samples.len());
    judge("samples", &results, &known_differences());
}

/// Checks the corpus itself; needs no privileges.
#[test]
fn corpus_is_complete_and_well_formed() {
    let dir = conformance_dir();
    let names = corpus_cases(&dir.join("configs"));
    assert!(
        names.len() >= MIN_CASES,
        "the corpus holds {} cases, fewer than {MIN_CASES}",
        names.len()
    );
    let recorded = expected_codes();
    let known = known_differences();
    let mut problems = Vec::new();
    for n in &names {
        let text = String::from_utf8_lossy(&fs::read(dir.join("configs").join(n)).expect("read"))
            .into_owned();
        if let Err(e) = parse_header(&text) {
            problems.push(format!("{n}: {e}"));
        }
        match recorded.get(n) {
            // 2 is keepalived's exit for a keyword missing its parameter.
            Some(code) if [0, 2, 4, 5, 6].contains(code) => {}
            // -1: keepalived died from a signal; only acceptable as a known difference.
            Some(-1) if known.contains_key(n) => {}
            Some(code) => problems.push(format!(
                "{n}: recorded exit code {code} is unexpected (and not a known difference)"
            )),
            None => problems.push(format!("{n}: not in expected.tsv (run record.sh)")),
        }
    }
    for n in recorded.keys() {
        if !names.contains(n) {
            problems.push(format!(
                "expected.tsv lists {n}, which is not in the corpus"
            ));
        }
    }
    for (n, reason) in &known {
        if reason.is_empty() {
            problems.push(format!("known-differences.txt: {n} has no reason"));
        }
        if !n.starts_with("samples/") && !names.contains(n) {
            problems.push(format!("known-differences.txt: {n} is not in the corpus"));
        }
    }
    assert!(
        problems.is_empty(),
        "corpus problems:\n{}",
        problems.join("\n")
    );
}

mod harness {
    use super::*;

    #[test]
    fn header_directives_are_read() {
        let h = parse_header(
            "# conformance: args=-i node1\n# conformance: script=a/b.sh:0757\n\
             # conformance: dir=a:1777\n# what it tests\nglobal_defs {\n# conformance: args=-x\n",
        )
        .expect("valid header");
        assert_eq!(h.args, ["-i", "node1"]);
        assert_eq!(h.scripts, [("a/b.sh".to_string(), 0o757)]);
        assert_eq!(h.dirs, [("a".to_string(), 0o1777)]);
        assert_eq!(h.description, "what it tests");
    }

    #[test]
    fn bad_directives_are_refused() {
        assert!(parse_header("# conformance: frobnicate=1\n").is_err());
        assert!(parse_header("# conformance: script=../x:0755\n").is_err());
        assert!(parse_header("# conformance: script=x:9z\n").is_err());
    }

    #[test]
    fn placeholders_are_replaced_in_bytes() {
        assert_eq!(
            replace_bytes(b"a @TMP@/x \xff@TMP@", b"@TMP@", b"/t"),
            b"a /t/x \xff/t".to_vec()
        );
    }
}
