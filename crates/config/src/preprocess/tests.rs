//! Preprocessor tests. Expected values were observed with keepalived 2.2.7 (`keepalived -t`
//! on probe files whose lines are echoed through `vrrp_instance` names and diagnostics).

use super::*;
use crate::diag::Severity;

fn opts(id: &str) -> LoadOptions {
    LoadOptions {
        config_id: Some(id.into()),
        ..LoadOptions::default()
    }
}

fn pp(text: &str) -> (Vec<String>, Diagnostics) {
    let o = opts("myid");
    let mut d = Diagnostics::default();
    let lines = Preprocessor::new(&o)
        .random_seed(1)
        .run_str("t.conf", text, &mut d);
    (lines.into_iter().map(|l| l.text).collect(), d)
}

fn texts(text: &str) -> Vec<String> {
    pp(text).0
}

#[test]
fn lines_keep_their_origin() {
    let o = LoadOptions::default();
    let mut d = Diagnostics::default();
    let lines = Preprocessor::new(&o).run_str("k.conf", "# c\n\na 1\n  b 2 ! x\n", &mut d);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].origin, Origin::new("k.conf", 3));
    assert_eq!(lines[1].origin.line, 4);
    assert_eq!(lines[1].text, "b 2");
}

#[test]
fn nul_ends_the_line() {
    assert_eq!(
        texts("vrrp_instance n1\0junk { x }\nb\n"),
        ["vrrp_instance n1", "b"]
    );
}

#[test]
fn trailing_backslash_outside_definitions() {
    assert_eq!(
        texts("priority 100 \\\nadvert_int 1\\\n"),
        ["priority 100\\", "advert_int 1\\"]
    );
}

#[test]
fn unterminated_quote_is_a_warning() {
    let (l, d) = pp("w5 \"unterminated # x\n");
    assert_eq!(l, ["w5 \"unterminated # x"]);
    assert_eq!(
        d.items()[0].message,
        "Unterminated quote 'w5 \"unterminated # x'"
    );
}

#[test]
fn conditionals() {
    let text = "@myid i1\n@^myid i2\n@other i3\n@^other i4\n  @myid i5\n@myid\n@ i6\n@^ i7\n@myidx i8\n@myid@ i9\n";
    assert_eq!(texts(text), ["i1", "i4", "i5", "i7"]);
}

#[test]
fn parameters() {
    let text = "$P=pv\n$Q=${P}q\n$E=\n   $S=3\n$U=3 4  \n\
        a$P\nb${Q}\nc${E}x\nd${S}\ne${U}e\n$P=new\nh${Q}\n$T =3\n$Px ${UNDEF}\n";
    assert_eq!(
        texts(text),
        [
            "apv",
            "bpvq",
            "cx",
            "d3",
            "e3 4e",
            "hnewq",
            "$T =3",
            "$Px ${UNDEF}"
        ]
    );
}

#[test]
fn parameter_with_conditional_value() {
    let text = "@myid $PRIORITY=240\n@backup $PRIORITY=200\npriority $PRIORITY\n$IF_MAIN=@myid\n$IF_MAIN priority 240\n$IF_B=@b\n$IF_B priority 1\n";
    assert_eq!(texts(text), ["priority 240", "priority 240"]);
}

#[test]
fn man_page_late_binding_example() {
    let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n";
    assert_eq!(texts(text), ["10.2.0.100/32", "10.2.10.100/32"]);
}

#[test]
fn multi_line_definitions() {
    let text = "$M= \\\nvrrp_instance m1 { } \\\n\n# comment\nvrrp_instance m2 { }\n$M\n";
    assert_eq!(
        texts(text),
        ["vrrp_instance m1 { }", "vrrp_instance m2 { }"]
    );
    // Text around the reference goes on the first and last lines.
    assert_eq!(texts("$M= \\\na \\\nb\nx $M y\n"), ["x a", "b y"]);
}

#[test]
fn multi_line_definition_may_start_after_the_equals_sign() {
    // keepalived 2.2.7 -t accepts this (exit 0) and reads the instance inside.
    let text = "$I=vrrp_instance V { \\\n priority 9 \\\n}\n$I\n";
    assert_eq!(texts(text), ["vrrp_instance V {", "priority 9", "}"]);
}

#[test]
fn nested_multi_line_definitions() {
    let text = "$RS= \\\nreal_server 10.0.${VS}.${RS_NUM} 80\n\
        $VS_DEF= \\\nvirtual_server 10.0.${VS}.4 80 { \\\n$RS_NUM=1 \\\n$RS \\\n$RS_NUM=2 \\\n$RS \\\n}\n\
        $RS_NUM=9\n$VS=0\n$VS_DEF\n";
    assert_eq!(
        texts(text),
        [
            "virtual_server 10.0.0.4 80 {",
            "real_server 10.0.0.1 80",
            "real_server 10.0.0.2 80",
            "}"
        ]
    );
}

#[test]
fn self_reference_is_bounded() {
    let (l, d) = pp("$R=$R\nx ${R}\n$A=$A $A\ny $A\nz\n");
    assert_eq!(l, ["z"]);
    assert_eq!(d.items().len(), 2);
    assert!(d.items().iter().all(|i| i.severity == Severity::Error));
}

#[test]
fn builtins_in_lines() {
    let (l, _) = pp("i${_INSTANCE}\n$_INSTANCE\na${_HASH}b\n");
    assert_eq!(l, ["imyid", "myid", "a#b"]);
    let cwd = std::fs::canonicalize(".").expect("cwd");
    assert_eq!(texts("w${_PWD}"), [format!("w{}", cwd.display())]);
}

#[test]
fn sequences_and_lists() {
    assert_eq!(
        texts("~SEQ(E, 0, 1) ~SEQ(F,1,2) s5_${E}_${F}\n"),
        ["s5_0_1", "s5_0_2", "s5_1_1", "s5_1_2"]
    );
    assert_eq!(
        texts("~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}\n"),
        [
            "192.168.10.1",
            "192.170.10.1",
            "192.168.20.4",
            "192.170.20.4"
        ]
    );
    assert_eq!(
        texts("  ~SEQx(SUBNET, 0x90, 0x10, 0xc0) ip fe80::20:${SUBNET}:1"),
        [
            "ip fe80::20:90:1",
            "ip fe80::20:a0:1",
            "ip fe80::20:b0:1",
            "ip fe80::20:c0:1"
        ]
    );
    let (l, d) = pp("~SEQ(L) x\nok\n");
    assert_eq!(l, ["ok"]);
    assert_eq!(d.items()[0].message, "Invalid ~SEQ definition '~SEQ(L) x'");
}

#[test]
fn sequence_of_multi_line_value() {
    let text =
        "$VI= \\\nvrrp_instance v${ID} { \\\nvirtual_router_id ${ID} \\\n}\n~SEQ(ID,1,2) $VI\n";
    assert_eq!(
        texts(text),
        [
            "vrrp_instance v1 {",
            "virtual_router_id 1",
            "}",
            "vrrp_instance v2 {",
            "virtual_router_id 2",
            "}"
        ]
    );
}

#[test]
fn garbage_never_panics() {
    let mut junk = String::new();
    for i in 0..5000u32 {
        junk.push(char::from_u32((i * 7919) % 0x2fff).unwrap_or('x'));
        if i % 97 == 0 {
            junk.push_str("${\n$X=$X$X ${X}\n~SEQ(A,\n~LST({\n@");
        }
    }
    let _ = pp(&junk);
    let long = "a".repeat(10 << 20);
    let (l, _) = pp(&long);
    assert_eq!(l[0].len(), 10 << 20);
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("rka-pp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        Scratch(p)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_file(path: &Path) -> (Vec<(String, u32, String)>, Diagnostics) {
    let o = opts("myid");
    let mut d = Diagnostics::default();
    let lines = Preprocessor::new(&o).run(path, &mut d);
    (
        lines
            .into_iter()
            .map(|l| (l.origin.file.to_string(), l.origin.line, l.text))
            .collect(),
        d,
    )
}

fn messages(d: &Diagnostics) -> Vec<(Severity, String)> {
    d.items()
        .iter()
        .map(|i| (i.severity, i.message.clone()))
        .collect()
}

#[test]
fn includes_name_files_as_written() {
    let s = Scratch::new("inc");
    s.write("d1/a.conf", "from_a\n");
    s.write("d2/b.conf", "from_b\n");
    s.write("d1/c.conf", "include ../d2/b.conf\nfrom_c ${_PWD}\n");
    let main = s.write(
        "main.conf",
        "include d1/a.conf\ninclude d1/nomatch*.conf\ninclude {d1,d2}/{a,b}.conf\ninclude d1/c.conf\nafter\n",
    );
    let (lines, d) = run_file(&main);
    let d1 = std::fs::canonicalize(s.0.join("d1")).expect("canon");
    let main_name = main.display().to_string();
    assert_eq!(
        lines,
        vec![
            ("d1/a.conf".to_string(), 1, "from_a".to_string()),
            ("d1/a.conf".into(), 1, "from_a".into()),
            ("d2/b.conf".into(), 1, "from_b".into()),
            ("../d2/b.conf".into(), 1, "from_b".into()),
            ("d1/c.conf".into(), 2, format!("from_c {}", d1.display())),
            (main_name, 5, "after".into()),
        ]
    );
    assert_eq!(
        messages(&d),
        // keepalived 2.2.7 prints this and -t still exits 0.
        [(
            Severity::Info,
            "Some config files missing: \"{d1,d2}/{a,b}.conf\".".to_string()
        )]
    );
}

#[test]
fn include_variants_and_checks() {
    let s = Scratch::new("chk");
    s.write("d1/a.conf", "from_a\n");
    let cases: &[(&str, Option<&str>, bool)] = &[
        (
            "include nofile.conf",
            Some("Config files missing 'nofile.conf'."),
            true,
        ),
        (
            "includer nofile.conf",
            Some("Config files missing 'nofile.conf'."),
            true,
        ),
        (
            "includem nofile.conf",
            Some("Config files missing 'nofile.conf'."),
            false,
        ),
        (
            "includew nofile*.conf",
            Some("No config files matched 'nofile*.conf'."),
            false,
        ),
        ("includem nofile*.conf", None, true),
        (
            "includeb {d1,d9}/a.conf",
            Some("Some config files missing: \"{d1,d9}/a.conf\"."),
            false,
        ),
        (
            "includea nofile.conf",
            Some("Config files missing 'nofile.conf'."),
            false,
        ),
        (
            "include d1/a.conf extra",
            Some("Config files missing 'd1/a.conf extra'."),
            true,
        ),
        (
            "includer d1",
            Some("Configuration file 'd1/' is a directory - skipping"),
            false,
        ),
        (
            "global_defs {\ninclude_check\n}\ninclude nofile.conf",
            Some("Config files missing 'nofile.conf'."),
            false,
        ),
        (
            "global_defs {\n include_check wildcard_match\n}\ninclude d1/no*.conf",
            Some("No config files matched 'd1/no*.conf'."),
            false,
        ),
    ];
    for (text, msg, goes_on) in cases {
        let main = s.write("main.conf", &format!("{text}\nafter\n"));
        let (lines, d) = run_file(&main);
        let got: Vec<String> = d.items().iter().map(|i| i.message.clone()).collect();
        assert_eq!(
            got,
            msg.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            "{text}"
        );
        assert_eq!(lines.iter().any(|l| l.2 == "after"), *goes_on, "{text}");
        assert_eq!(d.is_fatal(), !goes_on, "{text}");
        if *goes_on {
            // keepalived 2.2.7 -t prints these and exits 0.
            assert_eq!(d.exit_code(), 0, "{text}");
        }
    }
    // include_check is saved and restored around an included file.
    s.write("inner.conf", "global_defs {\ninclude_check\n}\n");
    let main = s.write(
        "main.conf",
        "include inner.conf\ninclude nofile.conf\nafter\n",
    );
    let (lines, d) = run_file(&main);
    assert!(!d.is_fatal());
    assert_eq!(lines.last().map(|l| l.2.as_str()), Some("after"));
    let main = s.write("main.conf", "global_defs { \ninclude_check readable\n}\n");
    let (_, d) = run_file(&main);
    assert_eq!(
        messages(&d)[0].1,
        "Unknown include_check type 'readable' - ignoring"
    );
}

#[test]
fn include_check_is_only_read_in_global_defs() {
    // keepalived 2.2.7 -t: `include_check` at the top level is an unknown keyword (5) and the
    // missing include after it stays silent; inside global_defs it makes the include fail (6).
    let s = Scratch::new("chkpos");
    let main = s.write(
        "main.conf",
        "include_check match\ninclude nofile.conf\nafter\n",
    );
    let (lines, d) = run_file(&main);
    assert!(!d.is_fatal());
    assert!(lines.iter().any(|l| l.2 == "after"));
    let main = s.write(
        "main.conf",
        "global_defs {\n include_check match\n}\ninclude nofile.conf\nafter\n",
    );
    let (lines, d) = run_file(&main);
    assert_eq!(d.exit_code(), 6);
    assert!(!lines.iter().any(|l| l.2 == "after"));
    // Once global_defs is closed, a later include_check is not honoured.
    let main = s.write(
        "main.conf",
        "global_defs\n{\n router_id x\n}\ninclude_check\ninclude nofile.conf\nafter\n",
    );
    let (_, d) = run_file(&main);
    assert!(!d.is_fatal());
}

#[test]
fn include_loops_are_bounded() {
    let s = Scratch::new("loop");
    s.write("loop.conf", "x\ninclude loop.conf\n");
    let a = s.write("a.conf", "include b.conf\n");
    s.write("b.conf", "include a.conf\ny\n");
    let (lines, d) = run_file(&s.0.join("loop.conf"));
    assert_eq!(lines.len(), 1);
    assert_eq!(d.items().len(), 1);
    let (lines, d) = run_file(&a);
    assert_eq!(lines.len(), 1);
    assert!(d.items()[0].message.contains("include loop"));
    // keepalived 2.2.7 skips the file once it runs out of descriptors and exits 0.
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn all_config_makes_missing_files_fatal() {
    let o = opts("x");
    let mut d = Diagnostics::default();
    let lines = Preprocessor::new(&o).all_config(true).run_str(
        "t.conf",
        "include /nonexistent/rka.conf\nafter\n",
        &mut d,
    );
    assert!(lines.is_empty());
    assert!(d.is_fatal());
}

#[test]
fn missing_top_file_is_fatal() {
    let (_, d) = run_file(Path::new("/nonexistent/rka/keepalived.conf"));
    assert!(d.is_fatal());
}

#[test]
fn large_config_is_fast() {
    let mut text = String::from("$PRIO=100\n");
    for i in 0..40_000 {
        text.push_str(&format!(
            "vrrp_instance VI_{i} {{ # comment\n    priority $PRIO\n    virtual_router_id ${{PRIO}}\n}}\n"
        ));
    }
    let start = std::time::Instant::now();
    let (l, d) = pp(&text);
    assert!(d.is_clean());
    assert_eq!(l.len(), 160_000);
    // Generous: debug builds are far slower than release.
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

/// Found by the `parse` fuzz target: a multi-line parameter that uses itself twice per line
/// multiplied its lines at every level of substitution and took 22 GB before being killed.
#[test]
fn self_referencing_multiline_parameter_is_bounded() {
    let input: &[u8] = b"$A=\x97\x97\x97$A $\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97nect_tim\\\n  0 weig(t 1 \x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97\x97$A $A\n\x03${A}\n\"/nte$A=$A";
    let text = String::from_utf8_lossy(input);
    let start = std::time::Instant::now();
    let loaded = crate::load_str(
        "fuzz.conf",
        &text,
        &crate::LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        },
    );
    assert!(
        loaded.diagnostics.is_fatal(),
        "the runaway substitution stops the load"
    );
    assert!(
        loaded.diagnostics.items().len() < 64,
        "the problem is not reported without bound"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}
